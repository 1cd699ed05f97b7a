"""Lineage of an answer served through the gateway (the real application on Ray Serve): the audit
record names the index version and the passages, and `make lineage` walks them back to the source."""

from __future__ import annotations

import httpx
import pytest

from services.data.index_store import IndexStore
from services.data.lineage_trace import find_audit_record, trace_lineage
from services.gateway import local_api_key
from tests.fixtures.serve import Gated, ServeApp

pytestmark = pytest.mark.serve


@pytest.mark.parametrize("route", ["rag", "chat"])
def test_lineage_prints_for_an_answer_served_through_the_gateway(gated: Gated, serve_app: ServeApp, route: str) -> None:
    headers = {"Authorization": f"Bearer {local_api_key()}"}
    question = "How are per-tenant quotas enforced across replicas?"
    if route == "rag":
        response = httpx.post(f"{gated.base_url}/v1/rag/query", json={"query": question, "k": 2}, headers=headers,
                              timeout=60)
        used = response.json()["passages"]
    else:
        response = httpx.post(f"{gated.base_url}/v1/chat/completions", headers=headers, timeout=60,
                              json={"model": gated.chat_model, "messages": [{"role": "user", "content": question}]})
        used = [{"id": c["passage_id"], "content_sha256": c["content_sha256"], "index_version": c["index_version"]}
                for c in response.json()["citations"]]
    assert response.status_code == 200 and used
    # Serve's proxy adds an x-request-id of its own next to the gateway's: the audit log knows one of them.
    records = []
    for candidate in response.headers.get_list("x-request-id"):
        try:
            records.append(find_audit_record(gated.state_dir / "audit", candidate))
        except LookupError:
            continue
    assert len(records) == 1
    record = records[0]
    request_id = record["request_id"]
    assert record["retrieval"] == {
        "index_version": used[0]["index_version"],
        "passages": [{"id": p["id"], "content_sha256": p["content_sha256"]} for p in used],
    }
    index = serve_app.args["retriever"]["index"]
    printed = trace_lineage(record, IndexStore(index["uri"], index.get("table", "docs")))
    assert f"request {request_id}" in printed and f"version {used[0]['index_version']}" in printed
    assert printed.count("hash ok") == len(used)
    assert "ingestion run " in printed and "source   " in printed and ".md  (mtime_ns=" in printed
