"""One ingestion run: source -> validation -> chunking -> batched embedding -> a new index version.

Validation (the gateway's secret and PII scanners, an NER model among them) runs in a worker thread
while the event loop embeds: a batch goes to the model as soon as the documents validated so far
fill it, so the two overlap instead of adding up (bench/bench_ingest.py measures the result).
Bad documents never stop a run: validation turns each into a `CleanDocument` or a `Quarantined`
with a reason. The run ends with a quality report (quality.py) stored with the version it wrote.
The same steps (`validate_documents`, `passage_rows`, `embed_rows`, `finish_run`) are what the Ray
Data driver (ray_job.py) distributes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from services.data.chunking import chunk_markdown
from services.data.errors import IndexMissing
from services.data.index_store import IndexStore, RunRecord, passages_schema
from services.data.quality import CorpusProfile, QualityReport, drift_between, profile_of
from services.data.settings import IngestSettings
from services.data.sources import DocumentSource, RawDocument
from services.data.validation import CleanDocument, Quarantined, Validator

__all__ = ["Embed", "IngestionResult", "Progress", "finish_run", "ingest", "passage_rows",
           "validate_documents"]

Embed = Callable[[list[str]], Awaitable[npt.NDArray[np.float32]]]
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class IngestionResult:
    version: int
    report: QualityReport


def validate_documents(
    raws: Iterable[RawDocument], settings: IngestSettings, progress: Progress = _quiet,
    on_clean: Callable[[CleanDocument], None] | None = None,
) -> tuple[list[CleanDocument], list[Quarantined]]:
    """Every document validated in order; `on_clean` is called with each valid one as soon as it is."""
    validator = Validator(settings)
    clean: list[CleanDocument] = []
    quarantined: list[Quarantined] = []
    for seen, raw in enumerate(raws, start=1):
        outcome = validator.validate(raw)
        if isinstance(outcome, Quarantined):
            quarantined.append(outcome)
            progress(f"  quarantined {outcome.document_id}: {outcome.reason} ({outcome.detail})")
        else:
            clean.append(outcome)
            if on_clean is not None:
                on_clean(outcome)
        if seen % 50 == 0:
            progress(f"  validated {seen} documents ({len(quarantined)} quarantined)")
    return clean, quarantined


def chunk_id(document_id: str, ordinal: int, text: str) -> str:
    """Stable for the same passage of the same document: lineage survives re-ingesting unchanged text."""
    return hashlib.sha256(f"{document_id}\0{ordinal}\0{text}".encode()).hexdigest()[:32]


def passage_rows(documents: list[CleanDocument], chunk_chars: int, run_id: str) -> list[dict[str, Any]]:
    """Every passage of `documents` as an index row, without its vector yet."""
    rows: list[dict[str, Any]] = []
    for document in documents:
        for ordinal, chunk in enumerate(chunk_markdown(document.text, document.document_id, chunk_chars)):
            rows.append({
                "chunk_id": chunk_id(document.document_id, ordinal, chunk.text),
                "document_id": document.document_id,
                "ordinal": ordinal,
                "source": chunk.source,
                "text": chunk.text,
                "content_sha256": hashlib.sha256(chunk.text.encode()).hexdigest(),
                "tenant": document.metadata.tenant or "",
                "data_classes": list(document.data_classes),
                "tags": list(document.metadata.tags),
                "run_id": run_id,
            })
    return rows


async def _embed_batch(rows: list[dict[str, Any]], embed: Embed) -> None:
    vectors = await embed([row["text"] for row in rows])
    for row, vector in zip(rows, vectors, strict=True):
        row["vector"] = vector


async def _validate_chunk_and_embed(
    source: DocumentSource, settings: IngestSettings, embed: Embed, run_id: str, progress: Progress
) -> tuple[list[CleanDocument], list[Quarantined], list[dict[str, Any]], float]:
    """Validation in a worker thread, embedding here as soon as validated passages fill a batch.

    Returns the valid and quarantined documents, every passage row with its vector (in document
    order, as a serial run would write them) and the seconds spent waiting on the model."""
    loop = asyncio.get_running_loop()
    validated: asyncio.Queue[CleanDocument | None] = asyncio.Queue()

    def hand_over(document: CleanDocument) -> None:
        loop.call_soon_threadsafe(validated.put_nowait, document)

    def validate() -> tuple[list[CleanDocument], list[Quarantined]]:
        try:
            return validate_documents(source.documents(settings.max_bytes), settings, progress, on_clean=hand_over)
        finally:
            loop.call_soon_threadsafe(validated.put_nowait, None)  # done (or failed: the await below raises)

    validating = asyncio.ensure_future(asyncio.to_thread(validate))
    rows: list[dict[str, Any]] = []
    embedded, embed_seconds, started = 0, 0.0, time.perf_counter()
    while True:
        document = await validated.get()
        if document is not None:
            rows.extend(passage_rows([document], settings.chunk_chars, run_id))
        while len(rows) - embedded >= settings.embed_batch or (document is None and embedded < len(rows)):
            part = rows[embedded : embedded + settings.embed_batch]
            model_started = time.perf_counter()
            await _embed_batch(part, embed)
            embed_seconds += time.perf_counter() - model_started
            embedded += len(part)
            rate = embedded / max(time.perf_counter() - started, 1e-9)
            progress(f"  embedded {embedded} passages ({rate:.0f}/s)")
        if document is None:
            break
    clean, quarantined = await validating
    progress(f"  {len(clean)} documents valid, {len(quarantined)} quarantined, {len(rows)} passages")
    return clean, quarantined, rows, embed_seconds


def _previous(store: IndexStore) -> tuple[int | None, dict[str, str], CorpusProfile | None]:
    """The latest version, its documents' hashes and its profile (nothing before the first run)."""
    try:
        version = store.latest_version()
    except IndexMissing:
        return None, {}, None
    run = store.run_for_version(version)
    hashes = {d["document_id"]: d["sha256"] for d in run.documents}
    return version, hashes, CorpusProfile.model_validate(run.report.get("profile", {}))


