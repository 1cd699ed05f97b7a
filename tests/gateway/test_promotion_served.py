"""Gated promotion on the real Ray-served application, with the chat versions served side by side.

The application is the session's multi-tenant one (tests/fixtures/tenants.py): two further Generator
deployments beside the stable extractive answerer, a good candidate (a second extractive answerer, its
own deployment and model name) and a bad one (an `openai`-engine generator whose upstream is down: every
call fails with 502, the way a candidate fails when its vLLM server does). Its gateway runs the promotion
controller with short windows; the test starts a promotion with the operator command's function and
drives traffic with the `openai` client. Nothing is mocked: routing, the model chain's fallbacks, the
shared SQLite store and the controller are the real ones.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import openai
import pytest

from platform_facts import project
from services.gateway.config import load_gateway_config
from services.gateway.promotion import start
from services.state import StateStore
from tests.fixtures.tenants import BAD, GOOD, STABLE, TenantsApp

pytestmark = pytest.mark.serve

QUESTION = "What are the quota limits of a tenant?"  # the corpus answers it (tests/fixtures/tenants.py)


def _store(app: TenantsApp) -> StateStore:
    return StateStore.open(load_gateway_config(app.config_path).state.url_for(app.state_dir))


def _drive(app: TenantsApp, until: Callable[[], bool], limit_s: float) -> list[str]:
    """Chat through the gateway with the `openai` client until `until()`; the model version of each answer.
    Any failed request raises: no client may see a failure during a promotion or its rollback."""
    client = openai.OpenAI(base_url=f"{app.base_url}/v1", api_key=app.keys["local"], max_retries=0, timeout=60)
    answered: list[str] = []
    deadline = time.monotonic() + limit_s
    while not until() and time.monotonic() < deadline:
        response = client.chat.completions.with_raw_response.create(
            model=app.chat_model, messages=[{"role": "user", "content": QUESTION}])
        assert response.parse().choices[0].message.content
        answered.append(response.headers[f"x-{project.PROJECT_NAME}-model-version"])
    return answered


def _state(app: TenantsApp) -> str:
    store = _store(app)
    try:
        return store.promotions.get("chat").state
    finally:
        store.close()


def _start(app: TenantsApp, candidate: str) -> float:
    store = _store(app)
    try:
        return start(store, load_gateway_config(app.config_path), "chat", candidate, None).step_started
    finally:
        store.close()


def _decisions(app: TenantsApp) -> list[tuple[str, float, str]]:
    store = _store(app)
    try:
        return [(d.action, d.weight, d.reason) for d in store.promotions.decisions("chat")]
    finally:
        store.close()


def test_a_good_served_candidate_reaches_100_and_a_failing_one_is_rolled_back(tenants_app: TenantsApp) -> None:
    _drive(tenants_app, lambda: False, 1.0)  # the gateway replica is up and its controller runs

    _start(tenants_app, GOOD)
    during = _drive(tenants_app, lambda: _state(tenants_app) != "running", 60)
    assert _state(tenants_app) == "promoted"
    assert {GOOD, STABLE} <= set(during)  # both served versions answered at the 20 and 50 % steps
    assert [action for action, _, _ in _decisions(tenants_app)] == ["start", "advance", "promote"]
    after = _drive(tenants_app, lambda: False, 1.0)
    assert set(after) == {GOOD}  # 100 %: the next requests all go to the candidate

    # A new rollout against the route's configured stable version (the config still names it).
    started = _start(tenants_app, BAD)
    during = _drive(tenants_app, lambda: _state(tenants_app) != "running", 60)
    # The replica routes by the weights its controller loaded at its last tick (every 0.1 s here), so the first
    # requests after `start` may still follow the promoted rollout (the good candidate at 100 %).
    settled = list(itertools.dropwhile(lambda version: version == GOOD, during))
    assert len(during) - len(settled) <= 10, during
    assert _state(tenants_app) == "rolled_back"
    action, weight, reason = _decisions(tenants_app)[-1]
    assert (action, weight) == ("rollback", 0.0) and reason.startswith("error rate"), reason
    assert set(settled) == {STABLE}  # every request routed to the candidate was answered by stable instead
    assert time.time() - started < 60
    after = _drive(tenants_app, lambda: False, 1.0)
    assert set(after) == {STABLE}  # the rollback holds from the next request on
