"""Gated promotion on the real Ray-served application, with the chat versions served side by side.

Next to the session's application (tests/fixtures/serve.py) this deploys one more with two further
Generator deployments beside the stable extractive answerer: a good candidate (a second extractive
answerer, its own deployment and model name) and a bad one (an `openai`-engine generator whose upstream
is down: every call fails with 502, the way a candidate fails when its vLLM server does). The gateway
in front of it runs the promotion controller from a config written here (short windows); the test starts
a promotion with the operator command's function and drives traffic with the `openai` client. Nothing is
mocked: routing, the model chain's fallbacks, the shared SQLite store and the controller are the real ones.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from platform_facts import project
from services.config import config_document
from services.gateway import local_api_key
from services.gateway.config import load_gateway_config
from services.gateway.keys import CONFIG_DIR
from services.gateway.promotion import start
from services.state import StateStore
from tests.fixtures.ports import free_loopback_port
from tests.fixtures.serve import ServeApp, deploy_application

pytestmark = pytest.mark.serve

STABLE, GOOD, BAD = "extractive", "extractive-v2", "upstream-down"
SERVED = {STABLE: None, GOOD: f"{project.PROJECT_NAME}-extractive-v2", BAD: f"{project.PROJECT_NAME}-upstream-down"}
WINDOW_S = 1.5
QUESTION = "How is the serving layer configured?"


@dataclass(frozen=True)
class Promotable:
    base_url: str
    config_path: Path
    state_dir: Path
    public_model: str

    def store(self) -> StateStore:
        return StateStore.open(load_gateway_config(self.config_path).state.url_for(self.state_dir))


def _gateway_config(serve_app: ServeApp, keys_path: Path) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(config_document("gateway", "local"))
    config["keys"]["path"] = str(keys_path)
    stable_model = serve_app.args["generator"]["model_name"]
    versions = config["model_versions"]
    versions[STABLE]["model"] = stable_model
    versions[GOOD] = {**versions[STABLE], "model": SERVED[GOOD]}
    versions[BAD] = {**versions[STABLE], "model": SERVED[BAD], "retries": 0}
    config["promotion"] = {"steps": [20, 50, 100], "window_s": WINDOW_S, "check_interval_s": 0.1, "lease_ttl_s": 5,
                           "gates": {"min_requests": 4}}
    return config


@pytest.fixture(scope="module")
def promotable(serve_app: ServeApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Promotable]:
    from ray import serve

    directory = tmp_path_factory.mktemp("promotion")
    state_dir = directory / "state"
    config = _gateway_config(serve_app, CONFIG_DIR / config_document("gateway", "local")["keys"]["path"])
    config_path = directory / "gateway.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    load_gateway_config(config_path)  # fail here, naming the field, rather than inside a replica

    args = copy.deepcopy(serve_app.args)
    args["gateway"] = {"env": "local", "config_path": str(config_path), "state_dir": str(state_dir)}
    args["additional_generators"] = [
        {**copy.deepcopy(args["generator"]), "model_name": SERVED[GOOD]},
        # Nothing listens on this port: every call to this version fails (502) and the chain falls back.
        {"engine": "openai", "model_name": SERVED[BAD],
         "upstream": {"base_url": f"http://127.0.0.1:{free_loopback_port()}/v1", "model": "down",
                      "connect_timeout_s": 0.5, "timeout_s": 1.0}},
    ]
    application = serve_app.config["applications"][0]
    generator = next(d for d in application["deployments"] if d["name"] == "Generator")
    deployments = [*application["deployments"],
                   *({**generator, "name": f"Generator-{SERVED[name]}"} for name in (GOOD, BAD))]
    base_url = deploy_application(serve_app, "promotion", "/promotion", args, deployments=deployments)
    try:
        yield Promotable(base_url, config_path, state_dir, config["routes"]["chat"]["public_model"])
    finally:
        serve.delete("promotion")


def _drive(app: Promotable, until: Callable[[], bool], limit_s: float) -> list[str]:
    """Chat through the gateway with the `openai` client until `until()`; the model version of each answer.
    Any failed request raises: no client may see a failure during a promotion or its rollback."""
    client = openai.OpenAI(base_url=f"{app.base_url}/v1", api_key=local_api_key(), max_retries=0, timeout=60)
    answered: list[str] = []
    deadline = time.monotonic() + limit_s
    while not until() and time.monotonic() < deadline:
        response = client.chat.completions.with_raw_response.create(
            model=app.public_model, messages=[{"role": "user", "content": QUESTION}])
        assert response.parse().choices[0].message.content
        answered.append(response.headers[f"x-{project.PROJECT_NAME}-model-version"])
    return answered


def _state(app: Promotable) -> str:
    store = app.store()
    try:
        return store.promotions.get("chat").state
    finally:
        store.close()


def _start(app: Promotable, candidate: str) -> float:
    store = app.store()
    try:
        return start(store, load_gateway_config(app.config_path), "chat", candidate, None).step_started
    finally:
        store.close()


def _decisions(app: Promotable) -> list[tuple[str, float, str]]:
    store = app.store()
    try:
        return [(d.action, d.weight, d.reason) for d in store.promotions.decisions("chat")]
    finally:
        store.close()


def test_a_good_served_candidate_reaches_100_and_a_failing_one_is_rolled_back(promotable: Promotable) -> None:
    _drive(promotable, lambda: False, 1.0)  # the gateway replica is up and its controller runs

    _start(promotable, GOOD)
    during = _drive(promotable, lambda: _state(promotable) != "running", 60)
    assert _state(promotable) == "promoted"
    assert {GOOD, STABLE} <= set(during)  # both served versions answered at the 20 and 50 % steps
    assert [action for action, _, _ in _decisions(promotable)] == ["start", "advance", "promote"]
    after = _drive(promotable, lambda: False, 1.0)
    assert set(after) == {GOOD}  # 100 %: the next requests all go to the candidate

    # A new rollout against the route's configured stable version (the config still names it).
    started = _start(promotable, BAD)
    during = _drive(promotable, lambda: _state(promotable) != "running", 60)
    assert _state(promotable) == "rolled_back"
    action, weight, reason = _decisions(promotable)[-1]
    assert (action, weight) == ("rollback", 0.0) and reason.startswith("error rate"), reason
    assert set(during) == {STABLE}  # every request routed to the candidate was answered by stable instead
    assert time.time() - started < 60
    after = _drive(promotable, lambda: False, 1.0)
    assert set(after) == {STABLE}  # the rollback holds from the next request on
