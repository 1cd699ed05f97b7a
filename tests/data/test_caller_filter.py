"""The caller's tenant and data class, from the gateway to the retriever's filter.

Two layers: the gateway in front of a small ASGI app that echoes the headers it is called with
(fast, no Ray: what the serving layer sees), and the serving layer's own answer to caller headers
it cannot use (400 naming the header). The whole chain on the real application is in
tests/data/test_caller_filter_served.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.data.index_store import PassageFilter
from services.gateway import GatewayMiddleware
from services.gateway.quotas import ProcessLedger
from services.inference.caller import DATA_CLASS_HEADER, TENANT_HEADER, Caller, passage_filter_for
from services.inference.settings import GatewaySettings
from tests.gateway.harness import auth, base_config, chat_body, write_gateway_config


def _echo_app() -> Starlette:
    """Answers every route with the caller headers it received (and nothing else of interest)."""

    def caller(request: Request) -> dict[str, str | None]:
        return {"tenant": request.headers.get(TENANT_HEADER), "data_class": request.headers.get(DATA_CLASS_HEADER)}

    async def rag(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"query": body["query"], "passages": [], "caller": caller(request)})

    async def chat(request: Request) -> Response:
        return JSONResponse({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gen-v1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "an answer"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, "caller": caller(request),
        })

    async def schema(request: Request) -> Response:
        return JSONResponse({"openapi": "3.0.2", "caller": caller(request)})

    return Starlette(routes=[
        Route("/v1/rag/query", rag, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/docs.json", schema, methods=["GET"]),
    ])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = base_config(tmp_path / "keys.yaml")
    config["model_versions"]["gen-v1"]["location"] = "on_prem"  # so the regulated tenant may chat too
    config["routes"]["openapi"] = {"path": "/docs.json", "kind": "passthrough", "scope": "models", "methods": ["GET"]}
    settings = GatewaySettings(env="test", config_path=str(write_gateway_config(tmp_path, config)),
                               state_dir=str(tmp_path / "state"))
    middleware = GatewayMiddleware(_echo_app(), settings, ledger=ProcessLedger())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://gateway") as http:
            yield http
    finally:
        await middleware.drain()
        middleware.close()


# A client that claims another tenant's identity and a wider clearance than its own.
FORGED = {TENANT_HEADER: "northwind", DATA_CLASS_HEADER: "standard"}


@pytest.mark.anyio
@pytest.mark.parametrize(("key", "expected"), [
    ("bank", {"tenant": "bank", "data_class": "regulated"}),
    ("northwind", {"tenant": "northwind", "data_class": "standard"}),
])
async def test_the_serving_layer_sees_the_authenticated_caller_never_the_clients_claim(
    gateway: httpx.AsyncClient, key: str, expected: dict[str, str]
) -> None:
    forged = {**auth(key), TENANT_HEADER: "intruder", DATA_CLASS_HEADER: "standard"}
    rag = await gateway.post("/v1/rag/query", json={"query": "quota limits"}, headers=forged)
    chat = await gateway.post("/v1/chat/completions", json=chat_body(), headers=forged)
    schema = await gateway.get("/docs.json", headers=forged)  # a passthrough route
    for response in (rag, chat, schema):
        assert response.status_code == 200, response.text
        assert response.json()["caller"] == expected


@pytest.mark.anyio
async def test_a_regulated_callers_forged_headers_are_dropped_not_merged(gateway: httpx.AsyncClient) -> None:
    # Header names are case-insensitive: an upper-case copy is the same header and dropped too.
    forged = {**auth("bank"), TENANT_HEADER.upper(): FORGED[TENANT_HEADER], DATA_CLASS_HEADER: "standard"}
    response = await gateway.post("/v1/rag/query", json={"query": "quota limits"}, headers=forged)
    assert response.json()["caller"] == {"tenant": "bank", "data_class": "regulated"}


def test_caller_headers_become_the_retrievers_filter() -> None:
    assert passage_filter_for({}) is None  # no gateway in front: nobody to filter for
    headers = {TENANT_HEADER: "bank", DATA_CLASS_HEADER: "regulated"}
    assert passage_filter_for(headers) == PassageFilter(tenant="bank", data_class="regulated")
    assert Caller(tenant="bank", data_class="regulated").headers() == [
        (TENANT_HEADER.encode(), b"bank"), (DATA_CLASS_HEADER.encode(), b"regulated")]


@pytest.mark.parametrize(("headers", "field", "message"), [
    ({TENANT_HEADER: "bank"}, DATA_CLASS_HEADER, "Field required"),
    ({DATA_CLASS_HEADER: "regulated"}, TENANT_HEADER, "Field required"),
    ({TENANT_HEADER: "bank", DATA_CLASS_HEADER: "secret"}, DATA_CLASS_HEADER, "'standard' or 'regulated'"),
    ({TENANT_HEADER: "x' OR '1'='1", DATA_CLASS_HEADER: "standard"}, TENANT_HEADER, "should match pattern"),
])
def test_unusable_caller_headers_are_refused_naming_the_header(
    headers: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        passage_filter_for(headers)
    first = refused.value.errors()[0]
    assert first["loc"] == (field,) and message in first["msg"]
