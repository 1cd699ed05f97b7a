"""The loop after launch, on a cluster whose gateways share a state database: answers rated through the API,
the ratings exported from that database as an evaluation set, the set gated, and a rollout started with
the gate's score: in force on every gateway replica, judged by the promotion controller over its window,
then rolled back by an operator.

The operator's side runs here as a platform team runs it, with the project's own commands (`make
export-eval`, `make eval`, `make promote` call these modules) on the gateway config the cluster mounts:
the rendered ConfigMap, whose `state.url` names the cluster's database (its stand-in, see
substitutions.py). Cloud clusters log in with IAM tokens, signed here with the stand-in's credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import yaml

from platform_facts.project import PROJECT_NAME
from services.gateway.config import GatewayConfig, RouteConfig
from services.gateway.promotion import stable_version
from tools.rehearse.cloud import MotoCloud
from tools.rehearse.cluster import host_path_for
from tools.rehearse.smoke import chat_call, tenant_of
from tools.rehearse.substitutions import aws_environment

if TYPE_CHECKING:
    from tools.rehearse.run import Deployed

__all__ = ["promotion_candidate", "run_loop"]

ROOT = Path(__file__).resolve().parents[2]
RATINGS = (1, 1, 1, -1)
"""One rating per answer: three good, one bad with a correction (the bad-answer gate allows half)."""
ROLLOUT_REQUESTS = 120
"""At the first step's 5 %, the chance that none of them reaches the candidate is 0.2 %."""
COMMAND_TIMEOUT_S = 300


def promotion_candidate(route: RouteConfig) -> str | None:
    """The version a rollout on `route` would promote: its shadow (what a team tries next), else a canary version."""
    configured = [version.model_version for version in route.versions]
    stable = stable_version(route) if route.versions else None
    if route.shadow and route.shadow.model_version not in configured:
        return route.shadow.model_version
    return next((name for name in configured if name != stable), None)


class _Cluster:
    """One cluster's gateway as the loop's client and its operator see it."""

    def __init__(self, deployed: Deployed, config_path: str, cloud: MotoCloud | None, work_dir: Path) -> None:
        """`cloud`: the stand-in cloud when the cluster reaches AWS (its tools then sign IAM tokens), else None."""
        assert deployed.gateway is not None
        spec = deployed.cluster.spec
        self.config: GatewayConfig = deployed.gateway.config
        self.config_file = host_path_for(spec, deployed.shared, config_path)
        self.base = deployed.cluster.gateway_url
        self.verify = deployed.cluster.verify
        self.key = deployed.keys[tenant_of(deployed)].key
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.work_dir = work_dir / "loop" / spec.key
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **(aws_environment(cloud.endpoint_url, cloud.names.region) if cloud else {})}

    def chat(self, model: str, content: str) -> httpx.Response:
        return chat_call(self.base, self.key, self.verify, model, content)

    def command(self, module: str, *args: str) -> str:
        """One of the project's commands, as the operator runs it; its output, or RuntimeError with it."""
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"python -m {module} exited {done.returncode}: {(done.stderr or done.stdout)[-600:]}")
        return done.stdout

    def operator(self, module: str, *args: str) -> str:
        return self.command(module, "--config", str(self.config_file), "--state-dir", str(self.work_dir), *args)


def _rate_answers(cluster: _Cluster, model: str) -> str:
    """Answers rated through `POST /v1/feedback`; a rating may reach a replica before the answer's row does."""
    for index, rating in enumerate(RATINGS):
        answer = cluster.chat(model, f"What does the review queue hold? ({index})")
        if answer.status_code != 200:
            return f"chat: HTTP {answer.status_code}: {answer.text[:200]}"
        body = {"response_id": answer.headers["x-request-id"], "rating": rating, "tags": ["rehearsal"]}
        if rating < 0:
            body["correction"] = "The review queue holds flagged answers until a reviewer decides."
        deadline = time.monotonic() + 10
        while True:
            given = httpx.post(f"{cluster.base}/v1/feedback", json=body, headers=cluster.headers,
                               verify=cluster.verify, timeout=30)
            if given.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if given.status_code != 200:
            return f"feedback on {body['response_id']}: HTTP {given.status_code}: {given.text[:200]}"
    return ""


def _export_and_gate(cluster: _Cluster) -> tuple[str, Path | None]:
    """`make export-eval` from the cluster's database, then `make eval` on that set; the report for the candidate."""
    exported = cluster.work_dir / "export.jsonl"
    cluster.operator("tools.export_eval", "--hours", "1", "--labelled-only", "--out", str(exported))
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    if len(rows) < len(RATINGS):
        return f"export-eval: {len(rows)} labelled answers in the cluster's database, {len(RATINGS)} were rated", None
    gates = cluster.work_dir / "gates.yaml"
    suite = "rehearsal-export"
    gates.write_text(yaml.safe_dump({"report_dir": str(cluster.work_dir / "eval"), "suites": {suite: {"exported": {
        "path": str(exported), "min_rows": len(RATINGS), "min_labelled": len(RATINGS), "max_bad_rate": 0.5,
        "redactors_from": str(cluster.config_file)}}}}))
    chat = cluster.config.routes.get("chat")
    candidate = promotion_candidate(chat) if chat else None
    cluster.command("tools.eval_suites", suite, "--gates", str(gates),
                    *(("--candidate", candidate) if candidate else ()))
    return "", cluster.work_dir / "eval" / f"{suite}.json"


