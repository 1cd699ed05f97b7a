"""Retrieval from the versioned index: query latency and recall at 100k passages, memory, and
switching versions under load.

    .venv/bin/python -m bench.bench_retrieval [--rows 100000] [--queries 300] [--index DIR]   (or: make bench)

`--index DIR` keeps the built table in DIR and, on a later run with the same `--rows`, queries it
without building it again (the 100k build with its HNSW graph takes minutes on two cores).

Targets (docs/data.md): query p50 <= 15 ms at 100k passages with recall@10 >= 0.95 against exact
search; zero failed queries while versions switch under concurrency 16. Vectors are synthetic
(unit-length draws around 2,000 topic centroids, 384 dimensions like all-MiniLM-L6-v2), so the
100k table needs no hour of embedding. The baseline, measured in the same run, is exact search
(one matrix-vector product in numpy over the same vectors): latency is reported as a ratio to it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import psutil
import pyarrow as pa

from services.data.index_store import IndexStore, RunRecord, passages_schema
from services.inference.retriever import DocumentIndex
from services.inference.settings import RetrieverSettings

DIMENSIONS = 384


# Sentence embeddings occupy a low-dimensional part of their 384 dimensions (topics, then variation
# within a topic); isotropic noise in all 384 would make every point's ten nearest neighbours a near
# tie, which no real corpus looks like. So: topic centroids plus variation in a 48-dimensional latent
# space, projected to 384 by one fixed random matrix, plus a little full-dimensional noise.
_LATENT = 48
_PROJECTION = np.random.default_rng(0).standard_normal((_LATENT, DIMENSIONS)).astype(np.float32)
_CENTROIDS = np.random.default_rng(3).standard_normal((2000, _LATENT)).astype(np.float32)


def synthetic_vectors(rows: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    latent = _CENTROIDS[rng.integers(0, len(_CENTROIDS), rows)] + 0.7 * rng.standard_normal((rows, _LATENT)).astype(
        np.float32)
    vectors = latent @ _PROJECTION + 0.5 * rng.standard_normal((rows, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def table_of(vectors: npt.NDArray[np.float32], run_id: str) -> pa.Table:
    rows = len(vectors)
    ids = [f"{run_id}{i:08d}" for i in range(rows)]
    schema = passages_schema(DIMENSIONS)
    columns = {
        "chunk_id": pa.array(ids), "document_id": pa.array([f"doc-{i // 20}.md" for i in range(rows)]),
        "ordinal": pa.array(np.arange(rows) % 20, type=pa.int32()), "source": pa.array(ids),
        "text": pa.array([f"passage {i}" for i in range(rows)]), "content_sha256": pa.array(ids),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIMENSIONS),
        "tenant": pa.array([""] * rows), "data_classes": pa.array([["standard"]] * rows, type=pa.list_(pa.string())),
        "tags": pa.array([[]] * rows, type=pa.list_(pa.string())), "run_id": pa.array([run_id] * rows),
    }
    return pa.table(columns, schema=schema)


def write(store: IndexStore, vectors: npt.NDArray[np.float32], run_id: str) -> int:
    version = store.write_passages(table_of(vectors, run_id))
    store.record_run(RunRecord(run_id, version, "synthetic", "", "", [], {}))
    return version


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def index_latency(uri: str, version: int, queries: npt.NDArray[np.float32], k: int = 10
                  ) -> tuple[list[float], list[list[str]], float]:
    """Query `version` as a Retriever replica does, in a fresh process of its own (run it spawned): the
    store opened, one warm-up query, then every query timed. Returns the latencies (ms), each query's
    hit ids and the process's RSS in MB, which holds no baseline vectors, only what a replica holds."""
    snapshot = IndexStore(uri).open(version)
    snapshot.search(queries[0], k)  # opens the index files
    latencies, hits = [], []
    for query in queries:
        started = time.perf_counter()
        found = snapshot.search(query, k)
        latencies.append((time.perf_counter() - started) * 1000)
        hits.append([hit.chunk_id for hit in found])
    return latencies, hits, float(psutil.Process().memory_info().rss / 2**20)


def exact_search(vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], k: int = 10
                 ) -> tuple[list[float], list[set[str]]]:
    """The baseline: one matrix-vector product in numpy per query over every vector."""
    latencies, truths = [], []
    for query in queries:
        started = time.perf_counter()
        exact = np.argpartition(-(vectors @ query), k)[:k]
        latencies.append((time.perf_counter() - started) * 1000)
        truths.append({f"v{i:08d}" for i in exact.tolist()})
    return latencies, truths


