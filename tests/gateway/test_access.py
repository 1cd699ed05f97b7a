"""Access: API keys (hash lookup, scopes), request limits, rate limits and token quotas."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from platform_facts import project
from services.gateway import GatewayMiddleware
from tests.gateway.harness import ModelBench, auth, chat_body

pytestmark = pytest.mark.anyio


async def test_missing_key_is_401_saying_missing(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 401
    assert response.json()["error"]["reason"] == "missing_key"
    assert "Authorization: Bearer" in response.json()["error"]["message"]


async def test_wrong_key_is_401_saying_invalid(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json=chat_body(), headers={"X-API-Key": "rk-nope"})
    assert response.status_code == 401
    assert response.json()["error"] == {
        "message": "invalid API key", "type": "authentication_error", "param": None, "code": "unauthorized",
        "reason": "invalid_key",
    }


async def test_key_without_scope_is_403_naming_the_scope(client: httpx.AsyncClient, bench: ModelBench) -> None:
    body = {"model": f"{project.PROJECT_NAME}-embed", "input": "hello"}
    response = await client.post("/v1/embeddings", json=body, headers=auth("northwind_chat_only"))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["required_scope"] == "embeddings" and error["key_id"] == "northwind_chat_only"
    assert bench.calls == []


async def test_review_endpoints_need_review_scopes(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/review/items", headers=auth("northwind"))
    assert response.status_code == 403
    assert response.json()["error"]["required_scope"] == "review:read"


async def test_valid_key_reaches_the_model_and_unknown_paths_are_404(client: httpx.AsyncClient) -> None:
    ok = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    assert ok.status_code == 200
    assert ok.json()["choices"][0]["message"]["content"] == "answer from gen-v1 about the platform"
    assert ok.headers[f"x-{project.PROJECT_NAME}-model-version"] == "gen-v1"
    missing = await client.post("/v1/secret-admin", json={}, headers=auth("northwind"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_public_paths_need_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).text == "ok"


async def test_unknown_model_is_404_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json=chat_body(model="gpt-9"), headers=auth("northwind"))
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "model"


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, bench: ModelBench) -> None:
    response = await client.post("/v1/chat/completions", content=b"x" * 30_000, headers=auth("northwind"))
    assert response.status_code == 413
    assert response.json()["error"]["param"] == "body"
    assert bench.calls == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": f"{project.PROJECT_NAME}-chat", "messages": [{"role": "user", "content": "hi"}] * 5}, "messages"),
        (chat_body("word " * 500), "messages.0.content"),
        ({"model": f"{project.PROJECT_NAME}-chat", "messages": "not a list"}, "messages"),
        ({"model": f"{project.PROJECT_NAME}-embed", "input": ["a"] * 9}, "input"),
    ],
)
async def test_request_limits_are_400_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    path = "/v1/embeddings" if "input" in body else "/v1/chat/completions"
    response = await client.post(path, json=body, headers=auth("northwind"))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == field


async def test_invalid_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", content=b"{not json", headers=auth("northwind"))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "body"


async def test_rate_limit_is_429_with_retry_after(client: httpx.AsyncClient) -> None:
    statuses = []
    for _ in range(5):
        response = await client.post("/v1/chat/completions", json=chat_body("hi"), headers=auth("tiny"))
        statuses.append(response.status_code)
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"]["kind"] == "requests"


async def test_token_quota_is_429_when_a_request_needs_more_than_is_left(client: httpx.AsyncClient) -> None:
    big = chat_body("word " * 390)  # 390 tokens of a 1000-token-per-minute quota
    first = await client.post("/v1/chat/completions", json=big, headers=auth("tiny"))
    second = await client.post("/v1/chat/completions", json=big, headers=auth("tiny"))
    third = await client.post("/v1/chat/completions", json=big, headers=auth("tiny"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429 and third.json()["error"]["kind"] == "tokens"


async def test_limits_hold_across_replicas_sharing_one_ledger(
    make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench
) -> None:
    """Two gateway instances (two replicas) lease from one ledger: together they admit 3 per minute."""
    from services.gateway.quotas import ProcessLedger

    ledger = ProcessLedger()
    replicas: list[GatewayMiddleware] = [make_gateway(ledger=ledger), make_gateway(ledger=ledger)]
    statuses = []
    for index in range(8):
        transport = httpx.ASGITransport(app=replicas[index % 2])
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            response = await http.post("/v1/chat/completions", json=chat_body("hi"), headers=auth("tiny"))
            statuses.append(response.status_code)
    assert statuses.count(200) == 3
    assert statuses.count(429) == 5


async def test_replicas_lease_quota_in_batches_not_per_request(make_gateway, bench: ModelBench) -> None:  # type: ignore[no-untyped-def]
    """lease_size 8: sixteen requests cost two request leases and a few token leases (sized once the
    typical tokens per request are known), not 32 ledger calls."""
    from services.gateway.quotas import ProcessLedger

    ledger = ProcessLedger()

    def lease_eight(config: dict[str, object]) -> None:
        config["quotas"] = {"ledger": "process", "lease_size": 8, "lease_ttl_s": 60}

    gateway = make_gateway(lease_eight, ledger=ledger)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
        for _ in range(16):
            response = await http.post("/v1/chat/completions", json=chat_body("same size"), headers=auth("northwind"))
            assert response.status_code == 200
    assert ledger.calls <= 5
