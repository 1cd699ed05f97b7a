"""Routing: which model version answers a request, what it falls back to, and whether a shadow copy goes out.

The primary version is a weighted (canary) choice between the route's versions (or, while the
promotion controller rolls a candidate out on the route, between stable and candidate at the weights
it set: `weights`); the other
versions of the route come next in the chain (same model family), then the route's fallbacks.
Regulated tenants are only ever routed to on-prem model versions; when a route has none, the
request is refused (403 `data_residency`, residency.py) rather than sent to the cloud.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from services.gateway.config import GatewayConfig, ModelVersionConfig, RouteConfig
from services.gateway.residency import eligible, residency_refusal

__all__ = ["ChainStep", "RoutingDecision", "route_request"]

REVIEW_STEP = "review"


@dataclass(frozen=True)
class ChainStep:
    """One entry of a request's fallback chain: a model version to call, or the human review queue."""

    name: str
    model_version: ModelVersionConfig | None
    """None for the `review` step."""
    primary: bool


@dataclass(frozen=True)
class RoutingDecision:
    chain: tuple[ChainStep, ...]
    """Tried in order until one answers."""
    shadow: ChainStep | None
    """A candidate that gets a copy of this request; its answer is recorded, never returned."""


def route_request(
    config: GatewayConfig, route: RouteConfig, regulated: bool, rng: random.Random,
    weights: Mapping[str, float] | None = None,
) -> RoutingDecision:
    """Raises ResidencyError (403) when a regulated request has no on-prem model version to go to.

    `weights` (model version → weight) replaces the route's configured versions; versions at weight 0
    are still in the chain, after the chosen one, as same-family fallbacks."""
    if weights is None:
        versions = [(v.model_version, v.weight) for v in route.versions if eligible(config, v.model_version, regulated)]
        standby = []
    else:
        versions = [(name, weight) for name, weight in weights.items()
                    if weight > 0 and eligible(config, name, regulated)]
        standby = [name for name, weight in weights.items() if weight <= 0 and eligible(config, name, regulated)]
    if not versions:
        raise residency_refusal(route)
    chosen = rng.choices([name for name, _ in versions], weights=[weight for _, weight in versions])[0]
    chain = [ChainStep(chosen, config.model_versions[chosen], primary=True)]
    for name in [name for name, _ in versions if name != chosen] + standby + list(route.fallback):
        if name == REVIEW_STEP:
            chain.append(ChainStep(REVIEW_STEP, None, primary=False))
        elif eligible(config, name, regulated) and name not in {step.name for step in chain}:
            chain.append(ChainStep(name, config.model_versions[name], primary=False))
    shadow = None
    shadowed = route.shadow is not None and eligible(config, route.shadow.model_version, regulated)
    if route.shadow and shadowed and rng.random() < route.shadow.sample_rate:
        name = route.shadow.model_version
        shadow = ChainStep(name, config.model_versions[name], primary=False)
    return RoutingDecision(tuple(chain), shadow)
