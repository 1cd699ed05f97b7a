"""The gateway's Prometheus metrics, in a registry owned by one gateway instance.

Names are listed in `GATEWAY_METRICS` (and appended to services/metrics_catalog.py for the
dashboards). Scraped from the gateway's metrics path (`/v1/gateway/metrics`, scope `admin`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["GATEWAY_METRICS", "GatewayMetrics"]

GATEWAY_METRICS: dict[str, str] = {
    "rampart_gateway_requests_total": "Requests answered, by route, tenant and status code.",
    "rampart_gateway_request_latency_seconds": "Gateway request latency (histogram), by route.",
    "rampart_gateway_scanner_verdicts_total": "Scanner verdicts, by scanner, stage, action and shadow.",
    "rampart_gateway_scanner_latency_seconds": "Scanner latency (histogram), by scanner and stage.",
    "rampart_gateway_scanner_errors_total": "Scanners that raised, by scanner and stage.",
    "rampart_gateway_fallbacks_total": "Requests served by a fallback step, by route and step.",
    "rampart_gateway_degraded_total": "Degraded responses, by route and reason.",
    "rampart_gateway_backend_failures_total": "Backend attempts that failed, by backend and cause.",
    "rampart_gateway_circuit_open": "1 while a backend's circuit breaker is open.",
    "rampart_gateway_rate_limited_total": "Requests refused by rate limit or token quota, by tenant and kind.",
    "rampart_gateway_tokens_total": "Model tokens used, by tenant.",
    "rampart_gateway_cost_usd_total": "Estimated model cost in USD, by tenant.",
    "rampart_gateway_shadow_total": "Shadow requests, by backend and outcome (agree, differ, error).",
    "rampart_gateway_review_queued_total": "Items put on the human review queue, by reason.",
    "rampart_gateway_config_reloads_total": "Config reloads, by outcome (ok, error).",
    "rampart_gateway_input_length_mean": "Moving mean of input length in characters.",
    "rampart_gateway_input_length_shift": "Relative shift of mean input length against the baseline.",
    "rampart_gateway_embedding_centroid_shift": "Cosine distance of the input embedding centroid from the baseline.",
}

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SCANNER_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


def _help(name: str) -> str:
    return GATEWAY_METRICS[name]


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # prometheus_client appends `_total` to counters itself: register them without it.
        self.requests = Counter("rampart_gateway_requests", _help("rampart_gateway_requests_total"),
                                ["route", "tenant", "status"], registry=r)
        self.latency = Histogram("rampart_gateway_request_latency_seconds",
                                 _help("rampart_gateway_request_latency_seconds"), ["route"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.verdicts = Counter("rampart_gateway_scanner_verdicts", _help("rampart_gateway_scanner_verdicts_total"),
                                ["scanner", "stage", "action", "shadow"], registry=r)
        self.scanner_latency = Histogram("rampart_gateway_scanner_latency_seconds",
                                         _help("rampart_gateway_scanner_latency_seconds"), ["scanner", "stage"],
                                         buckets=_SCANNER_BUCKETS, registry=r)
        self.scanner_errors = Counter("rampart_gateway_scanner_errors", _help("rampart_gateway_scanner_errors_total"),
                                      ["scanner", "stage"], registry=r)
        self.fallbacks = Counter("rampart_gateway_fallbacks", _help("rampart_gateway_fallbacks_total"),
                                 ["route", "step"], registry=r)
        self.degraded = Counter("rampart_gateway_degraded", _help("rampart_gateway_degraded_total"),
                                ["route", "reason"], registry=r)
        self.backend_failures = Counter("rampart_gateway_backend_failures",
                                        _help("rampart_gateway_backend_failures_total"), ["backend", "cause"],
                                        registry=r)
        self.circuit_open = Gauge("rampart_gateway_circuit_open", _help("rampart_gateway_circuit_open"),
                                  ["backend"], registry=r)
        self.rate_limited = Counter("rampart_gateway_rate_limited", _help("rampart_gateway_rate_limited_total"),
                                    ["tenant", "kind"], registry=r)
        self.tokens = Counter("rampart_gateway_tokens", _help("rampart_gateway_tokens_total"), ["tenant"], registry=r)
        self.cost = Counter("rampart_gateway_cost_usd", _help("rampart_gateway_cost_usd_total"), ["tenant"], registry=r)
        self.shadow = Counter("rampart_gateway_shadow", _help("rampart_gateway_shadow_total"),
                              ["backend", "outcome"], registry=r)
        self.review_queued = Counter("rampart_gateway_review_queued", _help("rampart_gateway_review_queued_total"),
                                     ["reason"], registry=r)
        self.config_reloads = Counter("rampart_gateway_config_reloads", _help("rampart_gateway_config_reloads_total"),
                                      ["outcome"], registry=r)
        self.input_length_mean = Gauge("rampart_gateway_input_length_mean",
                                       _help("rampart_gateway_input_length_mean"), registry=r)
        self.input_length_shift = Gauge("rampart_gateway_input_length_shift",
                                        _help("rampart_gateway_input_length_shift"), registry=r)
        self.centroid_shift = Gauge("rampart_gateway_embedding_centroid_shift",
                                    _help("rampart_gateway_embedding_centroid_shift"), registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0.0 when it was never set): for tests and the bench."""
        found = self.registry.get_sample_value(name, labels or {})
        return 0.0 if found is None else found
