"""Metrics: requests, latency, verdicts, tokens and cost per tenant, and input drift gauges."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from platform_facts import project
from services.gateway import GATEWAY_METRICS, GatewayMiddleware
from services.gateway.drift import Baseline, DriftTracker, load_baseline, write_baseline
from services.metrics_catalog import EXPORTED_METRICS
from tests.gateway.harness import auth, chat_body

pytestmark = pytest.mark.anyio


def http(gateway: GatewayMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw")


async def test_metrics_endpoint_exposes_requests_tokens_cost_and_verdicts(gateway: GatewayMiddleware) -> None:
    async with http(gateway) as client:
        for _ in range(3):
            await client.post("/v1/chat/completions", json=chat_body("tell me about serving"), headers=auth("northwind"))
        await client.post("/v1/chat/completions", json=chat_body())  # 401
        forbidden = await client.get("/v1/gateway/metrics", headers=auth("northwind"))
        exposition = (await client.get("/v1/gateway/metrics", headers=auth("reviewer"))).text
    assert forbidden.status_code == 403
    assert f'{project.METRIC_PREFIX}_gateway_requests_total{{route="/v1/chat/completions",status="200",tenant="northwind"}} 3.0' in exposition
    assert f'{project.METRIC_PREFIX}_gateway_requests_total{{route="/v1/chat/completions",status="401",tenant=""}} 1.0' in exposition
    tokens = gateway.metrics.value(project.metric("gateway_tokens_total"), {"tenant": "northwind"})
    assert tokens == 3 * (4 + 6)  # prompt "tell me about serving" + answer "answer from gen-v1 about the platform"
    assert gateway.metrics.value(project.metric("gateway_cost_usd_total"), {"tenant": "northwind"}) == pytest.approx(tokens / 1000 * 2.0)
    assert gateway.metrics.value(project.metric("gateway_request_latency_seconds_count"), {"route": "/v1/chat/completions"}) == 4
    assert gateway.metrics.value(project.metric("gateway_scanner_verdicts_total"),
                                 {"scanner": "prompt_injection", "stage": "input", "action": "allow", "shadow": "false"}) == 3


def test_every_gateway_metric_is_in_the_catalog() -> None:
    for name in GATEWAY_METRICS:
        exported = "ray_" + (name + "_bucket" if name.endswith("_seconds") else name)
        assert exported in EXPORTED_METRICS, name


def _baseline(tmp_path: Path) -> Callable[[dict[str, Any]], None]:
    path = tmp_path / "baseline.json"
    write_baseline(path, [20, 22, 18], [[20.0, 1.0, 0.0], [22.0, 1.0, 0.0]])

    def edit(config: dict[str, Any]) -> None:
        config["drift"] = {"baseline": str(path), "window": 10}

    return edit


async def test_drift_gauges_move_when_inputs_shift(make_gateway: Callable[..., GatewayMiddleware], tmp_path: Path) -> None:
    gateway = make_gateway(_baseline(tmp_path))
    async with http(gateway) as client:
        for _ in range(5):
            await client.post("/v1/embeddings", json={"model": f"{project.PROJECT_NAME}-embed", "input": "x" * 20}, headers=auth("northwind"))
        steady_length = gateway.metrics.value(project.metric("gateway_input_length_shift"))
        steady_centroid = gateway.metrics.value(project.metric("gateway_embedding_centroid_shift"))
        for _ in range(20):
            await client.post("/v1/embeddings", json={"model": f"{project.PROJECT_NAME}-embed", "input": "y" * 600}, headers=auth("northwind"))
    assert steady_length < 0.05 and steady_centroid < 0.01
    assert gateway.metrics.value(project.metric("gateway_input_length_shift")) > 10
    assert gateway.metrics.value(project.metric("gateway_input_length_mean")) > 300
    # The bench embeds a text as [len, 1, 0]: long inputs turn the centroid towards the first axis.
    assert gateway.metrics.value(project.metric("gateway_embedding_centroid_shift")) > steady_centroid


def test_drift_baseline_from_warmup_and_file_round_trip(tmp_path: Path) -> None:
    tracker = DriftTracker(None, window=4, warmup=3)
    for length in (10, 10, 10):
        tracker.observe_text(length)
    assert tracker.length_shift == 0.0
    for _ in range(10):
        tracker.observe_text(30)
    assert tracker.length_shift == pytest.approx(2.0, rel=0.05)
    path = tmp_path / "b.json"
    write_baseline(path, [1, 3], [[1.0, 0.0], [0.0, 1.0]])
    assert load_baseline(path) == Baseline(2.0, (0.5, 0.5))
    assert json.loads(path.read_text())["centroid"] == [0.5, 0.5]


def test_drift_leaves_out_vectors_of_another_models_size() -> None:
    """The scanners' prompt vectors and the embeddings route's answers can come from two models: the
    first size seen (or the baseline's) is the space; a vector of another size neither moves the
    centroid nor breaks the request (it raised a broadcasting error, found by test_fuzz)."""
    tracker = DriftTracker(None, window=4, warmup=3)
    tracker.observe_embedding([1.0, 0.0, 0.0, 0.0])
    tracker.observe_embedding([1.0, 0.0, 0.0])
    tracker.observe_embedding([1.0, 0.0, 0.0, 0.0])
    tracker.observe_embedding([1.0, 0.0, 0.0, 0.0])
    assert tracker.centroid_shift == 0.0
    tracker.observe_embedding([0.0, 1.0, 0.0])
    assert tracker.centroid is not None and tracker.centroid.tolist() == [1.0, 0.0, 0.0, 0.0]
    fixed = DriftTracker(Baseline(10.0, (0.0, 1.0)), window=4, warmup=3)
    fixed.observe_embedding([1.0, 0.0, 0.0])
    assert fixed.centroid is None and fixed.centroid_shift == 0.0
    fixed.observe_embedding([0.0, 1.0])
    assert fixed.centroid_shift == 0.0
