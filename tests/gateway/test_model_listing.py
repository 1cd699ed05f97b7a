"""`GET /v1/models` through the gateway lists the public model names a client sends, not the served ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from platform_facts import project
from services.gateway import GatewayMiddleware
from tests.gateway.harness import ModelBench, auth

pytestmark = pytest.mark.anyio

CHAT, EMBED = f"{project.PROJECT_NAME}-chat", f"{project.PROJECT_NAME}-embed"


def _with_model_route(config: dict[str, Any]) -> None:
    config["routes"]["model"] = {"path": "/v1/models/{model_id}", "kind": "passthrough", "scope": "models",
                                 "methods": ["GET"]}


def _http(gateway: GatewayMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway")


async def test_the_listing_names_public_models_with_the_served_cards_details(
    make_gateway: Callable[..., GatewayMiddleware],
) -> None:
    async with _http(make_gateway(_with_model_route)) as client:
        listing = await client.get("/v1/models", headers=auth("northwind"))
        chat = await client.get(f"/v1/models/{CHAT}", headers=auth("northwind"))
        served_id = await client.get("/v1/models/gen-v1", headers=auth("northwind"))
    assert listing.status_code == 200
    assert listing.json() == {"object": "list", "data": [
        {"id": CHAT, "object": "model", "created": 1, "owned_by": project.PROJECT_NAME, "kind": "chat"},
        {"id": EMBED, "object": "model", "created": 1, "owned_by": project.PROJECT_NAME, "kind": "embedding"},
    ]}
    assert chat.status_code == 200 and chat.json()["id"] == CHAT and chat.json()["kind"] == "chat"
    # A served id is not a name a client of the gateway can send.
    assert served_id.status_code == 404
    assert served_id.json()["error"]["param"] == "model"
    assert f"this gateway serves {CHAT}, {EMBED}" in served_id.json()["error"]["message"]


async def test_a_public_model_nothing_serves_is_not_listed(
    make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench
) -> None:
    bench.unlisted.add("gen-v1")
    async with _http(make_gateway()) as client:
        listing = await client.get("/v1/models", headers=auth("northwind"))
    assert [card["id"] for card in listing.json()["data"]] == [EMBED]


async def test_a_regulated_tenant_sees_only_what_it_may_reach_here(
    make_gateway: Callable[..., GatewayMiddleware],
) -> None:
    async with _http(make_gateway()) as client:
        listing = await client.get("/v1/models", headers=auth("bank"))
    # The chat route's only version runs in the cloud; the embedder is on-prem.
    assert [card["id"] for card in listing.json()["data"]] == [EMBED]