def _versions_answering(cluster: _Cluster, model: str, requests: int) -> Counter[str]:
    def one(index: int) -> str:
        response = cluster.chat(model, f"rollout request {index}")
        version: str = response.headers.get(f"x-{PROJECT_NAME}-model-version", f"HTTP {response.status_code}")
        return version

    with ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(one, range(requests)))


def _settle_s(cluster: _Cluster) -> float:
    """Until every replica's controller has loaded the store's weights (its next tick, after a config reload)."""
    return 2 * cluster.config.promotion.check_interval_s + cluster.config.reload_check_s


def _start_rollout(cluster: _Cluster, route: RouteConfig, model: str, candidate: str, report: Path) -> str:
    """`make promote start` with the gate's report: the gateways route the first step's share to the candidate."""
    cluster.operator("tools.promote", "start", "--route", "chat", "--candidate", candidate, "--eval-report",
                     str(report))
    time.sleep(_settle_s(cluster))
    during = _versions_answering(cluster, model, ROLLOUT_REQUESTS)
    stable = stable_version(route)
    if set(during) - {stable, candidate} or not during[candidate]:
        return (f"during the rollout's first step, answers came from {dict(during)} "
                f"(expected {stable} and {candidate}); the gateway's own count: {_gateway_view(cluster)}")
    return ""


def _gateway_view(cluster: _Cluster) -> str:
    """The rollout as one gateway replica reports it: its weights and its backends' failures (for a failed check)."""
    text = httpx.get(f"{cluster.base}/v1/gateway/metrics", headers=cluster.headers, verify=cluster.verify,
                     timeout=30).text
    wanted = ("promotion_weight", "backend_failures", "circuit_open", "fallbacks", "shadow_total")
    return "; ".join(line for line in text.splitlines() if any(name in line for name in wanted)
                     and not line.startswith("#"))[:1500]


def _decisions(cluster: _Cluster) -> list[str]:
    """The rollout's decisions as `make promote status` prints them (action and reason), oldest first."""
    status = cluster.operator("tools.promote", "status", "--route", "chat", "--decisions", "20")
    return [" ".join(line.split()[2:]) for line in status.splitlines()[1:] if line.startswith("  2")]


def _controller_decides(cluster: _Cluster, model: str) -> str:
    """The controller's own verdict on the first step: traffic flows until its leader decides (advance when every
    gate held over the window, rollback naming the gate that broke), at most two windows and a tick."""
    settings = cluster.config.promotion
    deadline = time.monotonic() + 2 * settings.window_s + _settle_s(cluster)
    while time.monotonic() < deadline:
        _versions_answering(cluster, model, 40)
        decided = [line for line in _decisions(cluster) if line.split()[0] not in ("start", "pause", "resume")]
        if decided:
            print(f"    controller decision: {decided[0]}", flush=True)
            return ""
    return (f"no decision within two {settings.window_s:g}s windows (decisions: {_decisions(cluster)}); "
            f"the step needs {settings.gates.min_requests} candidate requests")


def _rolled_back(cluster: _Cluster, route: RouteConfig, model: str, candidate: str) -> str:
    """`make promote rollback` (refused once the controller rolled back itself): the candidate answers nothing."""
    try:
        cluster.operator("tools.promote", "rollback", "--route", "chat")
    except RuntimeError as error:
        if "rolled_back" not in str(error):
            raise
    time.sleep(_settle_s(cluster))
    after = _versions_answering(cluster, model, ROLLOUT_REQUESTS // 4)
    if after[candidate] or set(after) - {version.model_version for version in route.versions}:
        return f"after the rollback, answers came from {dict(after)} (the candidate {candidate} must answer none)"
    return ""


def run_loop(deployed: Deployed, cloud: MotoCloud | None, work_dir: Path) -> None:
    """The loop's checks on one cluster; a cluster without a shared database or a chat route has none.
    `cloud`: the stand-in cloud when this cluster reaches AWS, else None."""
    setup = deployed.gateway
    if setup is None or setup.config_path is None or not (setup.config.state.url or "").startswith("postgresql"):
        return
    chat = setup.config.routes.get("chat")
    model = chat.public_model if chat else None
    if chat is None or model is None:
        return
    cluster = _Cluster(deployed, setup.config_path, cloud, work_dir)
    check = deployed.report.check
    if check("loop: answers rated through /v1/feedback", lambda: _rate_answers(cluster, model)):
        return
    gated: list[Path] = []

    def export_and_gate() -> str:
        problem, path = _export_and_gate(cluster)
        gated.extend([path] if path else [])
        return problem

    if check("loop: export-eval from the shared database passes make eval", export_and_gate):
        return
    candidate = promotion_candidate(chat)
    if candidate is None:
        return
    if check(f"loop: make promote starts {candidate} with that report, in force on every gateway replica",
             lambda: _start_rollout(cluster, chat, model, candidate, gated[0])):
        return
    check("loop: the promotion controller decides on the step from its window's measurements",
          lambda: _controller_decides(cluster, model))
    check("loop: make promote rollback holds from the next requests", lambda: _rolled_back(cluster, chat, model,
                                                                                           candidate))
