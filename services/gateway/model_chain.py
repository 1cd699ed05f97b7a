"""The model chain: call the routed model versions in order, with retries and a circuit breaker each.

A breaker opens after `breaker.failures` consecutive failures; while open, its model version is
skipped (no request waits on its timeout); after `breaker.reset_s` one trial request is let
through (half-open) and its outcome closes or re-opens the circuit. A failed call during which
another call to the same version succeeded does not count: the version answers, so the failure was
one replica's (lost mid-call, as when a node dies under load), and the retry it earns must not find
the circuit open. A failure a retry or a fallback may fix (5xx, timeout, crash) moves on; a 4xx is
an answer and ends the chain. A version with `hedge_after_s` gets its next attempt started beside a
unary one that has not answered by then (`ModelChain._attempts`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal, TypeVar

from services.gateway.asgi import ASGIApp, BackendFailure, Captured, Scope, abandon, call_app
from services.gateway.config import BreakerConfig, GatewayConfig, RouteConfig
from services.gateway.errors import BackendUnavailableError
from services.gateway.exchange import Exchange
from services.gateway.metrics import GatewayMetrics
from services.gateway.routing import ChainStep

__all__ = ["CircuitBreaker", "ModelChain"]

BreakerState = Literal["closed", "open", "half_open"]
Answer = TypeVar("Answer")


class CircuitBreaker:
    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self._last_success_at = float("-inf")

    def now(self) -> float:
        return self._clock()

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
        self._last_success_at = self._clock()
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_abandoned(self) -> None:
        """A call was cancelled before it ended: no outcome, but a half-open trial may be let through again."""
        self._trial_in_flight = False

    def record_failure(self, started_at: float) -> None:
        """A call begun at `started_at` (this breaker's clock) failed."""
        self._trial_in_flight = False
        if self._last_success_at > started_at:
            return  # another call succeeded while this one was in flight
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.config.failures:
            self._opened_at = self._clock()


class ModelChain:
    """The breakers of every model version (they outlive config reloads) and the calls through them."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, config: GatewayConfig) -> None:
        self.app = app
        self._metrics = metrics
        self._breakers: dict[str, CircuitBreaker] = {}
        self.sync_breakers(config)

    def sync_breakers(self, config: GatewayConfig) -> None:
        """Keep each breaker's state across a reload unless its settings changed."""
        for name, version in config.model_versions.items():
            breaker = self._breakers.get(name)
            if breaker is None or breaker.config != version.breaker:
                self._breakers[name] = CircuitBreaker(version.breaker)

    @staticmethod
    def request_body(route: RouteConfig, step: ChainStep, payload: dict[str, Any], stream: bool) -> bytes:
        """The client's payload, addressed to this step's model."""
        assert step.model_version is not None
        body = dict(payload)
        if route.kind in ("chat", "embeddings"):
            body["model"] = step.model_version.model
        if route.kind == "chat":
            body["stream"] = stream
        return json.dumps(body).encode()

    async def attempt(self, step: ChainStep, scope: Scope, body: bytes) -> Captured:
        """One call to one model version, its whole answer collected."""
        assert step.model_version is not None
        timeout_s = step.model_version.timeout_s
        try:
            captured = await call_app(self.app, scope, body, timeout_s)
        except TimeoutError:
            raise BackendFailure("timeout", f"no answer within {timeout_s}s") from None
        except BackendFailure:
            raise
        except Exception as error:
            raise BackendFailure("error", f"{type(error).__name__}: {error}") from None
        if captured.status >= 500:
            raise BackendFailure(f"http_{captured.status}", captured.body[:200].decode(errors="replace"))
        return captured

    async def call(
        self, exchange: Exchange, stream: bool, call: Callable[[ChainStep, bytes], Awaitable[Answer]]
    ) -> tuple[ChainStep, Answer | None]:
        """Try each step (with its retries) until one answers; the `review` step ends the chain (no answer).

        Marks the exchange with the step that answered; raises BackendUnavailableError when none did."""
        route, routing = exchange.require_route(), exchange.routing
        assert routing is not None, "the model chain runs after routing"
        failures: list[str] = []
        for step in routing.chain:
            if step.model_version is None:
                self._mark(exchange, step)
                return step, None
            body = self.request_body(route, step, exchange.payload, stream)
            answered, answer = await self._attempts(exchange, step, stream, partial(call, step, body), failures)
            if answered:
                self._mark(exchange, step)
                return step, answer
        raise BackendUnavailableError(f"no model version could answer {route.path}", attempts=failures)

    async def _attempts(
        self, exchange: Exchange, step: ChainStep, stream: bool, call: Callable[[], Awaitable[Answer]],
        failures: list[str],
    ) -> tuple[bool, Answer | None]:
        """Call one model version: an attempt, and a retry after each failure. With `hedge_after_s`
        (unary calls), also a retry whenever the newest attempt has not answered by then, the earlier
        ones left running: a call stuck on a lost node then costs `hedge_after_s`, not `timeout_s`.
        The first answer wins and the attempts still running are cancelled."""
        version, breaker = step.model_version, self._breakers[step.name]
        assert version is not None
        hedge_after_s = None if stream else version.hedge_after_s
        running: set[asyncio.Task[Answer]] = set()
        number, hedging = 0, False
        try:
            while True:
                if number <= version.retries:  # an attempt left: start it
                    if breaker.allow():
                        number += 1
                        if hedging:
                            self._metrics.hedged_attempts.labels(step.name).inc()
                        running.add(asyncio.ensure_future(self._attempt(exchange, step, stream, number, call)))
                    else:
                        number = version.retries + 1
                        failures.append(f"{step.name}: circuit open")
                        self._metrics.backend_failures.labels(step.name, "circuit_open").inc()
                if not running:
                    return False, None
                hedge = hedge_after_s if number <= version.retries else None
                finished, running = await asyncio.wait(running, timeout=hedge, return_when=asyncio.FIRST_COMPLETED)
                answers = []
                for task in finished:
                    try:
                        answers.append(task.result())
                    except BackendFailure as failure:
                        failures.append(f"{step.name}: {failure.cause}")
                if answers:
                    return True, answers[0]
                hedging = not finished  # none ended within `hedge_after_s`: the next attempt joins them
        finally:
            for task in running:
                abandon(task)

    async def _attempt(
        self, exchange: Exchange, step: ChainStep, stream: bool, number: int, call: Callable[[], Awaitable[Answer]]
    ) -> Answer:
        """One call to the model version, counted by its circuit breaker and the failure metrics."""
        breaker = self._breakers[step.name]
        started_at = breaker.now()
        try:
            with exchange.trace.attempt(step, stream, number):
                answer = await call()
        except BackendFailure as failure:
            breaker.record_failure(started_at)
            self._metrics.backend_failures.labels(step.name, failure.cause).inc()
            self._metrics.circuit_open.labels(step.name).set(1 if breaker.state != "closed" else 0)
            raise
        except asyncio.CancelledError:
            breaker.record_abandoned()  # another attempt answered, or the client left
            raise
        breaker.record_success()
        self._metrics.circuit_open.labels(step.name).set(0)
        return answer

    def _mark(self, exchange: Exchange, step: ChainStep) -> None:
        exchange.model_version = step.name
        if not step.primary:
            route = exchange.require_route()
            exchange.fallback = step.name
            exchange.degraded = f"fallback={step.name}"
            self._metrics.fallbacks.labels(route.path, step.name).inc()
            self._metrics.degraded.labels(route.path, "fallback").inc()
