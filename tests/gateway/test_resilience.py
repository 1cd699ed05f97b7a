"""Resilience and rollout: timeouts, retries, circuit breakers, fallback chain, canary, shadow,
promote/rollback by config reload, hybrid routing of regulated tenants."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml

from platform_facts import project
from services.gateway import GatewayMiddleware
from services.gateway.config import BreakerConfig
from services.gateway.model_chain import CircuitBreaker
from tests.gateway.harness import ModelBench, auth, chat_body

pytestmark = pytest.mark.anyio


def http(gateway: GatewayMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw")


async def test_failed_backend_is_retried_then_falls_back_visibly(gateway: GatewayMiddleware, bench: ModelBench) -> None:
    bench.failing.add("gen-v1")
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "answer from extractive about the platform"
    assert response.json()[project.PROJECT_NAME] == {"degraded": True, "fallback": "extractive"}
    assert response.headers[f"x-{project.PROJECT_NAME}-degraded"] == "fallback=extractive"
    assert bench.calls == ["gen-v1", "gen-v1", "extractive"]  # one retry, then the fallback
    assert gateway.metrics.value(project.metric("gateway_fallbacks_total"),
                                 {"route": "/v1/chat/completions", "step": "extractive"}) == 1
    assert gateway.metrics.value(project.metric("gateway_degraded_total"),
                                 {"route": "/v1/chat/completions", "reason": "fallback"}) == 1


async def test_timeout_counts_as_failure(gateway: GatewayMiddleware, bench: ModelBench) -> None:
    bench.hanging.add("gen-v1")
    started = time.perf_counter()
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    assert response.json()[project.PROJECT_NAME]["fallback"] == "extractive"
    assert time.perf_counter() - started < 3  # two 0.5 s timeouts, not an hour
    assert gateway.metrics.value(project.metric("gateway_backend_failures_total"), {"backend": "gen-v1", "cause": "timeout"}) == 2


async def test_an_attempt_ends_at_its_timeout_however_long_the_app_takes_to_cancel(
    gateway: GatewayMiddleware, bench: ModelBench
) -> None:
    """A call stuck on a lost node can take minutes to give up once cancelled; the attempt ends at its
    timeout all the same (the gateway used to wait for the cancelled call, and its client gave up first)."""
    bench.slow_to_cancel.add("gen-v1")
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    assert response.json()[project.PROJECT_NAME]["fallback"] == "extractive"
    assert bench.still_cancelling == 2  # both attempts timed out and were left to give up on their own
    assert gateway.metrics.value(project.metric("gateway_backend_failures_total"), {"backend": "gen-v1", "cause": "timeout"}) == 2


def _hedged(timeout_s: float, retries: int) -> Callable[[dict[str, Any]], None]:
    """A config edit: gen-v1 hedged after 0.05 s, with this timeout and these retries."""
    def edit(config: dict[str, Any]) -> None:
        config["model_versions"]["gen-v1"].update(timeout_s=timeout_s, retries=retries, hedge_after_s=0.05)

    return edit


async def test_a_call_stuck_on_a_lost_node_is_hedged(make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench) -> None:
    """The first attempt lands on a replica that will never answer: with `hedge_after_s` a second starts
    beside it and answers, long before the first attempt's timeout; the stuck one is cancelled."""
    gateway = make_gateway(_hedged(timeout_s=5, retries=2))
    bench.stuck["gen-v1"] = 1
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    assert response.status_code == 200
    assert project.PROJECT_NAME not in response.json()  # the model answered: no fallback, not degraded
    assert bench.calls == ["gen-v1", "gen-v1"]
    assert gateway.metrics.value(project.metric("gateway_hedged_attempts_total"), {"backend": "gen-v1"}) == 1
    # The stuck attempt was cancelled when the hedge answered, not timed out: no failure counted.
    assert gateway.metrics.value(project.metric("gateway_backend_failures_total"), {"backend": "gen-v1", "cause": "timeout"}) == 0


async def test_hedges_stop_at_the_retries(make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench) -> None:
    """Every attempt stuck: three in all (one and two retries), then the fallback; never a fourth."""
    gateway = make_gateway(_hedged(timeout_s=0.3, retries=2))
    bench.stuck["gen-v1"] = 10
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    assert response.json()[project.PROJECT_NAME]["fallback"] == "extractive"
    assert bench.calls == ["gen-v1", "gen-v1", "gen-v1", "extractive"]
    assert gateway.metrics.value(project.metric("gateway_hedged_attempts_total"), {"backend": "gen-v1"}) == 2
    assert gateway.metrics.value(project.metric("gateway_backend_failures_total"), {"backend": "gen-v1", "cause": "timeout"}) == 3