def latency_report(index_ms: list[float], exact_ms: list[float], hits: list[list[str]], truths: list[set[str]],
                   k: int = 10) -> dict[str, float]:
    recalls = [len(truth & set(found)) / k for found, truth in zip(hits, truths, strict=True)]
    return {
        "index_p50_ms": round(statistics.median(index_ms), 2), "index_p99_ms": round(percentile(index_ms, 0.99), 2),
        "exact_numpy_p50_ms": round(statistics.median(exact_ms), 2),
        "p50_ratio_to_exact": round(statistics.median(index_ms) / statistics.median(exact_ms), 2),
        "recall_at_10": round(float(np.mean(recalls)), 4),
    }


async def switch_under_load(root: Path, concurrency: int = 16, switches: int = 20) -> dict[str, float]:
    """`concurrency` clients query without pause while the served version flips `switches` times."""
    rng = np.random.default_rng(7)
    store = IndexStore(str(root / "switch"))
    versions = [write(store, synthetic_vectors(2000, rng), "v") for _ in range(2)]
    queries = synthetic_vectors(64, rng)

    async def embed(texts: list[str]) -> npt.NDArray[np.float32]:
        return queries[[hash(t) % len(queries) for t in texts]]

    settings = RetrieverSettings.model_validate({"corpus": ["docs"], "index": {"uri": str(root / "switch")}})
    index, _ = await DocumentIndex.open(settings, embed)
    stop = asyncio.Event()
    done, failed, seen = 0, 0, set()

    async def client(n: int) -> None:
        nonlocal done, failed
        while not stop.is_set():
            try:
                hits = await index.search(queries[n % len(queries)], 10)
                assert len(hits) == 10
                seen.add(hits[0].index_version)
                done += 1
            except Exception:
                failed += 1

    tasks = [asyncio.create_task(client(n)) for n in range(concurrency)]
    started = time.perf_counter()
    for switch in range(switches):
        await asyncio.sleep(0.05)
        await index.switch(versions[switch % 2])
    stop.set()
    await asyncio.gather(*tasks)
    return {"concurrency": concurrency, "switches": switches, "queries": done, "failed": failed,
            "versions_served": len(seen), "seconds": round(time.perf_counter() - started, 2)}


def built_index(root: Path, vectors: npt.NDArray[np.float32]) -> tuple[int, float | None]:
    """The table of `vectors` under `root`: reused when a run before built it for as many rows (build
    time None), written and indexed otherwise."""
    store = IndexStore(str(root))
    if store.versions() and store.open(store.latest_version()).rows == len(vectors):
        return store.latest_version(), None
    started = time.perf_counter()
    version = write(store, vectors, "v")
    return version, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--index", type=Path, help="keep the built table here and reuse it on later runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as temp:
        root = args.index or Path(temp) / "index"
        vectors = synthetic_vectors(args.rows, np.random.default_rng(1))
        version, build_s = built_index(root, vectors)
        gc.collect()
        queries = synthetic_vectors(args.queries, np.random.default_rng(2))
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            index_ms, hits, replica_mb = pool.apply(index_latency, (str(root), version, queries))
        exact_ms, truths = exact_search(vectors, queries)
        results = latency_report(index_ms, exact_ms, hits, truths)
        load = ", ".join(f"{value:.1f}" for value in psutil.getloadavg())
        built = f"written and indexed in {build_s:.1f} s" if build_s is not None else f"reused from {root}"
        print(f"index: {args.rows} passages x {DIMENSIONS} (IVF-HNSW-SQ), {built}; "
              f"load average {load} on {psutil.cpu_count()} CPUs")
        for key, value in results.items():
            print(f"  {key:<22} {value}")
        on_disk = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
        print(f"  {'replica_rss_mb':<22} {replica_mb:.0f} (the process that answered the queries, as a "
              f"Retriever replica does; Ray's worker runtime comes on top; the index on disk: "
              f"{on_disk / 2**20:.0f} MB)")
        print(f"  {'targets':<22} p50 <= 15 ms: {results['index_p50_ms'] <= 15}, "
              f"recall@10 >= 0.95: {results['recall_at_10'] >= 0.95}")
        switching = asyncio.run(switch_under_load(Path(temp)))
        print("switching versions under load: " + ", ".join(f"{k} {v}" for k, v in switching.items()))


if __name__ == "__main__":
    main()
