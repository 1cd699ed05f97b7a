"""The declared metadata schema of a document, and where a document's metadata comes from.

Metadata is declared in YAML front matter (markdown) or in a sidecar file `<name>.meta.yaml` next
to the document (any format, and the only way for HTML and plain text). A document that declares
a key this schema does not know, or a value of the wrong type, is quarantined (`metadata_schema`):
a typo in `data_classes` must not silently clear a document for the wrong tenants.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

__all__ = [
    "METADATA_SIDECAR_SUFFIX", "NAME_PATTERN", "DataClass", "DocumentMetadata", "MetadataError", "TenantName",
    "split_front_matter",
]

METADATA_SIDECAR_SUFFIX = ".meta.yaml"

DataClass = Literal["standard", "regulated"]
"""The gateway's tenant data classes (services/gateway/config.py `TenantConfig.data_class`)."""

NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
"""Names the index filters on (tenants, data classes, chunk ids): safe inside a filter expression."""
TenantName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""A tenant's name, as the gateway config declares it and the retriever filters on it."""


class MetadataError(ValueError):
    """Declared metadata that does not match the schema; the message names the field."""


class DocumentMetadata(BaseModel):
    """What a document declares about itself. Unknown keys are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    """A display title; the first heading is used when absent."""
    tenant: TenantName | None = None
    """The only tenant that may retrieve this document; absent: every tenant."""
    data_classes: tuple[DataClass, ...] | None = Field(default=None, min_length=1)
    """Tenant data classes this document is cleared for (a `regulated` tenant retrieves only
    documents cleared for `regulated`); absent: the ingestion's `default_data_classes`."""
    owner: str | None = None
    """Who answers for the document's content."""
    tags: tuple[str, ...] = ()
    """Free labels, kept in the index for filtering and reports."""

    @classmethod
    def parse(cls, declared: dict[str, Any], where: str) -> DocumentMetadata:
        try:
            return cls.model_validate(declared)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "metadata"
            raise MetadataError(f"{where}: {field}: {first['msg']}") from None


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """YAML front matter (`---` ... `---` at the very top) and the text after it."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end == -1:
        raise MetadataError("front matter: opened with --- but never closed")
    try:
        declared = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as error:
        raise MetadataError(f"front matter: not valid YAML ({error.__class__.__name__})") from None
    if not isinstance(declared, dict):
        raise MetadataError("front matter: must be a mapping of keys to values")
    rest = text[end + 4 :]
    return declared, rest.removeprefix("\n")


def load_sidecar(data: bytes, where: str) -> dict[str, Any]:
    """A sidecar file's mapping."""
    try:
        declared = yaml.safe_load(data.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise MetadataError(f"{where}: not valid UTF-8 YAML ({error.__class__.__name__})") from None
    if not isinstance(declared, dict):
        raise MetadataError(f"{where}: must be a mapping of keys to values")
    return declared