async def test_streams_are_not_hedged(make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench) -> None:
    """A stream is not repeated beside itself: the stuck attempt runs to its timeout, then the retry."""
    gateway = make_gateway(_hedged(timeout_s=0.3, retries=1))
    bench.stuck["gen-v1"] = 1
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(stream=True), headers=auth("northwind"))
    assert response.status_code == 200 and f"x-{project.PROJECT_NAME}-degraded" not in response.headers
    assert bench.calls == ["gen-v1", "gen-v1"]
    assert gateway.metrics.value(project.metric("gateway_hedged_attempts_total"), {"backend": "gen-v1"}) == 0
    assert gateway.metrics.value(project.metric("gateway_backend_failures_total"), {"backend": "gen-v1", "cause": "timeout"}) == 1


def test_a_cancelled_trial_lets_the_next_trial_through() -> None:
    """A half-open breaker lets one trial through; a trial cancelled (a hedge answered first, or the
    client left) has no outcome, and must not keep the circuit from ever being tried again."""
    now = [0.0]
    breaker = CircuitBreaker(BreakerConfig(failures=1, reset_s=10), clock=lambda: now[0])
    breaker.record_failure(started_at=0.0)
    now[0] = 11.0
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_abandoned()
    assert breaker.allow()


async def test_circuit_opens_and_skips_the_dead_backend(gateway: GatewayMiddleware, bench: ModelBench) -> None:
    bench.failing.add("gen-v1")
    async with http(gateway) as client:
        for _ in range(3):
            await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
        calls_before = bench.calls.count("gen-v1")
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    assert response.json()[project.PROJECT_NAME]["fallback"] == "extractive"
    assert bench.calls.count("gen-v1") == calls_before  # open circuit: not even tried
    assert gateway.metrics.value(project.metric("gateway_circuit_open"), {"backend": "gen-v1"}) == 1


async def test_a_replica_lost_mid_call_leaves_the_circuit_closed(gateway: GatewayMiddleware, bench: ModelBench) -> None:
    """Four calls on a replica that dies fail at once (the breaker opens at three), but the version
    answered another call meanwhile: the failures are one replica's, so every retry goes through.
    (The rehearsal's worker kill lost RAG queries to a circuit opened this way.)"""
    bench.stranded["gen-v1"] = 4
    async with http(gateway) as client:
        def ask() -> Any:
            return client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))

        in_flight = [asyncio.create_task(ask()) for _ in range(4)]
        while bench.calls.count("gen-v1") < 4:
            await asyncio.sleep(0.005)
        survivor = await ask()  # another replica answers while the four wait
        bench.replica_lost.set()
        retried = await asyncio.gather(*in_flight)
    assert [r.status_code for r in [survivor, *retried]] == [200] * 5
    assert not any(project.PROJECT_NAME in r.json() for r in [survivor, *retried])  # none degraded
    assert bench.calls.count("gen-v1") == 4 + 1 + 4  # each stranded call retried once, on the same version
    assert gateway.metrics.value(project.metric("gateway_circuit_open"), {"backend": "gen-v1"}) == 0


async def test_every_backend_down_queues_for_human_review(gateway: GatewayMiddleware, bench: ModelBench) -> None:
    bench.failing.update({"gen-v1", "extractive"})
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
        assert response.status_code == 202
        notes = response.json()[project.PROJECT_NAME]
        assert notes["degraded"] is True and notes["fallback"] == "review"
        assert response.headers[f"x-{project.PROJECT_NAME}-degraded"] == "fallback=review"
        items = (await client.get("/v1/review/items", headers=auth("reviewer"))).json()["items"]
    assert [item["id"] for item in items] == [notes["review_id"]]
    assert items[0]["reason"] == "fallback" and items[0]["content"]["prompt"] == ["What is the serve config?"]


