"""Circuit breakers per backend, and the choice of backends for one request.

A breaker opens after `breaker.failures` consecutive failures; while open, the backend is
skipped (no request waits on its timeout); after `breaker.reset_s` one trial request is let
through (half-open) and its outcome closes or re-opens the circuit.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from services.gateway.config import BackendConfig, BreakerConfig, GatewayConfig, RouteConfig
from services.gateway.errors import NoEligibleBackendError

__all__ = ["CircuitBreaker", "Plan", "Step", "plan_request"]

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.config.reset_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_in_flight = False
        if self._opened_at is not None or self._failures >= self.config.failures:
            self._opened_at = self._clock()


@dataclass(frozen=True)
class Step:
    """One entry of a request's fallback chain: a backend to call, or the human review queue."""

    name: str
    backend: BackendConfig | None
    """None for the `review` step."""
    primary: bool


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    shadow: tuple[str, BackendConfig] | None


def plan_request(
    config: GatewayConfig, route: RouteConfig, regulated: bool, rng: random.Random
) -> Plan:
    """Pick the version by canary weight, then the fallback chain; regulated tenants: on-prem only.

    Raises NoEligibleBackendError (503) when a regulated tenant has no on-prem backend at all.
    """

    def eligible(name: str) -> bool:
        return not regulated or config.backends[name].location == "on_prem"

    versions = [version for version in route.versions if eligible(version.backend)]
    if not versions:
        raise NoEligibleBackendError(
            f"no on-prem backend serves {route.path}; regulated data is never sent to a cloud backend",
            route=route.path,
        )
    chosen = rng.choices(versions, weights=[version.weight for version in versions])[0].backend
    steps = [Step(chosen, config.backends[chosen], primary=True)]
    # The other canary versions come first in the chain (same model family), then the fallbacks.
    for name in [version.backend for version in versions if version.backend != chosen] + list(route.fallback):
        if name == "review":
            steps.append(Step("review", None, primary=False))
        elif eligible(name) and name not in {step.name for step in steps}:
            steps.append(Step(name, config.backends[name], primary=False))
    shadow = None
    if route.shadow and eligible(route.shadow.backend) and rng.random() < route.shadow.sample_rate:
        shadow = (route.shadow.backend, config.backends[route.shadow.backend])
    return Plan(tuple(steps), shadow)
