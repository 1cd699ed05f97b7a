"""A regulated tenant's retrieval on the real application (Ray Serve, the gateway in front, the
retriever serving a LanceDB index this pipeline built): RAG answers and the passages a chat answer
cites come only from documents for the tenant (or every tenant) cleared for its data class, and
headers a client sends to claim another tenant or a wider clearance change nothing.

The application is the session's multi-tenant one (tests/fixtures/tenants.py): its corpus holds
documents of every kind of clearance on one subject, so every question finds all of them when
nothing filters; its gateway config has a regulated (`bank`) and a standard (`northwind`) tenant.
"""

from __future__ import annotations

import httpx
import pytest

from services.inference.caller import DATA_CLASS_HEADER, TENANT_HEADER
from tests.fixtures.serve import ServeApp
from tests.fixtures.tenants import TenantsApp

pytestmark = pytest.mark.serve

# The documents of the application's corpus (`CORPUS` in tests/fixtures/tenants.py) each tenant is cleared for.
CLEARED = {"bank": {"everyone-cleared.md", "bank-only.md"},
           "northwind": {"everyone-standard.md", "everyone-cleared.md", "northwind-only.md"}}
QUESTIONS = ["What are the quota limits of a tenant?", "tokens-per-minute quota limit", "requests per minute"]


def _documents(app: TenantsApp, tenant: str, question: str, extra_headers: dict[str, str] | None = None,
               route: str = "rag") -> set[str]:
    """The documents the passages used to answer `question` for `tenant` come from."""
    headers = {"Authorization": f"Bearer {app.keys[tenant]}", **(extra_headers or {})}
    if route == "rag":
        response = httpx.post(f"{app.base_url}/v1/rag/query", json={"query": question, "k": 10}, headers=headers,
                              timeout=60)
        assert response.status_code == 200, response.text
        sources = [passage["source"] for passage in response.json()["passages"]]
    else:
        body = {"model": app.chat_model, "messages": [{"role": "user", "content": question}]}
        response = httpx.post(f"{app.base_url}/v1/chat/completions", json=body, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        sources = [citation["source"] for citation in response.json()["citations"]]
    return {source.split("#")[0] for source in sources}


@pytest.mark.parametrize("route", ["rag", "chat"])
def test_each_tenant_retrieves_only_documents_cleared_for_it(tenants_app: TenantsApp, route: str) -> None:
    seen: dict[str, set[str]] = {"bank": set(), "northwind": set()}
    for question in QUESTIONS:
        for tenant in seen:
            documents = _documents(tenants_app, tenant, question, route=route)
            assert documents and documents <= CLEARED[tenant], (tenant, question, documents)
            seen[tenant] |= documents
    # The filter removed something the question matches: the other tenant is served it.
    assert "bank-only.md" in seen["bank"] and "everyone-standard.md" in seen["northwind"]


@pytest.mark.parametrize("forged", [
    {TENANT_HEADER: "northwind", DATA_CLASS_HEADER: "standard"},
    {DATA_CLASS_HEADER: "standard"},
    {TENANT_HEADER.upper(): "northwind", DATA_CLASS_HEADER.title(): "standard"},
])
def test_a_clients_own_caller_headers_cannot_widen_a_regulated_tenants_clearance(
    tenants_app: TenantsApp, forged: dict[str, str]
) -> None:
    for route in ("rag", "chat"):
        for question in QUESTIONS:
            documents = _documents(tenants_app, "bank", question, forged, route)
            assert documents <= CLEARED["bank"], (forged, route, question, documents)


@pytest.mark.parametrize(("headers", "field"), [
    ({TENANT_HEADER: "bank"}, DATA_CLASS_HEADER),
    ({TENANT_HEADER: "bank", DATA_CLASS_HEADER: "top-secret"}, DATA_CLASS_HEADER),
    ({TENANT_HEADER: "bank' OR '1'='1", DATA_CLASS_HEADER: "regulated"}, TENANT_HEADER),
])
def test_the_serving_layer_refuses_unusable_caller_headers_with_400_naming_them(
    serve_app: ServeApp, headers: dict[str, str], field: str
) -> None:
    """The ungated application: only there can a caller header reach the serving layer from outside."""
    chat = {"model": serve_app.args["generator"]["model_name"], "messages": [{"role": "user", "content": "quotas"}]}
    for path, body in (("/v1/rag/query", {"query": "quotas"}), ("/v1/chat/completions", chat)):
        response = httpx.post(f"{serve_app.base_url}{path}", json=body, headers=headers, timeout=60)
        assert response.status_code == 400, (path, response.text)
        error = response.json()["error"]
        assert error["param"] == field and error["message"].startswith(f"{field}: "), (path, error)
