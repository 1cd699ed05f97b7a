"""The loop after launch, on a cluster whose gateways share a state database: answers rated through the API,
the ratings exported from that database as an evaluation set, the set gated for each candidate, then two
rollouts started with the gate's score, each in force on the gateways and judged by the promotion
controller: a bad candidate (users rate its answers down) rolled back by the controller, a good one (the
stable version's weights) taken to 100 % by it; then an operator rolls the route back.

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
import threading
import time
from collections import Counter
from collections.abc import Callable
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

__all__ = ["bad_candidate", "candidate_twins", "promotion_candidate", "run_loop"]

ROOT = Path(__file__).resolve().parents[2]
RATINGS = (1, 1, 1, -1)
"""One rating per answer: three good, one bad with a correction (the bad-answer gate allows half)."""
ROLLOUT_REQUESTS = 120
"""At the first step's 5 %, the chance that none of them reaches the candidate is 0.2 % (the check then keeps
asking, up to one more settle time)."""
ROLLOUT_QUESTION = "What does the review queue hold?"
"""Every rollout request asks this, greedily: versions with the same weights give the same answer."""
ROLLOUT_CLIENTS = 4
"""Concurrent clients while the controller judges: few enough that p99 stays inside the SLO on two cores."""
SUITE = "rehearsal-export"
COMMAND_TIMEOUT_S = 300


def candidate_twins(config: GatewayConfig) -> dict[str, str]:
    """The good candidate's chat model → its stable version's (a substitution, see substitutions.py). Every served
    version gets tiny random weights of its own, so a candidate would be better or worse than stable by chance;
    with stable's weights it is good by construction, and the controller must take it to 100 %."""
    chat = config.routes.get("chat")
    candidate = promotion_candidate(chat) if chat is not None and chat.versions else None
    if chat is None or candidate is None:
        return {}
    return {config.model_versions[candidate].model: config.model_versions[stable_version(chat)].model}


def bad_candidate(route: RouteConfig, good: str) -> str | None:
    """A served version other than stable and the good candidate (staging: its canary), rolled out and rated down."""
    stable = stable_version(route)
    return next((v.model_version for v in route.versions if v.model_version not in (stable, good)), None)


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

    def chat(self, model: str, content: str, temperature: float | None = None) -> httpx.Response:
        return chat_call(self.base, self.key, self.verify, model, content, temperature)

    def command(self, module: str, *args: str) -> str:
        """One of the project's commands, as the operator runs it; its output, or RuntimeError with it."""
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"python -m {module} exited {done.returncode}: {(done.stderr or done.stdout)[-600:]}")
        return done.stdout

    def operator(self, module: str, *args: str) -> str:
        return self.command(module, "--config", str(self.config_file), "--state-dir", str(self.work_dir), *args)


def _rate(cluster: _Cluster, response_id: str, rating: int, correction: str = "") -> str:
    """One rating through `POST /v1/feedback` (a problem, or ""); it may reach a replica before the answer's row
    does, so a 404 is tried again for a few seconds."""
    body: dict[str, object] = {"response_id": response_id, "rating": rating, "tags": ["rehearsal"]}
    if correction:
        body["correction"] = correction
    deadline = time.monotonic() + 10
    while True:
        given = httpx.post(f"{cluster.base}/v1/feedback", json=body, headers=cluster.headers, verify=cluster.verify,
                           timeout=30)
        if given.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if given.status_code == 200:
        return ""
    return f"feedback on {response_id}: HTTP {given.status_code}: {given.text[:200]}"


def _rate_answers(cluster: _Cluster, model: str) -> str:
    """Answers rated through `POST /v1/feedback`, the bad one with a correction."""
    for index, rating in enumerate(RATINGS):
        answer = cluster.chat(model, f"What does the review queue hold? ({index})")
        if answer.status_code != 200:
            return f"chat: HTTP {answer.status_code}: {answer.text[:200]}"
        correction = "The review queue holds flagged answers until a reviewer decides." if rating < 0 else ""
        problem = _rate(cluster, answer.headers["x-request-id"], rating, correction)
        if problem:
            return problem
    return ""


def _export(cluster: _Cluster) -> tuple[str, Path | None]:
    """`make export-eval` from the cluster's database; the gates file of an `exported` suite on that set."""
    exported = cluster.work_dir / "export.jsonl"
    cluster.operator("tools.export_eval", "--hours", "1", "--labelled-only", "--out", str(exported))
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    if len(rows) < len(RATINGS):
        return f"export-eval: {len(rows)} labelled answers in the cluster's database, {len(RATINGS)} were rated", None
    gates = cluster.work_dir / "gates.yaml"
    gates.write_text(yaml.safe_dump({"report_dir": str(cluster.work_dir / "eval"), "suites": {SUITE: {"exported": {
        "path": str(exported), "min_rows": len(RATINGS), "min_labelled": len(RATINGS), "max_bad_rate": 0.5,
        "redactors_from": str(cluster.config_file)}}}}))
    return "", gates


