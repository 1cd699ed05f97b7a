"""The gateway's Prometheus metrics.

Every metric lives in a registry owned by one gateway instance (served at `/v1/gateway/metrics`,
scope `admin`, and readable in tests). Inside a Ray Serve replica each update is mirrored into
Ray Serve's metrics (`ray.serve.metrics`), which the node's metrics agent exports with the
`ray_` prefix next to the serving layer's series — the names the dashboards use
(services/metrics_catalog.py). Counter increments and gauge values reach Ray summed once per
`flush_interval_s` (`RayMetricBuffer`), not per request.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from platform_facts import project

__all__ = ["GATEWAY_METRICS", "GatewayMetrics", "RayMetricBuffer"]

GATEWAY = project.metric("gateway")
"""First part of every gateway metric name (`rampart_gateway`: the platform's metric prefix, then `gateway`)."""

GATEWAY_METRICS: dict[str, str] = {
    f"{GATEWAY}_requests_total": "Requests answered, by route, tenant and status code.",
    f"{GATEWAY}_request_latency_seconds": "Gateway request latency (histogram), by route.",
    f"{GATEWAY}_scanner_verdicts_total": "Scanner verdicts, by scanner, stage, action and shadow.",
    f"{GATEWAY}_scanner_latency_seconds": "Scanner latency (histogram), by scanner and stage.",
    f"{GATEWAY}_scanner_errors_total": "Scanners that raised, by scanner and stage.",
    f"{GATEWAY}_fallbacks_total": "Requests served by a fallback step, by route and step.",
    f"{GATEWAY}_degraded_total": "Degraded responses, by route and reason.",
    f"{GATEWAY}_backend_failures_total": "Backend attempts that failed, by backend and cause.",
    f"{GATEWAY}_circuit_open": "1 while a backend's circuit breaker is open.",
    f"{GATEWAY}_hedged_attempts_total": "Attempts started because the one before had not answered in "
    "`hedge_after_s`, by backend.",
    f"{GATEWAY}_rate_limited_total": "Requests refused by rate limit or token quota, by tenant and kind.",
    f"{GATEWAY}_tokens_total": "Model tokens used, by tenant.",
    f"{GATEWAY}_cost_usd_total": "Estimated model cost in USD, by tenant.",
    f"{GATEWAY}_shadow_total": "Shadow requests, by backend and outcome (agree, differ, error).",
    f"{GATEWAY}_review_queued_total": "Items put on the human review queue, by reason.",
    f"{GATEWAY}_feedback_total": "Feedback ratings received, by model version, source (api, review) and "
    "rating (-1, 0, 1); (good - bad) / all is the feedback score.",
    f"{GATEWAY}_promotion_weight": "The candidate's share of a route's traffic in percent, by route, candidate.",
    f"{GATEWAY}_promotion_decisions_total": "Promotion controller decisions, by route and action.",
    f"{GATEWAY}_config_reloads_total": "Config reloads, by outcome (ok, error).",
    f"{GATEWAY}_input_length_mean": "Moving mean of input length in characters.",
    f"{GATEWAY}_input_length_shift": "Relative shift of mean input length against the baseline.",
    f"{GATEWAY}_embedding_centroid_shift": "Cosine distance of the embedding centroid from its baseline, per space.",
}

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SCANNER_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


def _help(name: str) -> str:
    return GATEWAY_METRICS[name]


class GatewayMetrics:
    def __init__(self, ray_export: bool = False, flush_interval_s: float = 1.0) -> None:
        self.registry = CollectorRegistry()
        self._ray_export = ray_export
        self._ray_buffer = RayMetricBuffer(flush_interval_s)
        r = self.registry
        # prometheus_client appends `_total` to counters itself: register them without it.
        self.requests = self._mirrored(
            Counter,
            f"{GATEWAY}_requests",
            _help(f"{GATEWAY}_requests_total"),
            ["route", "tenant", "status"],
            registry=r,
        )
        self.latency = self._mirrored(
            Histogram,
            f"{GATEWAY}_request_latency_seconds",
            _help(f"{GATEWAY}_request_latency_seconds"),
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.verdicts = self._mirrored(
            Counter,
            f"{GATEWAY}_scanner_verdicts",
            _help(f"{GATEWAY}_scanner_verdicts_total"),
            ["scanner", "stage", "action", "shadow"],
            registry=r,
        )
        self.scanner_latency = self._mirrored(
            Histogram,
            f"{GATEWAY}_scanner_latency_seconds",
            _help(f"{GATEWAY}_scanner_latency_seconds"),
            ["scanner", "stage"],
            buckets=_SCANNER_BUCKETS,
            registry=r,
        )
        self.scanner_errors = self._mirrored(
            Counter,
            f"{GATEWAY}_scanner_errors",
            _help(f"{GATEWAY}_scanner_errors_total"),
            ["scanner", "stage"],
            registry=r,
        )
        self.fallbacks = self._mirrored(
            Counter,
            f"{GATEWAY}_fallbacks",
            _help(f"{GATEWAY}_fallbacks_total"),
            ["route", "step"],
            registry=r,
        )
        self.degraded = self._mirrored(
            Counter,
            f"{GATEWAY}_degraded",
            _help(f"{GATEWAY}_degraded_total"),
            ["route", "reason"],
            registry=r,
        )
        self.backend_failures = self._mirrored(
            Counter,
            f"{GATEWAY}_backend_failures",
            _help(f"{GATEWAY}_backend_failures_total"),
            ["backend", "cause"],
            registry=r,
        )
        self.hedged_attempts = self._mirrored(
            Counter, f"{GATEWAY}_hedged_attempts", _help(f"{GATEWAY}_hedged_attempts_total"), ["backend"], registry=r
        )
        self.circuit_open = self._mirrored(
            Gauge, f"{GATEWAY}_circuit_open", _help(f"{GATEWAY}_circuit_open"), ["backend"], registry=r
        )
        self.rate_limited = self._mirrored(
            Counter,
            f"{GATEWAY}_rate_limited",
            _help(f"{GATEWAY}_rate_limited_total"),
            ["tenant", "kind"],
            registry=r,
        )
        self.tokens = self._mirrored(
            Counter, f"{GATEWAY}_tokens", _help(f"{GATEWAY}_tokens_total"), ["tenant"], registry=r
        )
        self.cost = self._mirrored(
            Counter, f"{GATEWAY}_cost_usd", _help(f"{GATEWAY}_cost_usd_total"), ["tenant"], registry=r
        )
        self.shadow = self._mirrored(
            Counter, f"{GATEWAY}_shadow", _help(f"{GATEWAY}_shadow_total"), ["backend", "outcome"], registry=r
        )
        self.review_queued = self._mirrored(
            Counter,
            f"{GATEWAY}_review_queued",
            _help(f"{GATEWAY}_review_queued_total"),
            ["reason"],
            registry=r,
        )
        self.feedback = self._mirrored(
            Counter, f"{GATEWAY}_feedback", _help(f"{GATEWAY}_feedback_total"),
            ["model_version", "source", "rating"], registry=r,
        )
        self.promotion_weight = self._mirrored(
            Gauge, f"{GATEWAY}_promotion_weight", _help(f"{GATEWAY}_promotion_weight"),
            ["route", "candidate"], registry=r,
        )
        self.promotion_decisions = self._mirrored(
            Counter, f"{GATEWAY}_promotion_decisions", _help(f"{GATEWAY}_promotion_decisions_total"),
            ["route", "action"], registry=r,
        )
        self.config_reloads = self._mirrored(
            Counter,
            f"{GATEWAY}_config_reloads",
            _help(f"{GATEWAY}_config_reloads_total"),
            ["outcome"],
            registry=r,
        )
        self.input_length_mean = self._mirrored(
            Gauge, f"{GATEWAY}_input_length_mean", _help(f"{GATEWAY}_input_length_mean"), registry=r
        )
        self.input_length_shift = self._mirrored(
            Gauge, f"{GATEWAY}_input_length_shift", _help(f"{GATEWAY}_input_length_shift"), registry=r
        )
        self.centroid_shift = self._mirrored(
            Gauge,
            f"{GATEWAY}_embedding_centroid_shift",
            _help(f"{GATEWAY}_embedding_centroid_shift"),
            ["space"],
            registry=r,
        )

    def _mirrored(self, kind: Any, name: str, documentation: str, labelnames: Any = (), **kwargs: Any) -> Any:
        metric = kind(name, documentation, labelnames, **kwargs)
        if not self._ray_export:
            return metric
        from ray.serve import metrics as serve_metrics

        tag_keys = tuple(labelnames)
        mirror: Any
        if kind is Counter:
            mirror = serve_metrics.Counter(name, description=documentation, tag_keys=tag_keys)
        elif kind is Gauge:
            mirror = serve_metrics.Gauge(name, description=documentation, tag_keys=tag_keys)
        else:
            mirror = serve_metrics.Histogram(
                name, description=documentation, boundaries=list(kwargs["buckets"]), tag_keys=tag_keys
            )
        return _Mirrored(metric, mirror, self._ray_buffer, tag_keys)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0.0 when it was never set): for tests and the bench."""
        found = self.registry.get_sample_value(name, labels or {})
        return 0.0 if found is None else found


class RayMetricBuffer:
    """Counter increments and gauge values on their way to Ray's metrics, sent once per interval.

    A Ray metric update costs the replica's event loop more than a prometheus_client one, and the
    gateway makes a dozen per request (one per scanner verdict, token and cost counters, drift
    gauges): half of its own time in the served application (docs/serving.md, "Performance").
    Ray's agent exports every few seconds anyway, so per-interval sums lose nothing a dashboard
    shows. A daemon thread, started with the first update, sends them; `flush` sends them now.
    Histograms are not buffered: a Ray histogram takes one observation at a time. A replica that
    dies loses at most one interval of counts from Ray's series (its own registry has them all).
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._increments: dict[_Mirrored, float] = {}
        self._values: dict[_Mirrored, float] = {}
        self._sender: threading.Thread | None = None

    def add(self, metric: _Mirrored, amount: float) -> None:
        with self._lock:
            self._increments[metric] = self._increments.get(metric, 0.0) + amount
            self._start_sender()

    def put(self, metric: _Mirrored, value: float) -> None:
        with self._lock:
            self._values[metric] = value
            self._start_sender()

    def flush(self) -> None:
        with self._lock:
            increments, self._increments = self._increments, {}
            values, self._values = self._values, {}
        for metric, amount in increments.items():
            metric.mirror.inc(amount, tags=metric.tags)
        for metric, value in values.items():
            metric.mirror.set(value, tags=metric.tags)

    def _start_sender(self) -> None:
        if self._sender is None:
            self._sender = threading.Thread(target=self._send_forever, name="ray-metrics-sender", daemon=True)
            self._sender.start()

    def _send_forever(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self.flush()


class _Mirrored:
    """A prometheus_client metric whose updates also go to a Ray Serve metric of the same name."""

    def __init__(
        self,
        metric: Any,
        mirror: Any,
        buffer: RayMetricBuffer,
        tag_keys: tuple[str, ...],
        tags: dict[str, str] | None = None,
    ):
        self._metric = metric
        self.mirror = mirror
        self._buffer = buffer
        self._tag_keys = tag_keys
        self.tags = tags or {}
        self._children: dict[tuple[str, ...], _Mirrored] = {}

    def labels(self, *values: str) -> _Mirrored:
        # One child per label set, kept: the buffer sums per child, and the hot path skips a lookup.
        child = self._children.get(values)
        if child is None:
            child = _Mirrored(
                self._metric.labels(*values),
                self.mirror,
                self._buffer,
                self._tag_keys,
                dict(zip(self._tag_keys, values, strict=True)),
            )
            self._children[values] = child
        return child

    def inc(self, amount: float = 1.0) -> None:
        self._metric.inc(amount)
        if amount > 0:
            self._buffer.add(self, amount)

    def set(self, value: float) -> None:
        self._metric.set(value)
        self._buffer.put(self, value)

    def observe(self, value: float) -> None:
        self._metric.observe(value)
        self.mirror.observe(value, tags=self.tags)
