"""Per-document validation: each raw document becomes a `CleanDocument` or a `Quarantined` with a reason.

Checks run cheapest first: type, size, encoding, declared metadata, emptiness, secrets and PII
(the gateway's own scanners, so a credential the gateway would redact from a prompt never reaches
the index either), then exact and near duplicates of documents accepted earlier in the run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from services.data.duplicates import DuplicateFinder, Fingerprint
from services.data.formats import UnsupportedFormat, document_format, html_to_text
from services.data.metadata import DocumentMetadata, MetadataError, load_sidecar, split_front_matter
from services.data.settings import IngestSettings
from services.data.sources import RawDocument
from services.gateway.scanners import Action, ScannerSettings
from services.gateway.scanners.pii import PiiScanner
from services.gateway.scanners.secrets import SecretsScanner

__all__ = ["CleanDocument", "QuarantineReason", "Quarantined", "Validator"]


class QuarantineReason(StrEnum):
    UNSUPPORTED_TYPE = "unsupported_type"
    OVERSIZED = "oversized"
    ENCODING = "encoding"
    METADATA_SCHEMA = "metadata_schema"
    EMPTY = "empty"
    SECRET = "secret"
    PII = "pii"
    DUPLICATE = "duplicate"
    NEAR_DUPLICATE = "near_duplicate"


@dataclass(frozen=True)
class Quarantined:
    """A document kept out of the index, and why."""

    document_id: str
    location: str
    source_version: str
    reason: QuarantineReason
    detail: str


@dataclass(frozen=True)
class CleanDocument:
    """A document that passed validation: its text (redacted where configured) and metadata."""

    document_id: str
    location: str
    source_version: str
    format: str
    text: str
    sha256: str
    """SHA-256 of the raw bytes as the source holds them."""
    metadata: DocumentMetadata
    data_classes: tuple[str, ...]
    redactions: dict[str, int] = field(default_factory=dict)
    """Kinds of findings replaced in the text, with counts."""


class Validator:
    """Validates one run's documents in order (duplicates are relative to those seen before)."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.duplicates = DuplicateFinder(threshold=settings.near_duplicate_threshold)
        redact = ScannerSettings(action=Action.REDACT)
        self.secrets = SecretsScanner("input", redact)
        self.pii = PiiScanner("input", redact)

    def validate(self, raw: RawDocument) -> CleanDocument | Quarantined:
        """Every check, duplicates (against this validator's earlier documents) included."""
        outcome = self.check_content(raw)
        if isinstance(outcome, Quarantined):
            return outcome
        return self.check_duplicate(outcome, self.duplicates.fingerprint(outcome.text))

    def check_duplicate(self, document: CleanDocument, fingerprint: Fingerprint) -> CleanDocument | Quarantined:
        """The document, or its quarantine when it repeats one accepted before it."""
        duplicate = self.duplicates.check_fingerprint(document.document_id, fingerprint)
        if duplicate is None:
            return document
        reason, detail = (
            (QuarantineReason.DUPLICATE, f"same text as {duplicate.document_id}")
            if duplicate.exact
            else (QuarantineReason.NEAR_DUPLICATE, f"{duplicate.similarity:.0%} similar to {duplicate.document_id}")
        )
        return Quarantined(document.document_id, document.location, document.source_version, reason, detail)

    def check_content(self, raw: RawDocument) -> CleanDocument | Quarantined:
        """Every check that looks at this document alone (a Ray worker runs these in parallel)."""

        def quarantine(reason: QuarantineReason, detail: str) -> Quarantined:
            return Quarantined(raw.document_id, raw.location, raw.source_version, reason, detail)

        try:
            kind = document_format(raw.document_id)
        except UnsupportedFormat as error:
            return quarantine(QuarantineReason.UNSUPPORTED_TYPE, str(error))
        if raw.data is None or raw.size > self.settings.max_bytes:
            return quarantine(QuarantineReason.OVERSIZED, f"{raw.size} bytes > max_bytes {self.settings.max_bytes}")
        try:
            decoded = raw.data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            bad = error.object[error.start]
            return quarantine(QuarantineReason.ENCODING, f"not UTF-8: byte {bad:#04x} at offset {error.start}")
        try:
            declared, body = split_front_matter(decoded) if kind == "markdown" else ({}, decoded)
            if raw.sidecar is not None:
                declared = {**declared, **load_sidecar(raw.sidecar, "sidecar")}
            metadata = DocumentMetadata.parse(declared, "metadata")
        except MetadataError as error:
            return quarantine(QuarantineReason.METADATA_SCHEMA, str(error))
        text = html_to_text(body) if kind == "html" else body.strip()
        if len(text.strip()) < self.settings.min_chars:
            found = len(text.strip())
            limit = self.settings.min_chars
            return quarantine(QuarantineReason.EMPTY, f"{found} characters of text < min_chars {limit}")
        redactions: dict[str, int] = {}
        for scanner, policy, reason in (
            (self.secrets, self.settings.secrets, QuarantineReason.SECRET),
            (self.pii, self.settings.pii, QuarantineReason.PII),
        ):
            if policy == "keep":
                continue
            verdict = scanner.scan(text)
            if verdict.action is Action.ALLOW:
                continue
            kinds = sorted({finding.kind for finding in verdict.findings})
            if policy == "quarantine":
                return quarantine(reason, f"{scanner.name} scanner found: {', '.join(kinds)}")
            assert verdict.redacted_text is not None  # a redact verdict always carries the text
            text = verdict.redacted_text
            for finding in verdict.findings:
                redactions[finding.kind] = redactions.get(finding.kind, 0) + 1
        return CleanDocument(
            document_id=raw.document_id,
            location=raw.location,
            source_version=raw.source_version,
            format=kind,
            text=text,
            sha256=hashlib.sha256(raw.data).hexdigest(),
            metadata=metadata,
            data_classes=metadata.data_classes or self.settings.default_data_classes,
            redactions=redactions,
        )