def _gated(cluster: _Cluster, gates: Path, candidate: str | None) -> Path:
    """`make eval` on the exported suite, for `candidate` when there is one; its report, kept under its name."""
    cluster.command("tools.eval_suites", SUITE, "--gates", str(gates), *(("--candidate", candidate) if candidate
                                                                        else ()))
    report = cluster.work_dir / f"eval-{candidate or 'stable'}.json"
    report.write_bytes((cluster.work_dir / "eval" / f"{SUITE}.json").read_bytes())
    return report


class _Traffic:
    """Greedy chat requests with the same question, a few at a time: what a rollout's window measures."""

    def __init__(self, cluster: _Cluster, model: str) -> None:
        self.cluster, self.model = cluster, model
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()

    def send(self, requests: int, rate: Callable[[str, str], str] | None = None) -> None:
        """`requests` chat calls; `rate(version, response id)` rates an answer (a problem, or "")."""
        def one(_: int) -> None:
            response = self.cluster.chat(self.model, ROLLOUT_QUESTION, temperature=0)
            problem = "" if response.status_code == 200 else f"HTTP {response.status_code}: {response.text[:200]}"
            version = response.headers.get(f"x-{PROJECT_NAME}-model-version", "")
            if not problem and rate is not None:
                problem = rate(version, response.headers["x-request-id"])
            with self.lock:
                self.versions[version or "none"] += 1
                self.failures.extend([problem] if problem else [])

        with ThreadPoolExecutor(ROLLOUT_CLIENTS) as pool:
            list(pool.map(one, range(requests)))

    def until(self, decided: Callable[[], bool], limit_s: float,
              rate: Callable[[str, str], str] | None = None) -> bool:
        """Send until `decided()` (checked every few requests) or `limit_s`; whether it was decided."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if decided():
                return True
            self.send(ROLLOUT_CLIENTS * 10, rate)
        return decided()


def _settle_s(cluster: _Cluster) -> float:
    """Until every replica's controller has loaded the store's weights (its next tick, after a config reload)."""
    return 2 * cluster.config.promotion.check_interval_s + cluster.config.reload_check_s


def _decisions(cluster: _Cluster) -> list[str]:
    """The route's decisions as `make promote status` prints them (action, weight and reason), oldest first."""
    status = cluster.operator("tools.promote", "status", "--route", "chat", "--decisions", "20")
    return [" ".join(line.split()[2:]) for line in status.splitlines()[1:] if line.startswith("  2")]


def _latest(cluster: _Cluster) -> str:
    decisions = _decisions(cluster)
    return decisions[-1] if decisions else ""


def _start_rollout(cluster: _Cluster, route: RouteConfig, model: str, candidate: str, report: Path) -> str:
    """`make promote start` with the gate's report: the gateways route the first step's share to the candidate."""
    cluster.operator("tools.promote", "start", "--route", "chat", "--candidate", candidate, "--eval-report",
                     str(report))
    time.sleep(_settle_s(cluster))
    traffic = _Traffic(cluster, model)
    traffic.send(ROLLOUT_REQUESTS)
    # Every replica reloads the weights on its own controller's tick; one that ticked late (two cores, a
    # loaded cluster) routes a few more requests by the old ones. Keep asking for one more settle time
    # before calling the rollout not in force. A client cannot tell which replica answered, so this shows
    # the rollout in force on the gateways; one replica that never loads the weights would go unnoticed.
    traffic.until(lambda: traffic.versions[candidate] > 0, _settle_s(cluster))
    print(f"    {candidate} in force: answers {dict(traffic.versions)}", flush=True)
    stable = stable_version(route)
    if traffic.failures or set(traffic.versions) - {stable, candidate} or not traffic.versions[candidate]:
        return (f"during the rollout's first step, answers came from {dict(traffic.versions)} (expected {stable} "
                f"and {candidate}; failures {traffic.failures[:3]}); the gateway's own count: {_gateway_view(cluster)}")
    return ""


def _gateway_view(cluster: _Cluster) -> str:
    """The rollout as one gateway replica reports it: its weights and its backends' failures (for a failed check)."""
    text = httpx.get(f"{cluster.base}/v1/gateway/metrics", headers=cluster.headers, verify=cluster.verify,
                     timeout=30).text
    wanted = ("promotion_weight", "backend_failures", "circuit_open", "fallbacks", "shadow_total")
    return "; ".join(line for line in text.splitlines() if any(name in line for name in wanted)
                     and not line.startswith("#"))[:1500]