def finish_run(
    store: IndexStore,
    *,
    run_id: str,
    source_uri: str,
    started: str,
    clean: list[CleanDocument],
    quarantined: list[Quarantined],
    passages: pa.Table | pa.RecordBatchReader,
    seconds: float,
    embed_seconds: float,
    serve: bool,
) -> IngestionResult:
    """Write `passages` as the new version with its run record and report; serve it when `serve`."""
    previous_version, previous_hashes, previous_profile = _previous(store)
    written_at = time.perf_counter()
    version = store.write_passages(passages)
    seconds += time.perf_counter() - written_at
    chunks_per_document = store.chunk_counts(version)
    documents = [
        {"document_id": d.document_id, "location": d.location, "source_version": d.source_version,
         "sha256": d.sha256, "chunks": chunks_per_document.get(d.document_id, 0)}
        for d in clean
    ]
    total = sum(chunks_per_document.values())
    profile = profile_of(
        [{"format": d.format, "chars": len(d.text), "data_classes": d.data_classes,
          "metadata_keys": sorted(d.metadata.model_dump(exclude_unset=True))} for d in clean],
        total,
        {field.name: str(field.type) for field in passages.schema},
    )
    current = {d.document_id: d.sha256 for d in clean}
    redacted = [d for d in clean if d.redactions]
    report = QualityReport(
        run_id=run_id,
        source=source_uri,
        index=f"{store.uri}#{store.table_name}",
        version=version,
        previous_version=previous_version,
        seconds=round(seconds, 2),
        embed_seconds=round(embed_seconds, 2),
        passages_per_s=round(total / seconds, 1) if seconds else 0.0,
        outcomes={"indexed": len(clean) - len(redacted), "indexed_redacted": len(redacted),
                  "quarantined": len(quarantined)},
        quarantined_by_reason={reason: sum(1 for q in quarantined if q.reason == reason)
                               for reason in sorted({q.reason.value for q in quarantined})},
        quarantine=[{"document_id": q.document_id, "location": q.location, "reason": q.reason.value,
                     "detail": q.detail} for q in quarantined],
        redactions={kind: sum(d.redactions.get(kind, 0) for d in clean)
                    for kind in sorted({k for d in clean for k in d.redactions})},
        changes={
            "added": sorted(set(current) - set(previous_hashes)),
            "removed": sorted(set(previous_hashes) - set(current)),
            "changed": sorted(i for i in set(current) & set(previous_hashes) if current[i] != previous_hashes[i]),
        },
        unchanged=sum(1 for i in current if previous_hashes.get(i) == current[i]),
        profile=profile,
        drift=drift_between(previous_profile, profile),
    )
    store.record_run(RunRecord(run_id, version, source_uri, started, _now(), documents, report.model_dump(mode="json")))
    if serve:
        store.serve(version, f"ingest {run_id}")
    return IngestionResult(version, report)


async def ingest(
    source: DocumentSource,
    store: IndexStore,
    settings: IngestSettings,
    embed: Embed,
    dimensions: int,
    *,
    progress: Progress = _quiet,
    serve: bool = True,
) -> IngestionResult:
    """Run the whole pipeline over `source` into a new version of `store`."""
    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    started_at, started = _now(), time.perf_counter()
    progress(f"ingest {source.uri} -> {store.uri}#{store.table_name} (run {run_id})")
    clean, quarantined, rows, embed_seconds = await _validate_chunk_and_embed(source, settings, embed, run_id,
                                                                              progress)
    schema = passages_schema(dimensions)
    result = finish_run(
        store, run_id=run_id, source_uri=source.uri, started=started_at, clean=clean, quarantined=quarantined,
        passages=pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table(),
        seconds=time.perf_counter() - started, embed_seconds=embed_seconds, serve=serve,
    )
    progress(f"  wrote version {result.version} ({len(rows)} passages)")
    return result
