"""A run's quality report: outcomes, the quarantine, what changed, and drift against the previous version.

Drift is measured on what a run can compare without a labelled set: the passages table's schema
(fields added, removed or retyped), the declared metadata (which keys documents declare, how they
are cleared), and the shape of the corpus (formats, document length, passages per document). A
change beyond `DRIFT_TOLERANCE` is listed under `drift.flags`, so a reviewer sees it at a glance.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["DRIFT_TOLERANCE", "CorpusProfile", "QualityReport", "compare_schemas", "render_report"]

DRIFT_TOLERANCE = 0.2
"""Relative change (or share-point change for distributions) reported as drift."""


class CorpusProfile(BaseModel):
    """What a version's documents look like, kept in its run record for the next run to compare with."""

    documents: int = 0
    passages: int = 0
    mean_chars: float = 0.0
    formats: dict[str, float] = Field(default_factory=dict)
    """Share of documents per format."""
    metadata_keys: dict[str, float] = Field(default_factory=dict)
    """Share of documents declaring each metadata key."""
    data_classes: dict[str, float] = Field(default_factory=dict)
    """Share of documents cleared for each data class."""
    schema_fields: dict[str, str] = Field(default_factory=dict)
    """The passages table's fields and types."""


class QualityReport(BaseModel):
    run_id: str
    source: str
    index: str
    version: int | None = None
    previous_version: int | None = None
    seconds: float = 0.0
    embed_seconds: float = 0.0
    passages_per_s: float = 0.0
    outcomes: dict[str, int] = Field(default_factory=dict)
    """`indexed`, `indexed_redacted`, `quarantined`."""
    quarantined_by_reason: dict[str, int] = Field(default_factory=dict)
    quarantine: list[dict[str, str]] = Field(default_factory=list)
    """Each quarantined document: document_id, location, reason, detail."""
    redactions: dict[str, int] = Field(default_factory=dict)
    changes: dict[str, list[str]] = Field(default_factory=dict)
    """Document ids `added`, `removed`, `changed` against the previous version (`unchanged` counted only)."""
    unchanged: int = 0
    profile: CorpusProfile = Field(default_factory=CorpusProfile)
    drift: dict[str, Any] = Field(default_factory=dict)


def _shares(counter: Counter[str], total: int) -> dict[str, float]:
    return {key: round(count / total, 3) for key, count in sorted(counter.items())} if total else {}


def profile_of(documents: list[dict[str, Any]], passages: int, schema_fields: dict[str, str]) -> CorpusProfile:
    """`documents`: per document `format`, `chars`, `metadata_keys` and `data_classes`."""
    total = len(documents)
    return CorpusProfile(
        documents=total,
        passages=passages,
        mean_chars=round(sum(d["chars"] for d in documents) / total, 1) if total else 0.0,
        formats=_shares(Counter(d["format"] for d in documents), total),
        metadata_keys=_shares(Counter(k for d in documents for k in d["metadata_keys"]), total),
        data_classes=_shares(Counter(c for d in documents for c in d["data_classes"]), total),
        schema_fields=schema_fields,
    )


def compare_schemas(before: dict[str, str], after: dict[str, str]) -> dict[str, Any]:
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "retyped": sorted(f"{name}: {before[name]} -> {after[name]}" for name in set(before) & set(after)
                          if before[name] != after[name]),
    }


def _distribution_shift(name: str, before: dict[str, float], after: dict[str, float]) -> list[str]:
    return [
        f"{name}.{key}: {before.get(key, 0.0):.0%} -> {after.get(key, 0.0):.0%}"
        for key in sorted(set(before) | set(after))
        if abs(after.get(key, 0.0) - before.get(key, 0.0)) >= DRIFT_TOLERANCE
    ]


def drift_between(before: CorpusProfile | None, after: CorpusProfile) -> dict[str, Any]:
    """Schema and distribution drift of `after` against `before` (None: first version, nothing to compare)."""
    if before is None:
        return {"against": None, "schema": compare_schemas({}, {}), "flags": []}
    schema = compare_schemas(before.schema_fields, after.schema_fields)
    flags = [f"schema: {kind} {', '.join(items)}" for kind, items in schema.items() if items]
    for name in ("formats", "metadata_keys", "data_classes"):
        flags += _distribution_shift(name, getattr(before, name), getattr(after, name))
    for name in ("documents", "mean_chars"):
        old, new = float(getattr(before, name)), float(getattr(after, name))
        if old and abs(new - old) / old >= DRIFT_TOLERANCE:
            flags.append(f"{name}: {old:g} -> {new:g} ({(new - old) / old:+.0%})")
    old_ratio = before.passages / before.documents if before.documents else 0.0
    new_ratio = after.passages / after.documents if after.documents else 0.0
    if old_ratio and abs(new_ratio - old_ratio) / old_ratio >= DRIFT_TOLERANCE:
        flags.append(f"passages_per_document: {old_ratio:.2f} -> {new_ratio:.2f}")
    return {"against": "previous version", "schema": schema, "flags": flags}


def render_report(report: QualityReport) -> str:
    """The report as the end of `make ingest` prints it."""
    lines = [
        f"Quality report — run {report.run_id}",
        f"  source   {report.source}",
        f"  index    {report.index} version {report.version} (previous: {report.previous_version})",
        f"  time     {report.seconds:.1f} s, embedding {report.embed_seconds:.1f} s, "
        f"{report.passages_per_s:.0f} passages/s",
        "  outcomes " + ", ".join(f"{k} {v}" for k, v in report.outcomes.items()),
        f"  passages {report.profile.passages} from {report.profile.documents} documents",
    ]
    if report.redactions:
        lines.append("  redacted " + ", ".join(f"{k} {v}" for k, v in sorted(report.redactions.items())))
    if report.quarantine:
        lines.append("  quarantine:")
        lines += [f"    {q['reason']:<16} {q['document_id']}: {q['detail']}" for q in report.quarantine]
    changes = report.changes
    lines.append(
        f"  changes  added {len(changes.get('added', []))}, changed {len(changes.get('changed', []))}, "
        f"removed {len(changes.get('removed', []))}, unchanged {report.unchanged}"
    )
    flags = report.drift.get("flags", [])
    if report.previous_version is None:
        lines.append("  drift    first version: nothing to compare")
    else:
        lines.append("  drift    " + ("none beyond tolerance" if not flags else f"{len(flags)} flag(s):"))
        lines += [f"    {flag}" for flag in flags]
    return "\n".join(lines)
