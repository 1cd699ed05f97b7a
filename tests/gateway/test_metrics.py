"""Metrics: requests, latency, verdicts, tokens and cost per tenant, and input drift gauges."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from platform_facts import project
from services.gateway import GATEWAY_METRICS, GatewayMiddleware
from services.gateway.drift import Baseline, DriftTracker, input_space, load_baseline, model_space, write_baseline
from services.gateway.errors import ConfigError
from services.metrics_catalog import EXPORTED_METRICS
from tests.gateway.harness import auth, chat_body

pytestmark = pytest.mark.anyio

PROMPTS = input_space("chat")


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
    write_baseline(path, [20, 22, 18], {model_space("embed"): [[20.0, 1.0, 0.0], [22.0, 1.0, 0.0]]})

    def edit(config: dict[str, Any]) -> None:
        config["drift"] = {"baseline": str(path), "window": 10}

    return edit


async def test_drift_gauges_move_when_inputs_shift(make_gateway: Callable[..., GatewayMiddleware], tmp_path: Path) -> None:
    gateway = make_gateway(_baseline(tmp_path))
    embed_space = {"space": model_space("embed")}  # the model the embeddings route sends to
    async with http(gateway) as client:
        for _ in range(5):
            await client.post("/v1/embeddings", json={"model": f"{project.PROJECT_NAME}-embed", "input": "x" * 20}, headers=auth("northwind"))
        steady_length = gateway.metrics.value(project.metric("gateway_input_length_shift"))
        steady_centroid = gateway.metrics.value(project.metric("gateway_embedding_centroid_shift"), embed_space)
        for _ in range(20):
            await client.post("/v1/embeddings", json={"model": f"{project.PROJECT_NAME}-embed", "input": "y" * 600}, headers=auth("northwind"))
    assert steady_length < 0.05 and steady_centroid < 0.01
    assert gateway.metrics.value(project.metric("gateway_input_length_shift")) > 10
    assert gateway.metrics.value(project.metric("gateway_input_length_mean")) > 300
    # The bench embeds a text as [len, 1, 0]: long inputs turn the centroid towards the first axis.
    assert gateway.metrics.value(project.metric("gateway_embedding_centroid_shift"), embed_space) > steady_centroid


async def test_prompt_vectors_drift_in_their_own_space(make_gateway: Callable[..., GatewayMiddleware]) -> None:
    """The real scanners' MiniLM vectors of chat prompts feed the `input:chat` gauge; the embeddings
    route's inputs (`input:embeddings`) and answers (the bench's model, `model:embed`) their own, each
    against its own warm-up baseline."""

    def edit(config: dict[str, Any]) -> None:
        config["scanners"]["input"] = {"prompt_injection": {"action": "flag"}}
        config["scanners"]["semantic"] = {"gate": False}  # embed every text, not only risky ones
        config["drift"] = {"window": 4, "warmup": 2}

    gateway = make_gateway(edit)
    shift = project.metric("gateway_embedding_centroid_shift")
    async with http(gateway) as client:
        for _ in range(3):
            answer = await client.post("/v1/chat/completions", json=chat_body("How are quotas enforced?"), headers=auth("northwind"))
            assert answer.status_code == 200, answer.text
        steady = gateway.metrics.value(shift, {"space": PROMPTS})
        for text in ("Write a limerick about a cat who sails to Spain.", "Give me a recipe for a lemon drizzle cake."):
            answer = await client.post("/v1/chat/completions", json=chat_body(text), headers=auth("northwind"))
            assert answer.status_code == 200, answer.text
        moved = gateway.metrics.value(shift, {"space": PROMPTS})
        for _ in range(5):  # other texts, another population: the chat prompts' centroid stays where it was
            answer = await client.post("/v1/embeddings", json={"model": f"{project.PROJECT_NAME}-embed", "input": "Pumpkin soup, serves four."}, headers=auth("northwind"))
            assert answer.status_code == 200, answer.text
    assert steady == pytest.approx(0.0, abs=1e-6) and moved > 0.05
    assert gateway.metrics.value(shift, {"space": PROMPTS}) == moved
    spaces = set(re.findall(rf'{shift}{{space="([^"]+)"}}', gateway.metrics.exposition().decode()))
    assert spaces == {PROMPTS, input_space("embeddings"), model_space("embed")}


def test_drift_baseline_from_warmup_and_file_round_trip(tmp_path: Path) -> None:
    tracker = DriftTracker(None, window=4, warmup=3)
    for length in (10, 10, 10):
        tracker.observe_text(length)
    assert tracker.length_shift == 0.0
    for _ in range(10):
        tracker.observe_text(30)
    assert tracker.length_shift == pytest.approx(2.0, rel=0.05)
    path = tmp_path / "b.json"
    write_baseline(path, [1, 3], {PROMPTS: [[1.0, 0.0], [0.0, 1.0]], model_space("minilm"): []})
    assert load_baseline(path) == Baseline(2.0, {PROMPTS: (0.5, 0.5)})
    assert json.loads(path.read_text())["centroids"] == {PROMPTS: [0.5, 0.5]}


def test_drift_baseline_file_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"mean_length": 3.0, "centroids": [0.5, 0.5]}))
    with pytest.raises(ConfigError, match=r"drift.baseline: b.json is not a drift baseline: centroids must map"):
        load_baseline(path)
    path.write_text(json.dumps({"centroids": {}}))
    with pytest.raises(ConfigError, match="mean_length"):
        load_baseline(path)


def test_drift_keeps_each_vector_space_apart() -> None:
    """Chat prompts and the passages an application embeds are two populations even in one model's
    space: a change in the mix of traffic moves neither centroid."""
    passages = input_space("embeddings")
    tracker = DriftTracker(None, window=4, warmup=3)
    for _ in range(3):
        tracker.observe_embedding([1.0, 0.0], PROMPTS)
        tracker.observe_embedding([0.0, 1.0], passages)
    for _ in range(20):
        tracker.observe_embedding([0.0, 1.0], passages)  # the embeddings route busier than chat
    assert tracker.centroid_shift(PROMPTS) == 0.0 and tracker.centroid_shift(passages) == 0.0
    tracker.observe_embedding([0.0, 1.0], PROMPTS)
    assert tracker.centroid_shift(PROMPTS) > 0.0  # prompts themselves moving is drift


def test_drift_leaves_out_vectors_of_another_models_size() -> None:
    """A space keeps the size of its first vector (or its baseline's); a vector of another size neither
    moves its centroid nor breaks the request (it raised a broadcasting error, found by test_fuzz)."""
    tracker = DriftTracker(None, window=4, warmup=3)
    tracker.observe_embedding([1.0, 0.0, 0.0, 0.0], PROMPTS)
    tracker.observe_embedding([1.0, 0.0, 0.0], PROMPTS)
    tracker.observe_embedding([1.0, 0.0, 0.0, 0.0], PROMPTS)
    tracker.observe_embedding([1.0, 0.0, 0.0, 0.0], PROMPTS)
    assert tracker.centroid_shift(PROMPTS) == 0.0
    tracker.observe_embedding([0.0, 1.0, 0.0], PROMPTS)
    centroid = tracker.centroid(PROMPTS)
    assert centroid is not None and centroid.tolist() == [1.0, 0.0, 0.0, 0.0]
    fixed = DriftTracker(Baseline(10.0, {PROMPTS: (0.0, 1.0)}), window=4, warmup=3)
    fixed.observe_embedding([1.0, 0.0, 0.0], PROMPTS)
    assert fixed.centroid(PROMPTS) is None and fixed.centroid_shift(PROMPTS) == 0.0
    fixed.observe_embedding([0.0, 1.0], PROMPTS)
    assert fixed.centroid_shift(PROMPTS) == 0.0
