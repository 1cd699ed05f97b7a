"""Residency on the real Ray-served application: a gateway with only cloud versions for a route refuses a
regulated tenant there.

The application is the session's multi-tenant one (tests/fixtures/tenants.py): its embeddings route is
served by a cloud version only, as every route of a cloud platform's gateway is, and it has a regulated
tenant (`bank`) and a standard one (`local`), each with its own key. Nothing is mocked: the key store,
admission, the edge and the audit log are the real ones inside the Serve replica.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.fixtures.tenants import TenantsApp

pytestmark = pytest.mark.serve

REGULATED = "bank"


def _client(gateway: TenantsApp, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0, timeout=60)


def test_a_cloud_only_route_refuses_a_regulated_tenant_clearly_and_audits_it(tenants_app: TenantsApp) -> None:
    served = _client(tenants_app, tenants_app.keys["local"]).embeddings.create(
        model=tenants_app.embed_model, input=["x"])
    assert len(served.data[0].embedding) == 384  # the same route serves a standard tenant
    # The regulated tenant is served where the route has an on-prem version: the refusal is the route's.
    rag = httpx.post(f"{tenants_app.base_url}/v1/rag/query", json={"query": "quota limits", "k": 3},
                     headers={"Authorization": f"Bearer {tenants_app.keys[REGULATED]}"}, timeout=60)
    assert rag.status_code == 200 and rag.json()["passages"], rag.text

    with pytest.raises(openai.PermissionDeniedError) as refused:
        _client(tenants_app, tenants_app.keys[REGULATED]).embeddings.create(
            model=tenants_app.embed_model, input=["account 12345 of a regulated customer"])
    error = refused.value.body
    assert isinstance(error, dict)
    assert (error["code"], error["type"], error["tenant"], error["served_by"]) == (
        "data_residency", "permission_error", REGULATED, "on_prem")
    assert "served by the on-prem gateway" in error["message"]
    # The answer's request ids (Serve's and the gateway's, or the one they share): the audit record has one.
    request_ids = set(refused.value.response.headers.get_list("x-request-id"))

    deadline = time.monotonic() + 10  # the replica writes the record before the answer's last byte
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not records:
        records = [r for r in tenants_app.audit_records() if r.get("request_id") in request_ids]
        time.sleep(0.2)
    assert [(r["tenant"], r["status"], r["error"]) for r in records] == [(REGULATED, 403, "data_residency")]