def _bad_rolled_back(cluster: _Cluster, model: str, candidate: str) -> str:
    """Users rate every answer of `candidate` down; the controller rolls it back on its feedback gate by itself,
    at the first look with the step's minimum of requests, and no request fails meanwhile."""
    settings = cluster.config.promotion
    began = time.monotonic()

    def rate(version: str, response_id: str) -> str:
        return _rate(cluster, response_id, -1) if version == candidate else ""

    traffic = _Traffic(cluster, model)
    decided = traffic.until(lambda: not _latest(cluster).startswith("start"), 2 * settings.window_s
                            + _settle_s(cluster), rate)
    latest, took = _latest(cluster), time.monotonic() - began
    print(f"    bad candidate {candidate}: {latest!r} after {took:.0f}s; answers {dict(traffic.versions)}", flush=True)
    if traffic.failures:
        return f"{len(traffic.failures)} requests failed while {candidate} was judged: {traffic.failures[:3]}"
    if not decided or not latest.startswith("rollback"):
        return (f"the controller did not roll {candidate} back within two {settings.window_s:g}s windows "
                f"(latest decision {latest!r}; {settings.gates.min_requests} candidate requests needed)")
    return ""


def _good_promoted(cluster: _Cluster, model: str, candidate: str) -> str:
    """A candidate with the stable version's weights (`candidate_twins`) holds every gate at every step: the
    controller takes it to 100 % by itself, no request fails meanwhile, and then it answers every request."""
    settings = cluster.config.promotion
    began = time.monotonic()
    traffic = _Traffic(cluster, model)
    decided = traffic.until(lambda: _latest(cluster).split()[:1] in (["promote"], ["rollback"]),
                            2 * settings.window_s * len(settings.steps) + _settle_s(cluster))
    steps = _decisions(cluster)[-len(settings.steps):]
    print(f"    good candidate {candidate}: {[step.split()[0] for step in steps]} in {time.monotonic() - began:.0f}s; "
          f"answers {dict(traffic.versions)}", flush=True)
    if traffic.failures:
        return f"{len(traffic.failures)} requests failed during the rollout: {traffic.failures[:3]}"
    if not decided or not steps[-1].startswith("promote"):
        return f"the controller did not promote {candidate} (decisions: {steps})"
    time.sleep(_settle_s(cluster))
    after = _Traffic(cluster, model)
    after.send(ROLLOUT_REQUESTS // 4)
    if set(after.versions) != {candidate} or after.failures:
        return f"at 100 %, answers came from {dict(after.versions)} (failures {after.failures[:3]})"
    return ""


def _rolled_back(cluster: _Cluster, route: RouteConfig, model: str, candidate: str) -> str:
    """`make promote rollback` of the promoted candidate: the route is back on its configured versions."""
    cluster.operator("tools.promote", "rollback", "--route", "chat")
    time.sleep(_settle_s(cluster))
    after = _Traffic(cluster, model)
    after.send(ROLLOUT_REQUESTS // 4)
    if after.versions[candidate] or set(after.versions) - {version.model_version for version in route.versions}:
        return (f"after the rollback, answers came from {dict(after.versions)} "
                f"(the candidate {candidate} must answer none)")
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
    exported: list[Path] = []

    def export() -> str:
        problem, gates = _export(cluster)
        exported.extend([gates] if gates else [])
        return problem

    if check("loop: export-eval from the shared database", export):
        return
    good = promotion_candidate(chat)
    bad = bad_candidate(chat, good) if good is not None else None
    candidates: list[str | None] = [candidate for candidate in (bad, good) if candidate is not None]
    reports: dict[str | None, Path] = {}

    def gate() -> str:
        for candidate in candidates or [None]:
            reports[candidate] = _gated(cluster, exported[0], candidate)
        return ""

    named = f" for {', '.join(map(str, candidates))}" if candidates else ""
    if check(f"loop: make eval passes the exported set{named}", gate) or good is None:
        return
    if bad is not None:
        if check(f"loop: make promote starts {bad} with its report, in force on the gateways",
                 lambda: _start_rollout(cluster, chat, model, bad, reports[bad])):
            return
        check(f"loop: a bad candidate ({bad}, its answers rated down) is rolled back by the controller, "
              "no request failing", lambda: _bad_rolled_back(cluster, model, bad))
    if check(f"loop: make promote starts {good} with its report, in force on the gateways",
             lambda: _start_rollout(cluster, chat, model, good, reports[good])):
        return
    if check(f"loop: a good candidate ({good}, stable's weights) reaches 100 % by the controller, no request "
             "failing", lambda: _good_promoted(cluster, model, good)):
        return
    check("loop: make promote rollback holds from the next requests", lambda: _rolled_back(cluster, chat, model,
                                                                                           good))