async def test_embeddings_without_fallback_get_a_json_503(gateway: GatewayMiddleware, bench: ModelBench) -> None:
    bench.failing.add("embed")
    async with http(gateway) as client:
        response = await client.post("/v1/embeddings", json={"model": f"{project.PROJECT_NAME}-embed", "input": "x"}, headers=auth("northwind"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "backend_unavailable"


def _canary(config: dict[str, Any]) -> None:
    config["routes"]["chat"]["versions"] = [{"model_version": "gen-v1", "weight": 80}, {"model_version": "gen-v2", "weight": 20}]


async def test_canary_splits_traffic_by_weight(make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench) -> None:
    gateway = make_gateway(_canary, rng=random.Random(7))
    async with http(gateway) as client:
        for _ in range(200):
            await client.post("/v1/chat/completions", json=chat_body("hi"), headers=auth("northwind"))
    share = bench.calls.count("gen-v2") / len(bench.calls)
    assert 0.12 < share < 0.28


async def test_promote_and_rollback_by_config_reload(make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench) -> None:
    gateway = make_gateway(_canary, rng=random.Random(1))
    path = gateway.runtime.path
    config = yaml.safe_load(path.read_text())
    config["routes"]["chat"]["versions"] = [{"model_version": "gen-v2", "weight": 1}]
    path.write_text(yaml.safe_dump(config))
    async with http(gateway) as client:
        reloaded = await client.post("/v1/gateway/reload", headers=auth("reviewer"))
        assert reloaded.json()["versions"]["chat"] == {"gen-v2": 1.0}
        bench.calls.clear()
        for _ in range(10):
            await client.post("/v1/chat/completions", json=chat_body("hi"), headers=auth("northwind"))
        assert set(bench.calls) == {"gen-v2"}
        # Roll back by editing the file only: the replica notices the change on its own.
        config["routes"]["chat"]["versions"] = [{"model_version": "gen-v1", "weight": 1}]
        path.write_text(yaml.safe_dump(config))
        await asyncio.sleep(0.1)
        bench.calls.clear()
        for _ in range(5):
            await client.post("/v1/chat/completions", json=chat_body("hi"), headers=auth("northwind"))
        assert set(bench.calls) == {"gen-v1"}


async def test_a_broken_config_reload_keeps_the_old_config(gateway: GatewayMiddleware, bench: ModelBench) -> None:
    config = yaml.safe_load(gateway.runtime.path.read_text())
    config["routes"]["chat"]["versions"] = [{"model_version": "no-such-backend", "weight": 1}]
    gateway.runtime.path.write_text(yaml.safe_dump(config))
    await asyncio.sleep(0.1)
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
        assert response.status_code == 200 and bench.calls == ["gen-v1"]
        assert gateway.metrics.value(project.metric("gateway_config_reloads_total"), {"outcome": "error"}) == 1
        explicit = await client.post("/v1/gateway/reload", headers=auth("reviewer"))
    assert explicit.status_code == 400
    assert "routes.chat.versions.0.model_version: unknown model version 'no-such-backend'" in explicit.json()["error"]["message"]


def _hybrid(config: dict[str, Any]) -> None:
    config["routes"]["chat"]["versions"] = [{"model_version": "gen-v1", "weight": 1}, {"model_version": "gen-onprem", "weight": 1}]
    config["routes"]["chat"]["fallback"] = ["candidate"]
    config["routes"]["chat"]["shadow"] = {"model_version": "candidate", "sample_rate": 1.0}


async def test_regulated_tenant_only_reaches_on_prem(make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench) -> None:
    gateway = make_gateway(_hybrid)
    async with http(gateway) as client:
        for _ in range(20):
            response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("bank"))
            assert response.status_code == 200
        await gateway.drain()
        assert set(bench.calls) == {"gen-onprem"}  # never gen-v1, the cloud fallback or the cloud shadow
        bench.failing.add("gen-onprem")
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("bank"))
    assert response.status_code == 503
    assert "candidate" not in bench.calls and "gen-v1" not in bench.calls


async def test_regulated_tenant_without_on_prem_route_is_refused_never_cloud(
    gateway: GatewayMiddleware, bench: ModelBench
) -> None:
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("bank"))
    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["type"], error["code"], error["served_by"], error["tenant"]) == (
        "permission_error", "data_residency", "on_prem", "bank")
    assert "served by the on-prem gateway" in error["message"]
    assert bench.calls == []
    record = json.loads(gateway.audit.path.read_text().splitlines()[-1])
    assert (record["tenant"], record["status"], record["error"]) == ("bank", 403, "data_residency")


async def test_shadow_answers_are_recorded_and_compared_never_returned(
    make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench
) -> None:
    gateway = make_gateway(_hybrid, rng=random.Random(3))
    bench.answers["candidate"] = "a completely different reply"
    async with http(gateway) as client:
        response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    await gateway.drain()
    assert "different" not in response.text
    assert "candidate" in bench.calls
    records = gateway.store.shadow.recent()
    assert records[0].candidate == "candidate" and records[0].outcome == "differ"
    assert records[0].answer == ["a completely different reply"]
    assert gateway.metrics.value(project.metric("gateway_shadow_total"), {"backend": "candidate", "outcome": "differ"}) == 1
