"""Every Prometheus metric name Rampart's serving layer exports or relies on, with its meaning.

A plain data module (it imports only the platform's identity) so dashboards and their tests can read it without Ray. Ray
prefixes application metrics with `ray_`; histograms appear as `<name>_bucket`/`_sum`/`_count`
and counters as `<name>_total`. Append new names at the end of the block they belong to.
"""

from platform_facts.project import METRIC_PREFIX

__all__ = ["EXPORTED_METRICS"]

EXPORTED_METRICS: dict[str, str] = {
    # Ray Serve's own metrics (per application/deployment/route).
    "ray_serve_num_http_requests_total": "HTTP requests handled by the Serve proxy, by route, method and status code.",
    "ray_serve_num_http_error_requests_total": "HTTP requests that ended with a non-2xx status, by route and error code.",
    "ray_serve_http_request_latency_ms_bucket": "End-to-end HTTP latency at the proxy, histogram in milliseconds.",
    "ray_serve_deployment_request_counter_total": "Requests processed per deployment replica.",
    "ray_serve_deployment_error_counter_total": "Exceptions raised per deployment replica.",
    "ray_serve_deployment_processing_latency_ms_bucket": "Time a replica spent on a request, histogram in milliseconds.",
    "ray_serve_replica_processing_queries": "Requests a replica is processing right now.",
    "ray_serve_deployment_replica_healthy": "1 when a replica passes its health check.",
    "ray_serve_num_ongoing_http_requests": "HTTP requests in flight at the proxy.",
    "ray_serve_batch_wait_time_ms_bucket": "Time requests waited for a @serve.batch batch to fill, histogram in milliseconds.",
    "ray_serve_batch_execution_time_ms_bucket": "Time one @serve.batch call took, histogram in milliseconds.",
    # The platform's inference layer (services/inference/metrics.py).
    f"ray_{METRIC_PREFIX}_requests_total": "Public API requests by route and HTTP status.",
    f"ray_{METRIC_PREFIX}_request_latency_ms_bucket": "Public API latency by route, histogram in milliseconds (ingress replica).",
    f"ray_{METRIC_PREFIX}_embedding_batch_size_bucket": "Sentences per embedding model call, histogram.",
    f"ray_{METRIC_PREFIX}_model_load_seconds": "Seconds the last model load took, by deployment and model.",
    # The platform's safety gateway (services/gateway/metrics.py; via Ray, and per replica at /v1/gateway/metrics without `ray_`).
    f"ray_{METRIC_PREFIX}_gateway_requests_total": "Gateway requests answered, by route, tenant and status code.",
    f"ray_{METRIC_PREFIX}_gateway_request_latency_seconds_bucket": "Gateway request latency, histogram in seconds, by route.",
    f"ray_{METRIC_PREFIX}_gateway_scanner_verdicts_total": "Scanner verdicts, by scanner, stage, action and shadow.",
    f"ray_{METRIC_PREFIX}_gateway_scanner_latency_seconds_bucket": "Scanner latency, histogram in seconds, by scanner and stage.",
    f"ray_{METRIC_PREFIX}_gateway_scanner_errors_total": "Scanners that raised, by scanner and stage.",
    f"ray_{METRIC_PREFIX}_gateway_fallbacks_total": "Requests served by a fallback step, by route and step.",
    f"ray_{METRIC_PREFIX}_gateway_degraded_total": "Degraded responses, by route and reason.",
    f"ray_{METRIC_PREFIX}_gateway_backend_failures_total": "Failed backend attempts, by backend and cause.",
    f"ray_{METRIC_PREFIX}_gateway_circuit_open": "1 while a backend's circuit breaker is open.",
    f"ray_{METRIC_PREFIX}_gateway_hedged_attempts_total": "Attempts started while the one before was still running, by backend.",
    f"ray_{METRIC_PREFIX}_gateway_rate_limited_total": "Requests refused by rate limit or token quota, by tenant and kind.",
    f"ray_{METRIC_PREFIX}_gateway_tokens_total": "Model tokens used, by tenant.",
    f"ray_{METRIC_PREFIX}_gateway_cost_usd_total": "Estimated model cost in USD, by tenant.",
    f"ray_{METRIC_PREFIX}_gateway_shadow_total": "Shadow requests, by candidate backend and outcome.",
    f"ray_{METRIC_PREFIX}_gateway_review_queued_total": "Items put on the human review queue, by reason.",
    f"ray_{METRIC_PREFIX}_gateway_feedback_total": "Feedback ratings, by model version, source (api, review) and rating.",
    f"ray_{METRIC_PREFIX}_gateway_promotion_weight": "A candidate's share of its route's traffic in percent (promotion).",
    f"ray_{METRIC_PREFIX}_gateway_promotion_decisions_total": "Promotion controller decisions, by route and action.",
    f"ray_{METRIC_PREFIX}_gateway_config_reloads_total": "Gateway config reloads, by outcome.",
    f"ray_{METRIC_PREFIX}_gateway_input_length_mean": "Moving mean of input length in characters (drift).",
    f"ray_{METRIC_PREFIX}_gateway_input_length_shift": "Relative shift of mean input length against the baseline (drift).",
    f"ray_{METRIC_PREFIX}_gateway_embedding_centroid_shift": "Cosine distance of the input embedding centroid from the baseline, per vector space (drift).",
    # NVIDIA DCGM exporter (GPU nodes).
    "DCGM_FI_DEV_GPU_UTIL": "GPU utilisation, percent.",
    "DCGM_FI_DEV_FB_USED": "GPU framebuffer memory used, MiB.",
    "DCGM_FI_DEV_FB_FREE": "GPU framebuffer memory free, MiB.",
    # kube-state-metrics (installed by kube-prometheus-stack; used by the GPU and cost dashboards).
    "kube_node_status_allocatable": "Allocatable resources per node, by resource (nvidia_com_gpu for GPUs).",
    "kube_node_labels": "Node labels as `label_<name>` (`<domain>/gpu` becomes `label_<domain>_gpu`, each `.` and `-` an `_`).",
}
