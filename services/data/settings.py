"""Typed settings of an ingestion run (defaults suit the repo's docs; `make ingest` takes them as is)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.data.metadata import DataClass

__all__ = ["IngestSettings"]


class IngestSettings(BaseModel):
    """How documents are validated, chunked and embedded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_bytes: int = Field(default=2_000_000, gt=0)
    """Documents larger than this are quarantined (`oversized`) without being read."""
    min_chars: int = Field(default=20, ge=1)
    """Documents with less text than this (after front matter and markup) are quarantined (`empty`)."""
    chunk_chars: int = Field(default=800, ge=100, le=8000)
    """Target passage size; passages break at headings and paragraphs."""
    near_duplicate_threshold: float = Field(default=0.9, gt=0.0, le=1.0)
    """Estimated shingle similarity at or above which a document repeats an earlier one."""
    secrets: Literal["quarantine", "redact"] = "quarantine"
    """A document carrying a credential: kept out of the index, or indexed with the credential replaced."""
    pii: Literal["quarantine", "redact", "keep"] = "redact"
    """A document carrying personal data (cards, IBANs, national ids, phones, ...)."""
    default_data_classes: tuple[DataClass, ...] = Field(default=("standard",), min_length=1)
    """Clearance of documents that declare none: `standard` only, so a regulated tenant sees only
    documents explicitly cleared for it."""
    embed_batch: int = Field(default=64, ge=1, le=4096)
    """Passages per embedding call."""
