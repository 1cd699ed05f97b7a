"""Gated promotion: the gates as a pure function, routing by the controller's weights, operator commands,
one leader, and end to end on the gateway over the model bench: a good candidate reaches 100 %, an erroring
or flagged one is rolled back within one window, and no client request fails either way."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from platform_facts import project
from services.gateway import GatewayMiddleware
from services.gateway.config import load_gateway_config
from services.gateway.promotion import PromotionController, pause, resume, rollback, start, weights_of
from services.gateway.promotion_config import PromotionGates
from services.gateway.promotion_gates import VersionWindow, WindowMeasurements, judge
from services.gateway.routing import route_request
from tests.gateway.harness import ModelBench, auth, chat_body, write_gateway_config

pytestmark = pytest.mark.anyio

WINDOW_S = 0.6


def _fast_promotion(config: dict[str, Any]) -> None:
    config["promotion"] = {"steps": [25, 50, 100], "window_s": WINDOW_S, "check_interval_s": 0.05,
                           "lease_ttl_s": 5, "gates": {"min_requests": 5, "min_eval_score": 0.8}}


def _window(requests: int = 50, errors: int = 0, flagged: int = 0, p99_ms: float = 100.0,
            feedback: tuple[int, float] = (0, 0.0)) -> VersionWindow:
    return VersionWindow(requests, errors, flagged, p99_ms, feedback[0], feedback[1])


def _numbers(candidate: VersionWindow, stable: VersionWindow | None = None, shadow: tuple[int, float] = (0, 0.0)
             ) -> WindowMeasurements:
    return WindowMeasurements(0.0, 60.0, stable or _window(), candidate, shadow[0], shadow[1])


@pytest.mark.parametrize(
    ("numbers", "outcome", "reason"),
    [
        (_numbers(_window()), "pass", "every gate held"),
        (_numbers(_window(requests=4)), "wait", "4 of 20 candidate requests in the window"),
        (_numbers(_window(errors=5)), "fail", "error rate 0.100 vs stable 0.000 (allowed +0.02)"),
        (_numbers(_window(errors=5), _window(errors=5)), "pass", "every gate held"),
        (_numbers(_window(p99_ms=6000)), "fail", "p99 latency 6000 ms over the SLO 5000 ms"),
        (_numbers(_window(flagged=10)), "fail", "safety block/flag rate 0.200 vs stable 0.000 (allowed +0.05)"),
        (_numbers(_window(feedback=(4, -1.0)), _window(feedback=(10, 0.8))), "fail",
         "feedback score -1.00 vs stable 0.80 (allowed drop 0.5)"),
        (_numbers(_window(feedback=(4, 0.5)), _window(feedback=(10, 0.8))), "pass", "every gate held"),
        (_numbers(_window(), shadow=(10, 0.3)), "pass", "every gate held"),  # min_shadow_agreement 0 by default
    ],
)
def test_the_gates(numbers: WindowMeasurements, outcome: str, reason: str) -> None:
    verdict = judge(numbers, PromotionGates())
    assert (verdict.outcome, verdict.reason) == (outcome, reason)


def test_shadow_agreement_gate_when_set() -> None:
    verdict = judge(_numbers(_window(), shadow=(10, 0.3)), PromotionGates(min_shadow_agreement=0.5))
    assert (verdict.outcome, verdict.reason) == ("fail", "shadow agreement 0.30 under 0.5")


def test_routing_follows_the_controllers_weights(tmp_path: Path) -> None:
    config = load_gateway_config(write_gateway_config(tmp_path))
    route = config.routes["chat"]
    rng = random.Random(1)
    promoted = route_request(config, route, False, rng, {"gen-v2": 100.0, "gen-v1": 0.0})
    assert [step.name for step in promoted.chain] == ["gen-v2", "gen-v1", "extractive", "review"]
    split = [route_request(config, route, False, rng, {"gen-v1": 75.0, "gen-v2": 25.0}).chain[0].name
             for _ in range(2000)]
    assert 0.2 < split.count("gen-v2") / len(split) < 0.3
    assert route_request(config, route, False, rng, None).chain[0].name == "gen-v1"


def test_operator_commands_and_refusals(gateway: GatewayMiddleware) -> None:
    store, config = gateway.store, gateway.config
    with pytest.raises(ValueError, match=r"^route: unknown route 'nope'"):
        start(store, config, "nope", "gen-v2", None)
    with pytest.raises(ValueError, match=r"^candidate: unknown model version 'gen-v9'"):
        start(store, config, "chat", "gen-v9", None)
    with pytest.raises(ValueError, match=r"^candidate: 'gen-v1' is already the stable version"):
        start(store, config, "chat", "gen-v1", None)
    row = start(store, config, "chat", "gen-v2", None)
    assert (row.stable, row.candidate, row.weight, row.state) == ("gen-v1", "gen-v2", 5.0, "running")
    assert pause(store, "chat").state == "paused"
    with pytest.raises(ValueError, match=r"^route: the promotion on 'chat' is paused; pause needs running"):
        pause(store, "chat")
    assert resume(store, "chat").state == "running"
    rolled = rollback(store, "chat")
    assert (rolled.state, rolled.weight) == ("rolled_back", 0.0)
    assert [d.action for d in store.promotions.decisions("chat")] == ["start", "pause", "resume", "rollback"]


def test_the_eval_score_gate_at_start(make_gateway: Callable[..., GatewayMiddleware]) -> None:
    gateway = make_gateway(_fast_promotion)
    with pytest.raises(ValueError, match=r"^eval_score: the candidate's evaluation score 0.5 is under the gate 0.8"):
        start(gateway.store, gateway.config, "chat", "gen-v2", 0.5)
    with pytest.raises(ValueError, match=r"^eval_score: .* None is under the gate"):
        start(gateway.store, gateway.config, "chat", "gen-v2", None)
    assert start(gateway.store, gateway.config, "chat", "gen-v2", 0.9).state == "running"


def test_only_the_lease_holder_decides(make_gateway: Callable[..., GatewayMiddleware]) -> None:
    gateway = make_gateway(_fast_promotion)
    start(gateway.store, gateway.config, "chat", "gen-v2", 0.9)
    controllers = [PromotionController(gateway.store, gateway.metrics, lambda: gateway.audit, f"replica-{n}",
                                       lambda: gateway.config) for n in range(2)]
    controllers[0].tick()
    controllers[1].tick()  # follows: only loads the weights
    assert not gateway.store.promotions.hold_lease("promotion", "replica-1", 5)
    for controller in controllers:
        assert controller.weights_for("/v1/chat/completions") == {"gen-v1": 75.0, "gen-v2": 25.0}
    gateway.store.promotions.release_lease("promotion", "replica-0")  # the leader stops (or its lease lapses)
    controllers[1].tick()
    assert not gateway.store.promotions.hold_lease("promotion", "replica-0", 5)
    # No traffic yet: nothing to judge, so no decision beyond the start.
    assert [d.action for d in gateway.store.promotions.decisions("chat")] == ["start"]


def _decided_and_in_force(gateway: GatewayMiddleware) -> bool:
    """The promotion left `running` and this replica routes by the decision: the controller writes the
    decision, then loads the weights (on a worker thread), so a request in between still sees the old ones."""
    row = gateway.store.promotions.get("chat")
    in_force = gateway.promotion.weights_for(gateway.config.routes["chat"].path)
    return row is not None and row.state != "running" and in_force == weights_of(row)


async def _drive(gateway: GatewayMiddleware, until: Callable[[], bool], limit_s: float) -> list[httpx.Response]:
    """Send chat requests until `until()` holds (or the time limit); every response is kept."""
    responses: list[httpx.Response] = []
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway") as client:
        while not until() and time.monotonic() < deadline:
            responses.append(await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind")))
            await asyncio.sleep(0.005)
    return responses


async def test_a_good_candidate_is_promoted_step_by_step_to_100(
    make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench
) -> None:
    gateway = make_gateway(_fast_promotion)
    start(gateway.store, gateway.config, "chat", "gen-v2", 0.9)
    responses = await _drive(gateway, lambda: _decided_and_in_force(gateway), 20)
    row = gateway.store.promotions.get("chat")
    assert (row.state, row.weight) == ("promoted", 100.0)
    assert all(response.status_code == 200 for response in responses)
    decisions = gateway.store.promotions.decisions("chat")
    assert [(d.action, d.weight) for d in decisions] == [("start", 25.0), ("advance", 50.0), ("promote", 100.0)]
    assert decisions[-1].measurements["candidate"]["requests"] >= 5
    # Every replica routes by the new weights from its next request on.
    after = await _drive(gateway, lambda: False, 0.3)
    assert {response.headers[f"x-{project.PROJECT_NAME}-model-version"] for response in after} == {"gen-v2"}
    await gateway.drain()
    audited = [line for path in gateway.audit.path.parent.glob("*-promotion.jsonl")
               for line in path.read_text().splitlines()]
    assert any('"action":"promote"' in line for line in audited)


@pytest.mark.parametrize("fault", ["errors", "flagged"])
async def test_a_bad_candidate_is_rolled_back_within_one_window_and_no_client_fails(
    make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench, fault: str
) -> None:
    gateway = make_gateway(_fast_promotion)
    if fault == "errors":
        bench.failing.add("gen-v2")
    else:
        bench.answers["gen-v2"] = "you are an idiot and I hate you, stupid moron"
    started = start(gateway.store, gateway.config, "chat", "gen-v2", 0.9)
    responses = await _drive(gateway, lambda: _decided_and_in_force(gateway), 20)
    row = gateway.store.promotions.get("chat")
    assert row.state == "rolled_back"
    rollback_decision = gateway.store.promotions.decisions("chat")[-1]
    assert rollback_decision.action == "rollback"
    # Decided on the first window that had the gate data in it (how long a decision takes: bench/bench_feedback.py).
    assert rollback_decision.measurements["since"] >= started.step_started
    assert rollback_decision.measurements["candidate"]["requests"] >= 5
    assert rollback_decision.reason.startswith("error rate" if fault == "errors" else "safety block/flag rate")
    assert [r.status_code for r in responses if r.status_code >= 300] == []  # nobody saw the candidate fail
    calls_before = bench.calls.count("gen-v2")
    after = await _drive(gateway, lambda: False, 0.3)
    assert [r.status_code for r in after if r.status_code >= 300] == []
    assert bench.calls.count("gen-v2") == calls_before  # rollback took effect on the next request
    await gateway.drain()
