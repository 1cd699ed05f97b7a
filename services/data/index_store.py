"""The versioned vector index: one LanceDB table of passages, every ingestion a new table version.

LanceDB runs embedded (no server): a directory locally, `s3://bucket/prefix` in the clouds. Beside
the passages table the store keeps two append-only tables:

- `<table>__runs`: one row per ingestion run (source, per-document identity, quality report),
  keyed by the passages table version it wrote: lineage goes version -> run -> source documents;
- `<table>__serving`: the version replicas serve (`ingest` and `rollback` append a row; the
  newest wins). Replicas whose config pins no version follow it.

Queries filter before ranking (LanceDB prefilter), so a tenant's filter can never be satisfied by
ranking others' passages first and dropping them after.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from services.data.errors import IndexMissing, IndexVersionMissing
from services.data.metadata import NAME_PATTERN

if TYPE_CHECKING:
    from lancedb.index import HnswSq

__all__ = ["IndexSnapshot", "IndexStore", "PassageFilter", "RunRecord", "SearchHit", "passages_schema"]

_NAME = re.compile(NAME_PATTERN)
# An approximate-nearest-neighbour index pays off only on large tables; below this, flat search is
# exact and already fast (bench/bench_retrieval.py measures both).
ANN_MIN_ROWS = 20_000


def ann_index() -> HnswSq:
    """IVF partitions, each an HNSW graph over 8-bit scalar-quantised vectors: at 100k passages its
    recall@10 against exact search was 0.99 at LanceDB's default search settings, where IVF-PQ needed
    10x refinement over 40 partitions (a re-read of full vectors per query) and was twice as slow
    (docs/data.md, "Measured")."""
    # Imported here, as `lancedb` in IndexStore: it takes ~2 s, and every Serve replica process imports
    # this module through services.app, though only the Retriever and ingestion open an index.
    from lancedb.index import HnswSq

    return HnswSq(distance_type="dot")


def passages_schema(dimensions: int) -> pa.Schema:
    return pa.schema([
        pa.field("chunk_id", pa.string(), nullable=False),
        pa.field("document_id", pa.string(), nullable=False),
        pa.field("ordinal", pa.int32(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("content_sha256", pa.string(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dimensions), nullable=False),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("data_classes", pa.list_(pa.string()), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ])


_RUNS_SCHEMA = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("table_version", pa.int64(), nullable=False),
    pa.field("source_uri", pa.string(), nullable=False),
    pa.field("started", pa.string(), nullable=False),
    pa.field("finished", pa.string(), nullable=False),
    # JSON: [{document_id, location, source_version, sha256, chunks}], and the run's quality report.
    pa.field("documents", pa.string(), nullable=False),
    pa.field("report", pa.string(), nullable=False),
])

_SERVING_SCHEMA = pa.schema([
    pa.field("time", pa.string(), nullable=False),
    pa.field("table_version", pa.int64(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
])


@dataclass(frozen=True)
class PassageFilter:
    """Who is asking: only passages for their tenant (or every tenant) and cleared for their data class."""

    tenant: str | None = None
    data_class: str | None = None

    def where(self) -> str | None:
        clauses = []
        if self.tenant is not None:
            _check_name("tenant", self.tenant)
            clauses.append(f"(tenant = '' OR tenant = '{self.tenant}')")
        if self.data_class is not None:
            _check_name("data_class", self.data_class)
            clauses.append(f"array_has(data_classes, '{self.data_class}')")
        return " AND ".join(clauses) or None


@dataclass(frozen=True)
class SearchHit:
    chunk_id: str
    document_id: str
    source: str
    text: str
    content_sha256: str
    score: float


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    table_version: int
    source_uri: str
    started: str
    finished: str
    documents: list[dict[str, Any]]
    report: dict[str, Any]


def _check_name(field: str, value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(f"{field}: {value!r} must be 1-128 letters, digits, '_', '.' or '-'")


def storage_options_from_env(uri: str) -> dict[str, str]:
    """Object-store options for an `s3://` index, from the standard AWS variables (endpoint for
    S3-compatible stores and moto; credentials come from the usual chain otherwise)."""
    if not uri.startswith("s3://"):
        return {}
    options: dict[str, str] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["aws_endpoint"] = endpoint
        if endpoint.startswith("http://"):
            options["allow_http"] = "true"
    for variable, option in (
        ("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
        ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
        ("AWS_SESSION_TOKEN", "aws_session_token"),
    ):
        if os.environ.get(variable):
            options[option] = os.environ[variable]
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return options


class IndexSnapshot:
    """One version of the passages table, opened for queries."""

    def __init__(self, table: Any, version: int) -> None:
        self._table = table
        self.version = version
        self.rows: int = table.count_rows()
        self.dimensions: int = table.schema.field("vector").type.list_size

    def search(self, vector: npt.NDArray[np.float32], k: int, passage_filter: PassageFilter | None = None
               ) -> list[SearchHit]:
        """The `k` passages closest to `vector` (unit length) that pass the filter, best first."""
        if self.rows == 0:
            return []
        query = self._table.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector")
        query = query.distance_type("dot").limit(k).select(
            ["chunk_id", "document_id", "source", "text", "content_sha256", "_distance"]
        )
        where = passage_filter.where() if passage_filter else None
        if where:
            query = query.where(where, prefilter=True)
        rows = query.to_arrow().to_pylist()
        return [
            SearchHit(row["chunk_id"], row["document_id"], row["source"], row["text"], row["content_sha256"],
                      round(1.0 - float(row["_distance"]), 4))
            for row in rows
        ]

    def passages(self, chunk_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The rows of these passages (without vectors), for lineage."""
        for chunk_id in chunk_ids:
            _check_name("chunk_id", chunk_id)
        if not chunk_ids:
            return []
        wanted = ", ".join(f"'{c}'" for c in chunk_ids)
        rows: list[dict[str, Any]] = (
            self._table.search().where(f"chunk_id IN ({wanted})")
            .select(["chunk_id", "document_id", "ordinal", "source", "content_sha256", "tenant", "data_classes",
                     "run_id"])
            .limit(len(chunk_ids)).to_arrow().to_pylist()
        )
        return rows

    def schema_fields(self) -> dict[str, str]:
        return {field.name: str(field.type) for field in self._table.schema}


