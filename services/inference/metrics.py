"""Rampart's own Prometheus metrics, recorded through Ray Serve (names in services/metrics_catalog.py).

Ray Serve adds the deployment, replica and application tags and exports everything through the
node's metrics agent next to its own `ray_serve_*` series.
"""

from __future__ import annotations

import time
from typing import Any

from ray.serve.metrics import Counter, Gauge, Histogram

from platform_facts.project import metric

__all__ = ["RequestMetricsMiddleware", "batch_size_histogram", "record_model_load"]

_LATENCY_BOUNDARIES_MS = [
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
    200.0,
    500.0,
    1000.0,
    2000.0,
    5000.0,
    10000.0,
    30000.0,
]
_BATCH_BOUNDARIES = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]


def batch_size_histogram() -> Histogram:
    """Sentences per embedding model call."""
    return Histogram(
        metric("embedding_batch_size"), description="Sentences per embedding model call.", boundaries=_BATCH_BOUNDARIES
    )


def record_model_load(model: str, seconds: float) -> None:
    """Record how long loading `model` took in this replica."""
    gauge = Gauge(metric("model_load_seconds"), description="Seconds the last model load took.", tag_keys=("model",))
    gauge.set(seconds, tags={"model": model})


class RequestMetricsMiddleware:
    """Pure ASGI middleware counting requests by route and status and timing them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        # Ray annotates `tag_keys` as a 1-tuple; any tuple of names is what it accepts at run time.
        tag_keys: Any = ("path", "status")
        self.requests = Counter(metric("requests"), description="Public API requests.", tag_keys=tag_keys)
        self.latency = Histogram(
            metric("request_latency_ms"),
            description="Public API latency in ms.",
            boundaries=_LATENCY_BOUNDARIES_MS,
            tag_keys=("path",),
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            path = scope.get("path", "")
            self.requests.inc(tags={"path": path, "status": str(status)})
            self.latency.observe((time.perf_counter() - started) * 1000, tags={"path": path})
