"""Which version the rehearsal's loop rolls out on each environment's chat route (the rest of the loop runs
against the rehearsed clusters: `make rehearse`)."""

from __future__ import annotations

from services.gateway.config import RouteConfig, parse_gateway_config
from tests.fixtures.configs import rendered_config
from tools.rehearse.loop import promotion_candidate


def _route(versions: list[tuple[str, float]], shadow: str | None = None) -> RouteConfig:
    return RouteConfig.model_validate({
        "path": "/v1/chat/completions", "kind": "chat", "scope": "chat", "public_model": "chat",
        "versions": [{"model_version": name, "weight": weight} for name, weight in versions],
        **({"shadow": {"model_version": shadow, "sample_rate": 0.1}} if shadow else {}),
    })


def test_the_shadowed_version_is_rolled_out_else_a_canary_version_else_none() -> None:
    assert promotion_candidate(_route([("v1", 90), ("v2", 10)], shadow="v3")) == "v3"
    assert promotion_candidate(_route([("v1", 90), ("v2", 10)], shadow="v2")) == "v2"
    assert promotion_candidate(_route([("v1", 10), ("v2", 90)])) == "v1"
    assert promotion_candidate(_route([("v1", 1)])) is None


def test_staging_rolls_out_the_version_it_shadows() -> None:
    route = parse_gateway_config(rendered_config("gateway", "staging"), "gateway-staging.yaml").routes["chat"]
    assert route.shadow is not None
    assert promotion_candidate(route) == route.shadow.model_version
