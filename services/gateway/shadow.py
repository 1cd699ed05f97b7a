"""Shadow copies: a candidate model version answers the same request in the background.

Its answer is scanned like any other and compared with what the client got; the comparison goes
to the shared state store (`shadow_comparisons`, read by the promotion gates), never to the client.
Shadow copies never compete with real traffic beyond `MAX_SHADOW_IN_FLIGHT` at once: extras are
skipped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from platform_facts.project import PROJECT_NAME
from services.gateway.asgi import BackendFailure, json_or_none
from services.gateway.exchange import Exchange
from services.gateway.metrics import GatewayMetrics
from services.gateway.model_chain import ModelChain
from services.gateway.payloads import output_texts
from services.gateway.routing import ChainStep
from services.state import ShadowComparisonRow, StateStore

__all__ = ["MAX_SHADOW_IN_FLIGHT", "ShadowCopies", "similarity"]

MAX_SHADOW_IN_FLIGHT = 8
AGREEMENT_THRESHOLD = 0.5

log = logging.getLogger(f"{PROJECT_NAME}.gateway")


class ShadowCopies:
    def __init__(self, store: StateStore, chain: ModelChain, metrics: GatewayMetrics) -> None:
        self.store = store
        self._chain = chain
        self._metrics = metrics
        self._in_flight: set[asyncio.Task[None]] = set()

    def start(self, exchange: Exchange, primary_answer: dict[str, Any]) -> None:
        routing = exchange.routing
        if routing is None or routing.shadow is None:
            return
        step = routing.shadow
        if len(self._in_flight) >= MAX_SHADOW_IN_FLIGHT:
            self._metrics.shadow.labels(step.name, "skipped").inc()
            return
        route = exchange.require_route()
        primary = [item.text for item in output_texts(route.kind, primary_answer)]
        body = self._chain.request_body(route, step, exchange.payload, stream=False)
        task = asyncio.create_task(self._compare(exchange, step, body, primary))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _compare(self, exchange: Exchange, step: ChainStep, body: bytes, primary: list[str]) -> None:
        route = exchange.require_route()
        started = time.perf_counter()
        row = ShadowComparisonRow(
            created=time.time(), request_id=exchange.request_id, route=route.path,
            primary_version=exchange.model_version, candidate=step.name, outcome="error", similarity=None,
            status=None, error=None, latency_ms=0.0, answer=[],
        )
        try:
            captured = await self._chain.attempt(step, exchange.scope, body)
            answer = json_or_none(captured.body)
            pipeline = exchange.runtime.pipeline_for(exchange.tenant)
            candidate = [pipeline.scan_output(item.text).text for item in output_texts(route.kind, answer)]
            agreement = similarity(" ".join(primary), " ".join(candidate))
            row.outcome = "agree" if agreement >= AGREEMENT_THRESHOLD else "differ"
            row.status, row.answer, row.similarity = captured.status, candidate, round(agreement, 4)
        except BackendFailure as failure:
            row.error = failure.cause
        row.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        self._metrics.shadow.labels(step.name, row.outcome).inc()
        try:
            await asyncio.to_thread(self.store.shadow.add, row)
        except Exception:
            log.exception("shadow comparison for request %s not recorded: the state store failed", row.request_id)

    async def drain(self) -> None:
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of word sets: a cheap, model-free agreement measure for shadow answers."""
    left, right = set(a.lower().split()), set(b.lower().split())
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)
