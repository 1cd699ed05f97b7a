"""Retrieval from the versioned index: query latency and recall at 100k passages, memory, and
switching versions under load.

    .venv/bin/python -m bench.bench_retrieval [--rows 100000] [--queries 300]     (or: make bench)

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

from services.data.index_store import IndexSnapshot, IndexStore, RunRecord, passages_schema
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


def query_latency(snapshot: IndexSnapshot, vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32],
                  k: int = 10) -> dict[str, float]:
    index_ms, exact_ms, recalls = [], [], []
    for query in queries:
        started = time.perf_counter()
        hits = snapshot.search(query, k)
        index_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        exact = np.argpartition(-(vectors @ query), k)[:k]
        exact_ms.append((time.perf_counter() - started) * 1000)
        truth = {f"v{i:08d}" for i in exact.tolist()}
        recalls.append(len(truth & {hit.chunk_id for hit in hits}) / k)
    return {
        "index_p50_ms": round(statistics.median(index_ms), 2), "index_p99_ms": round(percentile(index_ms, 0.99), 2),
        "exact_numpy_p50_ms": round(statistics.median(exact_ms), 2),
        "p50_ratio_to_exact": round(statistics.median(index_ms) / statistics.median(exact_ms), 2),
        "recall_at_10": round(float(np.mean(recalls)), 4),
    }


def replica_rss_mb(uri: str, version: int, queries: npt.NDArray[np.float32]) -> float:
    """RSS of a fresh process that serves `version` as a Retriever replica does (the store opened, the
    queries answered), without the benchmark's own baseline vectors. Run it in a spawned process."""
    snapshot = IndexStore(uri).open(version)
    for query in queries:
        snapshot.search(query, 10)
    return float(psutil.Process().memory_info().rss / 2**20)


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    process = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as temp:
        rng = np.random.default_rng(1)
        vectors = synthetic_vectors(args.rows, rng)
        store = IndexStore(str(Path(temp) / "index"))
        started = time.perf_counter()
        version = write(store, vectors, "v")
        build_s = time.perf_counter() - started
        del store
        gc.collect()
        rss_before = process.memory_info().rss
        snapshot = IndexStore(str(Path(temp) / "index")).open(version)
        queries = synthetic_vectors(args.queries, np.random.default_rng(2))
        snapshot.search(queries[0], 10)  # opens the index files
        results = query_latency(snapshot, vectors, queries)
        rss_after = process.memory_info().rss
        load = ", ".join(f"{value:.1f}" for value in psutil.getloadavg())
        print(f"index: {args.rows} passages x {DIMENSIONS} (IVF-HNSW-SQ), written and indexed in {build_s:.1f} s; "
              f"load average {load} on {psutil.cpu_count()} CPUs")
        for key, value in results.items():
            print(f"  {key:<22} {value}")
        on_disk = sum(path.stat().st_size for path in (Path(temp) / "index").rglob("*") if path.is_file())
        # Process RSS, not a delta: building the table frees memory meanwhile, so a delta can go negative.
        print(f"  {'process_rss_mb':<22} {rss_after / 2**20:.0f} (before opening the index: "
              f"{rss_before / 2**20:.0f}; this process also holds the numpy baseline's vectors, "
              f"{vectors.nbytes / 2**20:.0f} MB; the index on disk: {on_disk / 2**20:.0f} MB)")
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            replica_mb = pool.apply(replica_rss_mb, (str(Path(temp) / "index"), version, queries))
        print(f"  {'replica_rss_mb':<22} {replica_mb:.0f} (a fresh process serving the index, as a Retriever "
              f"replica does, after {len(queries)} queries; Ray's worker runtime comes on top)")
        print(f"  {'targets':<22} p50 <= 15 ms: {results['index_p50_ms'] <= 15}, "
              f"recall@10 >= 0.95: {results['recall_at_10'] >= 0.95}")
        switching = asyncio.run(switch_under_load(Path(temp)))
        print("switching versions under load: " + ", ".join(f"{k} {v}" for k, v in switching.items()))


if __name__ == "__main__":
    main()
