"""`make lineage REQUEST=<id>`: answer -> passages -> documents -> ingestion run -> source location and version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.data.index_store import IndexStore

__all__ = ["find_audit_record", "trace_lineage"]


def find_audit_record(audit_dir: Path, request_id: str) -> dict[str, Any]:
    """The audit record of `request_id` (newest segment first)."""
    for path in sorted(audit_dir.glob("*.jsonl"), reverse=True):
        for line in path.read_text().splitlines():
            if request_id in line:
                record: dict[str, Any] = json.loads(line)
                if record.get("request_id") == request_id:
                    return record
    raise LookupError(f"REQUEST: no audit record {request_id!r} under {audit_dir}")


def trace_lineage(record: dict[str, Any], store: IndexStore) -> str:
    """The chain for one audited request, as text; says plainly when a link is missing."""
    lines = [f"request {record['request_id']}  {record.get('time', '')}  {record.get('route', '')}  "
             f"status {record.get('status')}  model {record.get('model_version')}"]
    retrieval = record.get("retrieval")
    if not retrieval:
        return "\n".join([*lines, "  used no indexed passage (no `retrieval` in its audit record)"])
    version = int(retrieval["index_version"])
    snapshot = store.open(version)
    run = store.run_for_version(version)
    documents = {d["document_id"]: d for d in run.documents}
    rows = {row["chunk_id"]: row for row in snapshot.passages([p["id"] for p in retrieval["passages"]])}
    lines.append(f"  index {store.uri}#{store.table_name} version {version}")
    lines.append(f"  ingestion run {run.run_id}  from {run.source_uri}  ({run.started} .. {run.finished})")
    for n, passage in enumerate(retrieval["passages"], start=1):
        row = rows.get(passage["id"])
        if row is None:
            lines.append(f"  [{n}] passage {passage['id']}: NOT in version {version}")
            continue
        intact = "hash ok" if row["content_sha256"] == passage["content_sha256"] else "HASH MISMATCH"
        lines.append(f"  [{n}] passage {passage['id']} ({row['source']}, #{row['ordinal']}, {intact})")
        document = documents.get(row["document_id"], {})
        scope = f", tenant {row['tenant']} only" if row["tenant"] else ""
        lines.append(f"      document {row['document_id']}  sha256 {str(document.get('sha256', '?'))[:16]}...  "
                     f"cleared for {', '.join(row['data_classes'])}{scope}")
        lines.append(f"      source   {document.get('location', '?')}  ({document.get('source_version', '?')})")
    return "\n".join(lines)
