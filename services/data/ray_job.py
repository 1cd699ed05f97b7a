"""The ingestion pipeline as a Ray Data job, for corpora that outgrow one machine.

The same steps as pipeline.py, distributed: the driver lists the source (ids only); workers read
and check each document (type, size, encoding, metadata, emptiness, secrets, PII) and fingerprint
it; the driver decides duplicates over the fingerprints only (small, and the decision depends on
order); workers chunk, a pool of embedding actors (one model copy each) embeds in batches, and the
passages stream from the cluster into the new table version without being collected on the driver.

    python -m services.data.ray_job SOURCE [--uri URI] [--index NAME] [--embedders N]

It runs where `ray.init()` reaches the cluster (`RAY_ADDRESS`); without one it starts a local Ray.
"""

from __future__ import annotations

import argparse
import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from services.data.duplicates import Fingerprint
from services.data.index_store import IndexStore, passages_schema
from services.data.pipeline import IngestionResult, finish_run, passage_rows
from services.data.settings import IngestSettings
from services.data.sources import open_source
from services.data.validation import CleanDocument, Quarantined, Validator
from services.inference.settings import EmbedderSettings

__all__ = ["ingest_on_ray", "main"]


class _Checker:
    """Workers: read each listed document, run the per-document checks, fingerprint the clean ones."""

    def __init__(self, settings: IngestSettings, source_uri: str) -> None:
        self.settings = settings
        self.source = open_source(source_uri)
        self.validator = Validator(settings)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        outcome = self.validator.check_content(self.source.read(row["document_id"], self.settings.max_bytes))
        fingerprint = None if isinstance(outcome, Quarantined) else self.validator.duplicates.fingerprint(outcome.text)
        return {"document_id": row["document_id"], "outcome": outcome, "fingerprint": fingerprint}


class _Embedder:
    """A Ray Data actor: one model copy, reused for every batch it is given."""

    def __init__(self, settings: EmbedderSettings) -> None:
        from services.inference.embedder import SentenceEmbedder

        self.model = SentenceEmbedder.from_settings(settings)

    def __call__(self, batch: pa.Table) -> pa.Table:
        vectors = self.model.encode(batch.column("text").to_pylist())
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        return batch.append_column("vector", pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))


def _record_batches(dataset: Any) -> Iterator[pa.RecordBatch]:
    for table in dataset.iter_batches(batch_format="pyarrow", batch_size=1024):
        assert isinstance(table, pa.Table)
        yield from table.to_batches()


def _decide_duplicates(
    checked: list[dict[str, Any]], settings: IngestSettings
) -> tuple[list[CleanDocument], list[Quarantined]]:
    """In listing order, as the single-machine pipeline decides them."""
    deduplicator = Validator(settings)
    clean: list[CleanDocument] = []
    quarantined: list[Quarantined] = []
    for row in sorted(checked, key=lambda row: str(row["document_id"])):
        outcome: CleanDocument | Quarantined = row["outcome"]
        if isinstance(outcome, CleanDocument):
            fingerprint: Fingerprint = row["fingerprint"]
            outcome = deduplicator.check_duplicate(outcome, fingerprint)
        if isinstance(outcome, CleanDocument):
            clean.append(outcome)
        else:
            quarantined.append(outcome)
    return clean, quarantined


def ingest_on_ray(
    source_uri: str,
    store: IndexStore,
    settings: IngestSettings,
    embedder: EmbedderSettings,
    *,
    embedders: int = 1,
    serve: bool = True,
) -> IngestionResult:
    """The pipeline of pipeline.py on the Ray cluster `ray.init()` reaches."""
    import ray
    import ray.data

    if not ray.is_initialized():
        ray.init(include_dashboard=False)
    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    started_at, started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.perf_counter()
    listing = [{"document_id": raw.document_id} for raw in open_source(source_uri).documents(max_bytes=0)]
    # Ray takes a callable class here (run in an actor pool); its annotation names only functions.
    checker: Any = _Checker
    checked = ray.data.from_items(listing).map(
        checker, fn_constructor_kwargs={"settings": settings, "source_uri": source_uri},
        compute=ray.data.ActorPoolStrategy(size=max(1, embedders)), num_cpus=0.25,
    ).take_all()
    clean, quarantined = _decide_duplicates(checked, settings)

    rows = passage_rows(clean, settings.chunk_chars, run_id)
    embed_started = time.perf_counter()
    embedded = ray.data.from_items(rows).map_batches(
        _Embedder, fn_constructor_kwargs={"settings": embedder}, batch_size=settings.embed_batch,
        batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=embedders), num_cpus=0.5,
    )
    batches = _record_batches(embedded)
    first = next(batches, None)
    if first is None:
        schema = passages_schema(1)
        passages: pa.Table | pa.RecordBatchReader = schema.empty_table()
    else:
        schema = passages_schema(first.schema.field("vector").type.list_size)

        def conformed(stream: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in stream:
                yield pa.Table.from_batches([batch]).select(schema.names).cast(schema).combine_chunks().to_batches()[0]

        passages = pa.RecordBatchReader.from_batches(schema, conformed(itertools.chain([first], batches)))
    return finish_run(
        store, run_id=run_id, source_uri=source_uri, started=started_at, clean=clean, quarantined=quarantined,
        passages=passages, seconds=time.perf_counter() - started, embed_seconds=time.perf_counter() - embed_started,
        serve=serve,
    )


def main(argv: list[str] | None = None) -> int:
    from services.config import serve_config
    from services.data.quality import render_report
    from services.inference.retriever import index_store
    from services.inference.settings import RetrieverSettings

    parser = argparse.ArgumentParser(prog="python -m services.data.ray_job", description=__doc__)
    parser.add_argument("source")
    parser.add_argument("--env", default="local")
    parser.add_argument("--uri")
    parser.add_argument("--index")
    parser.add_argument("--embedders", type=int, default=1, help="embedding actors (model copies)")
    args = parser.parse_args(argv)
    app_args = serve_config(args.env)["applications"][0]["args"]
    retriever = RetrieverSettings.model_validate(app_args["retriever"])
    location = retriever.index.model_copy(update={k: v for k, v in (("uri", args.uri), ("table", args.index)) if v})
    result = ingest_on_ray(
        args.source, index_store(location), IngestSettings(chunk_chars=retriever.chunk_chars,
                                                           secrets=retriever.secrets, pii=retriever.pii),
        EmbedderSettings.model_validate(app_args["embedder"]), embedders=args.embedders,
    )
    print(render_report(result.report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
