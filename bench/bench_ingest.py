"""Ingestion throughput end to end against the raw batched embedding throughput of the same model.

    .venv/bin/python -m bench.bench_ingest [--corpus docs] [--rounds 2]     (or: make bench)

Target (docs/data.md): the whole pipeline (read, validate with the gateway's scanners, detect
duplicates, chunk, embed in batches of 64 while later documents are still being validated, write a
LanceDB version and its run record) moves
passages at >= 0.8x the rate the model alone embeds the same passages in batches of 64, on the
same cores, in the same run. Rounds alternate raw / pipeline so drift in the box's load hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.config import serve_config
from services.data.index_store import IndexStore
from services.data.pipeline import ingest, passage_rows, validate_documents
from services.data.settings import IngestSettings
from services.data.sources import open_source
from services.inference.embedder import SentenceEmbedder
from services.inference.settings import EmbedderSettings

BATCH = 64


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="docs")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    embedder = SentenceEmbedder.from_settings(
        EmbedderSettings.model_validate(serve_config("local")["applications"][0]["args"]["embedder"])
    )
    settings = IngestSettings(secrets="redact", embed_batch=BATCH)
    clean, _ = validate_documents(open_source(args.corpus).documents(settings.max_bytes), settings)
    texts = [row["text"] for row in passage_rows(clean, settings.chunk_chars, "bench")]
    embedder.encode(texts[:BATCH])  # warm-up

    async def embed(batch: list[str]) -> npt.NDArray[np.float32]:
        return embedder.encode(batch)

    raw_rates, pipeline_rates = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        for start in range(0, len(texts), BATCH):
            embedder.encode(texts[start : start + BATCH])
        raw_rates.append(len(texts) / (time.perf_counter() - started))
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as temp:
            started = time.perf_counter()
            result = asyncio.run(ingest(open_source(args.corpus), IndexStore(str(Path(temp))), settings, embed,
                                        embedder.dimensions))
            pipeline_rates.append(result.report.profile.passages / (time.perf_counter() - started))
    raw, pipeline = statistics.median(raw_rates), statistics.median(pipeline_rates)
    print(f"corpus {args.corpus}: {len(clean)} documents, {len(texts)} passages, batches of {BATCH}, "
          f"{args.rounds} rounds")
    raw_rounds = ", ".join(f"{r:.1f}" for r in raw_rates)
    pipeline_rounds = ", ".join(f"{r:.1f}" for r in pipeline_rates)
    print(f"  raw batched embedding   {raw:8.1f} passages/s   (rounds: {raw_rounds})")
    print(f"  ingestion end to end    {pipeline:8.1f} passages/s   (rounds: {pipeline_rounds})")
    # Each round's raw run and pipeline run are back to back, so a round's ratio sees one load; the
    # median of those is less moved by a load that drifts between rounds than the ratio of medians.
    paired = statistics.median(p / r for p, r in zip(pipeline_rates, raw_rates, strict=True))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"  ratio                   {pipeline / raw:8.2f}   (target >= 0.80: {pipeline / raw >= 0.8})")
    print(f"  ratio, paired rounds    {paired:8.2f}   (median of each round's pipeline / raw; "
          f"load average {load})")


if __name__ == "__main__":
    main()
