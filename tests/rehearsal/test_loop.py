"""Which versions the rehearsal's loop rolls out on each environment's chat route, and the good candidate's
weights (the rest of the loop runs against the rehearsed clusters: `make rehearse`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.gateway.config import RouteConfig, parse_gateway_config
from tests.fixtures.configs import rendered_config
from tools.rehearse.loop import bad_candidate, candidate_twins, promotion_candidate
from tools.rehearse.models import stage_models


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


def test_the_bad_candidate_is_a_served_version_other_than_stable_and_the_good_one() -> None:
    assert bad_candidate(_route([("v1", 90), ("v2", 10)], shadow="v3"), "v3") == "v2"
    assert bad_candidate(_route([("v1", 90), ("v2", 10)]), "v2") is None


def test_staging_s_good_candidate_is_built_with_its_stable_version_s_weights() -> None:
    """The tiny-model substitution gives each served version its own seed; the good candidate reuses stable's."""
    config = parse_gateway_config(rendered_config("gateway", "staging"), "gateway-staging.yaml")
    route = config.routes["chat"]
    good = promotion_candidate(route)
    assert good is not None
    assert candidate_twins(config) == {config.model_versions[good].model: config.model_versions["chat-v1"].model}
    assert bad_candidate(route, good) == "chat-v2"  # the canary: its own weights, rated down by the rehearsal
    prod = parse_gateway_config(rendered_config("gateway", "prod"), "gateway-prod.yaml")
    assert candidate_twins(prod) == {}  # no candidate on prod's chat route


def _generator(name: str) -> dict[str, Any]:
    return {"engine": "transformers", "model_name": name, "source": {"uri": f"/models/{name}"}}


def test_a_twin_gets_the_weights_of_the_model_it_names(tmp_path: Path) -> None:
    """Built for real (the tests' tiny GPT-2) and hashed the way the model store pins them."""
    serve_config = {"applications": [{"name": "app", "args": {
        "generator": _generator("stable"), "additional_generators": [_generator("canary"), _generator("candidate")],
    }}]}
    checksums = stage_models(serve_config, None, lambda path: tmp_path / "pods" / path.lstrip("/"),
                             tmp_path / "work", {"candidate": "stable"})
    assert checksums["candidate"] == checksums["stable"] != checksums["canary"]