class IndexStore:
    """The passages table and its run and serving logs at one location."""

    def __init__(self, uri: str, table: str = "docs", storage_options: dict[str, str] | None = None) -> None:
        import lancedb

        _check_name("index.table", table)
        self.uri = uri
        self.table_name = table
        options = storage_options if storage_options is not None else storage_options_from_env(uri)
        self.db = lancedb.connect(uri, storage_options=options or None)

    # ------------------------------------------------------------------ tables

    def _names(self) -> set[str]:
        return set(self.db.list_tables().tables)

    def exists(self) -> bool:
        return self.table_name in self._names()

    def _open(self, name: str) -> Any:
        return self.db.open_table(name)

    def _log(self, suffix: str, schema: pa.Schema) -> Any:
        name = f"{self.table_name}__{suffix}"
        return self._open(name) if name in self._names() else self.db.create_table(name, schema=schema)

    def _passages(self) -> Any:
        if not self.exists():
            raise IndexMissing(f"index: no table {self.table_name!r} at {self.uri} (run `make ingest` first)")
        return self._open(self.table_name)

    # ------------------------------------------------------------------ versions

    def versions(self) -> list[int]:
        """Versions that hold an ingestion run, oldest first."""
        if not self.exists():
            return []
        return sorted(run.table_version for run in self.runs())

    def latest_version(self) -> int:
        versions = self.versions()
        if not versions:
            raise IndexMissing(f"index: {self.table_name!r} at {self.uri} holds no ingestion run yet")
        return versions[-1]

    def open(self, version: int | None = None) -> IndexSnapshot:
        """The table as of `version` (default: the latest run's)."""
        table = self._passages()
        wanted = self.latest_version() if version is None else version
        if wanted not in self.versions():
            raise IndexVersionMissing(self.table_name, wanted, self.versions())
        table.checkout(wanted)
        return IndexSnapshot(table, wanted)

    def write_passages(self, data: pa.Table | pa.RecordBatchReader) -> int:
        """Replace the passages with `data` (a table, or batches streamed from a cluster) as a new
        table version; returns it. Not served, nor listed in `versions`, until `record_run`."""
        if self.exists():
            table = self._open(self.table_name)
            table.add(data, mode="overwrite")
        else:
            table = self.db.create_table(self.table_name, data=data, schema=data.schema)
        if table.count_rows() >= ANN_MIN_ROWS:
            table.create_index("vector", config=ann_index())
        return int(table.version)

    def chunk_counts(self, version: int) -> dict[str, int]:
        """Passages per document in `version`."""
        table = self._passages()
        table.checkout(version)
        counts: dict[str, int] = {}
        for document_id in table.to_arrow().column("document_id").to_pylist():
            counts[document_id] = counts.get(document_id, 0) + 1
        return counts

    def record_run(self, run: RunRecord) -> None:
        """Log the run that wrote `run.table_version`; from now on the version is listed."""
        record = {**run.__dict__, "documents": json.dumps(run.documents), "report": json.dumps(run.report)}
        self._log("runs", _RUNS_SCHEMA).add(pa.Table.from_pylist([record], schema=_RUNS_SCHEMA))

    def runs(self) -> list[RunRecord]:
        if f"{self.table_name}__runs" not in self._names():
            return []
        rows = self._open(f"{self.table_name}__runs").to_arrow().to_pylist()
        return [RunRecord(r["run_id"], int(r["table_version"]), r["source_uri"], r["started"], r["finished"],
                          json.loads(r["documents"]), json.loads(r["report"])) for r in rows]

    def run_for_version(self, version: int) -> RunRecord:
        for run in self.runs():
            if run.table_version == version:
                return run
        raise IndexVersionMissing(self.table_name, version, self.versions())

    # ------------------------------------------------------------------ serving pin

    def serve(self, version: int, reason: str) -> None:
        """Point replicas that follow the store at `version` (they switch within their refresh interval)."""
        if version not in self.versions():
            raise IndexVersionMissing(self.table_name, version, self.versions())
        row = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "table_version": version, "reason": reason}
        self._log("serving", _SERVING_SCHEMA).add(pa.Table.from_pylist([row], schema=_SERVING_SCHEMA))

    def serving_version(self) -> int:
        """The version replicas serve: the newest serving pin, else the latest run's."""
        name = f"{self.table_name}__serving"
        if name in self._names():
            pins = self._open(name).to_arrow().to_pylist()
            if pins:
                return int(pins[-1]["table_version"])
        return self.latest_version()
