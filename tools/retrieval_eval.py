"""Retrieval quality on the labelled query -> passage set for the repository's docs: recall@5 and MRR.

    .venv/bin/python -m tools.retrieval_eval [--thresholds eval/retrieval-thresholds.yaml] [--misses]
    make eval-retrieval

The corpus (`docs/`) is ingested by the real pipeline into a temporary index with the retriever's
model, every query is embedded and searched exactly as the retriever does, and a query counts as
found at rank r when the r-th passage comes from a section its label names (`file.md#Heading`).
Exit status 1 when recall@5 or MRR falls under the thresholds file's minimums, or fewer queries
than `min_queries` were evaluated (a label set that silently shrinks must fail too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.data.index_store import IndexSnapshot, IndexStore
from services.data.pipeline import ingest
from services.data.settings import IngestSettings
from services.data.sources import open_source
from services.inference.embedder import SentenceEmbedder
from tools.jsonl import jsonl_objects

__all__ = [
    "LabelledQuery", "RetrievalThresholds", "evaluate", "evaluation_index", "exit_status", "load_labelled", "main",
]

ROOT = Path(__file__).resolve().parents[1]


class LabelledQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    query: str = Field(min_length=3)
    relevant: list[str] = Field(min_length=1)
    """Sections (`file.md#Heading`, as passages cite them) that answer the query."""


class RetrievalThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    queries: str
    corpus: str
    k: int = Field(default=5, ge=1)
    min_recall_at_k: float = Field(ge=0, le=1)
    min_mrr: float = Field(ge=0, le=1)
    min_queries: int = Field(ge=1)


def evaluate(queries: list[LabelledQuery], ranked: list[list[str]], k: int) -> dict[str, float]:
    """recall@k (a relevant section among the top k) and MRR over the ranked sources of each query."""
    hits, reciprocal = 0, 0.0
    for labelled, sources in zip(queries, ranked, strict=True):
        rank = next((n for n, source in enumerate(sources, start=1) if source in labelled.relevant), None)
        hits += rank is not None and rank <= k
        reciprocal += 1.0 / rank if rank else 0.0
    return {"queries": len(queries), f"recall_at_{k}": round(hits / len(queries), 4),
            "mrr": round(reciprocal / len(queries), 4)}


def load_labelled(path: Path) -> list[LabelledQuery]:
    return [LabelledQuery.model_validate(data) for _, data in jsonl_objects(path)]


@contextmanager
def evaluation_index(corpus: Path) -> Iterator[tuple[IndexSnapshot, SentenceEmbedder]]:
    """`corpus` ingested by the real pipeline, with the local retriever's model and settings, into a
    temporary index: its snapshot and the embedder that queries it (as the retriever does)."""
    from services.config import serve_config
    from services.inference.settings import EmbedderSettings, RetrieverSettings

    app_args = serve_config("local")["applications"][0]["args"]
    retriever = RetrieverSettings.model_validate(app_args["retriever"])
    embedder = SentenceEmbedder.from_settings(EmbedderSettings.model_validate(app_args["embedder"]))

    async def embed(texts: list[str]) -> npt.NDArray[np.float32]:
        return await asyncio.to_thread(embedder.encode, texts)

    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as temp:
        store = IndexStore(temp)
        settings = IngestSettings(chunk_chars=retriever.chunk_chars, secrets=retriever.secrets, pii=retriever.pii)
        asyncio.run(ingest(open_source(str(corpus)), store, settings, embed, embedder.dimensions))
        yield store.open(), embedder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.retrieval_eval", description=__doc__)
    parser.add_argument("--thresholds", default=str(ROOT / "eval" / "retrieval-thresholds.yaml"))
    parser.add_argument("--misses", action="store_true", help="print the queries not found in the top k")
    args = parser.parse_args(argv)
    thresholds = RetrievalThresholds.model_validate(yaml.safe_load(Path(args.thresholds).read_text()))
    queries = load_labelled(ROOT / thresholds.queries)

    with evaluation_index(ROOT / thresholds.corpus) as (snapshot, embedder):
        vectors = embedder.encode([q.query for q in queries])
        ranked = [[hit.source for hit in snapshot.search(vector, 10)] for vector in vectors]
    result = evaluate(queries, ranked, thresholds.k)
    print(json.dumps(result))
    if args.misses:
        for labelled, sources in zip(queries, ranked, strict=True):
            if not set(sources[: thresholds.k]) & set(labelled.relevant):
                print(f"miss: {labelled.query!r} wants {labelled.relevant}, got {sources[:3]}")
    failures = []
    if result["queries"] < thresholds.min_queries:
        failures.append(f"queries {result['queries']} < min_queries {thresholds.min_queries}")
    if result[f"recall_at_{thresholds.k}"] < thresholds.min_recall_at_k:
        failures.append(f"recall@{thresholds.k} {result[f'recall_at_{thresholds.k}']} < {thresholds.min_recall_at_k}")
    if result["mrr"] < thresholds.min_mrr:
        failures.append(f"mrr {result['mrr']} < {thresholds.min_mrr}")
    return exit_status(failures)


def exit_status(failures: list[str]) -> int:
    """A gate's exit status: 1 when anything failed, each failure on standard error."""
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
