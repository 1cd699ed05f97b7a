"""`GET /v1/models` and `GET /v1/models/{model_id}` as a client of this gateway sees them.

A client sends a route's `public_model`; the gateway picks the model version that answers it. The
serving layer's own listing names the served models (`rampart-extractive`), which a client of the
gateway cannot send, and leaves out the public names (`rampart-chat`) it can. So the gateway asks the
serving layer for its listing and answers with one card per public model this key may use, each
carrying the served card's details (`kind`, `tools`, `created`) of a version that answers it. A
public model none of whose versions is served is not listed (it would only answer errors), and a
regulated tenant sees only models it may reach from here (residency.py).
"""

from __future__ import annotations

from typing import Any

from services.gateway.asgi import ASGIApp, Send, call_app, json_or_none
from services.gateway.config import GatewayConfig, RouteConfig
from services.gateway.edge import send_captured, send_json
from services.gateway.errors import BackendUnavailableError, ModelNotFoundError
from services.gateway.exchange import Exchange
from services.gateway.keys import ApiKey
from services.gateway.residency import eligible

__all__ = ["LIST_PATH", "MODEL_PATH", "ModelListing", "public_cards"]

LIST_PATH = "/v1/models"
MODEL_PATH = "/v1/models/{model_id}"
LISTING_TIMEOUT_S = 30.0


def public_cards(config: GatewayConfig, key: ApiKey, served: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One card per public model `key` may use, from the served card of a version that answers it."""
    tenant = config.tenants.get(key.tenant)
    regulated = tenant is not None and tenant.data_class == "regulated"
    cards: dict[str, dict[str, Any]] = {}
    for route in config.routes.values():
        public = route.public_model
        if public is None or public in cards or not ("*" in key.models or public in key.models):
            continue
        for version in route.versions:
            served_card = served.get(config.model_versions[version.model_version].model)
            if served_card is not None and eligible(config, version.model_version, regulated):
                cards[public] = {**served_card, "id": public}
                break
    return list(cards.values())


class ModelListing:
    """Answers the model listing routes from the serving layer's listing and the gateway's routes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def handles(route: RouteConfig) -> bool:
        return route.path in (LIST_PATH, MODEL_PATH)

    async def __call__(self, exchange: Exchange, send: Send) -> None:
        scope = exchange.scope
        listing_path = scope.get("root_path", "") + LIST_PATH
        listing_scope = {**scope, "method": "GET", "path": listing_path, "raw_path": listing_path.encode(),
                         "query_string": b""}
        captured = await call_app(self.app, listing_scope, b"", LISTING_TIMEOUT_S)
        if captured.status != 200:
            await send_captured(send, captured)
            return
        listing = json_or_none(captured.body)
        if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
            raise BackendUnavailableError("the serving layer's model listing could not be read", component="models")
        served = {card["id"]: card for card in listing["data"] if isinstance(card, dict) and "id" in card}
        cards = public_cards(exchange.runtime.config, exchange.require_key(), served)
        if exchange.require_route().path == LIST_PATH:
            await send_json(send, 200, {"object": "list", "data": cards})
            return
        model_id = exchange.path.removeprefix(LIST_PATH + "/")
        card = next((card for card in cards if card["id"] == model_id), None)
        if card is None:
            raise ModelNotFoundError(
                f"model: unknown model {model_id!r}; this gateway serves {', '.join(c['id'] for c in cards) or 'none'}",
                param="model",
            )
        await send_json(send, 200, card)

