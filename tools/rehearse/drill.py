"""The fault drill, under load: kill a worker container, kill the quota ledger actor, restart the head.

Load is 16 concurrent clients over mixed endpoints (embeddings, chat, RAG), bounded in requests and
in time. A request counts as answered when it gets HTTP 200, or a response the gateway marked
(`x-rampart-degraded`); a connection error or an unmarked failure counts as lost.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from platform_facts.project import PROJECT_NAME
from services.gateway.quotas import LEDGER_ACTOR_NAME, LEDGER_NAMESPACE
from tools.rehearse.cloud import MotoCloud
from tools.rehearse.podman import Podman
from tools.rehearse.smoke import CHAT_MAX_TOKENS, audited_request_ids, run_smoke, verify_audit

if TYPE_CHECKING:
    from tools.rehearse.run import Deployed

__all__ = ["LoadOutcome", "classify", "run_drill"]

CONCURRENCY = 16
MAX_REQUESTS = 240
MAX_LOAD_S = 45.0
KILL_AFTER_S = 8.0
REPLACE_AFTER_S = 5.0
"""How long after the kill the worker's replacement starts (KubeRay recreating the pod)."""
LEDGER_PROBE_S = 30.0


@dataclass
class LoadOutcome:
    answered: int = 0
    degraded: int = 0
    lost: list[str] = field(default_factory=list)
    request_ids: set[str] = field(default_factory=set)
    """Per request the gateway answered: its `x-request-id` values, space-separated (one of them is audited)."""
    statuses: Counter[int] = field(default_factory=Counter)


def classify(status: int | None, headers: dict[str, str]) -> str:
    """`answered`, `degraded` (marked by the gateway) or `lost`."""
    if status is None:
        return "lost"
    if f"x-{PROJECT_NAME}-degraded" in headers:
        return "degraded"
    return "answered" if status == 200 else "lost"


def _failure(response: httpx.Response) -> str:
    """What a failed answer said: the gateway's error message and each attempt's cause, or the proxy's text."""
    try:
        error = response.json()["error"]
        attempts = error.get("attempts") or []
        return f"gateway: {error['message']}" + (f" (attempts: {'; '.join(map(str, attempts))})" if attempts else "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"proxy: {response.text[:120]}"


def _requests(deployed: Deployed, key: str) -> list[tuple[str, dict[str, object]]]:
    assert deployed.gateway is not None
    routes = deployed.gateway.config.routes.values()
    mixed: list[tuple[str, dict[str, object]]] = []
    for route in routes:
        if route.kind == "embeddings" and route.public_model:
            mixed.append((route.path, {"model": route.public_model, "input": ["drill"]}))
        elif route.kind == "chat" and route.public_model:
            mixed.append((route.path, {"model": route.public_model, "max_tokens": CHAT_MAX_TOKENS,
                                       "messages": [{"role": "user", "content": "How are audit logs kept?"}]}))
        elif route.kind == "rag":
            mixed.append((route.path, {"query": "How are audit logs kept?", "k": 2}))
    return mixed


def _load(deployed: Deployed, key: str, during: Callable[[], None]) -> LoadOutcome:
    """Bounded load at CONCURRENCY; `during` runs once, KILL_AFTER_S into it."""
    outcome = LoadOutcome()
    lock = threading.Lock()
    mixed = _requests(deployed, key)
    started = time.monotonic()
    base = deployed.cluster.gateway_url

    def one(index: int) -> None:
        if time.monotonic() - started > MAX_LOAD_S:
            return
        path, body = mixed[index % len(mixed)]
        status: int | None = None
        headers: dict[str, str] = {}
        gateway_ids: list[str] = []
        try:
            response = httpx.post(f"{base}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                                  verify=deployed.cluster.verify)
            status, headers = response.status_code, dict(response.headers)
            # Every id the answer carries (Serve's and the gateway's, or the one they share); the audit check
            # looks for any of them.
            gateway_ids = response.headers.get_list("x-request-id")
            if status >= 400:  # what a failed answer said; the gateway answers OpenAI's JSON error, Serve's proxy text
                headers["error"] = _failure(response)
        except httpx.HTTPError as error:
            headers = {"error": f"{type(error).__name__}: {error}"}
        kind = classify(status, headers)
        with lock:
            outcome.statuses[status or 0] += 1
            if kind in ("answered", "degraded"):
                outcome.request_ids.add(" ".join(sorted(gateway_ids)))
            if kind == "answered":
                outcome.answered += 1
            elif kind == "degraded":
                outcome.degraded += 1
            else:
                outcome.lost.append(f"{path}: {status} {headers.get('error', '')}"[:400])

    trigger = threading.Timer(KILL_AFTER_S, during)
    trigger.start()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(MAX_REQUESTS)))
    trigger.join()
    return outcome


def _replica_nodes(deployed: Deployed) -> dict[str, set[str]]:
    """Deployment name → IPs of the nodes its replicas run on (Serve's REST API)."""
    applications = deployed.cluster.applications()
    nodes: dict[str, set[str]] = {}
    for application in applications.values():
        for name, deployment in (application.get("deployments") or {}).items():
            nodes[name] = {replica.get("node_ip", "") for replica in deployment.get("replicas") or []}
    return nodes


def _container_ip(podman: Podman, name: str) -> str:
    inspected = json.loads(podman.run("inspect", name).stdout)[0]
    networks = inspected["NetworkSettings"]["Networks"]
    return str(next(iter(networks.values()))["IPAddress"])


def _victim(deployed: Deployed, podman: Podman) -> tuple[str, str]:
    """A worker that hosts model replicas but, if one exists, not the gateway (Ingress) nor the clients' entry."""
    nodes = _replica_nodes(deployed)
    ingress = nodes.get("Ingress", set())
    ips = {worker: _container_ip(podman, worker) for worker in deployed.cluster.workers
           if worker != deployed.cluster.entry}
    for worker, ip in ips.items():
        if ip not in ingress and any(ip in hosts for hosts in nodes.values()):
            return worker, "hosts model replicas, not the gateway"
    worker = deployed.cluster.workers[-1]
    return worker, "every worker hosts a gateway replica: in-flight requests on it can be lost"


def _kill_ledger(deployed: Deployed, podman: Podman) -> str:
    """Kill the ledger actor the way a crash would (Ray may restart it); returns what the command printed."""
    script = (
        "import ray; ray.init(address='auto', logging_level='ERROR'); "
        f"actor = ray.get_actor('{LEDGER_ACTOR_NAME}', namespace='{LEDGER_NAMESPACE}'); "
        "ray.kill(actor, no_restart=False); print('killed')"
    )
    done = podman.exec(deployed.cluster.head, "python", "-c", script, timeout=90)
    return (done.stdout + done.stderr).strip()[-300:]


def run_drill(deployed: Deployed, podman: Podman, cloud: MotoCloud | None) -> None:
    report, cluster = deployed.report, deployed.cluster
    if deployed.gateway is None:
        return
    tenant = next(iter(deployed.keys))
    key = deployed.keys[tenant].key

    victim, why = _victim(deployed, podman)
    print(f"  [{cluster.spec.key}] drill: {CONCURRENCY} clients, killing {victim} ({why})", flush=True)
    def kill_and_replace() -> None:
        podman.kill(victim)
        time.sleep(REPLACE_AFTER_S)
        podman.start_again(victim)
        cluster.refresh_ports(podman)

    outcome = _load(deployed, key, kill_and_replace)
    total = outcome.answered + outcome.degraded + len(outcome.lost)
    report.record(
        "worker killed under load: no request lost",
        not outcome.lost and total > 0,
        f"{total} requests: {outcome.answered} answered, {outcome.degraded} degraded, {len(outcome.lost)} lost "
        f"(statuses {dict(outcome.statuses)}){'; first lost: ' + outcome.lost[0] if outcome.lost else ''}",
    )
    time.sleep(5)  # let the surviving replicas flush what they hold
    audited = audited_request_ids(deployed, cloud)
    missing = {ids for ids in outcome.request_ids if not set(ids.split()) & audited}
    report.record(
        "audit count equals answered count",
        not missing and bool(outcome.request_ids),
        f"{len(outcome.request_ids)} answered with a gateway request id, {len(outcome.request_ids) - len(missing)} "
        "in the audit log" + (f"; missing e.g. {sorted(missing)[:3]}" if missing else ""),
    )

    killed = _kill_ledger(deployed, podman)
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + LEDGER_PROBE_S
    base = cluster.gateway_url
    embeddings = next((p, b) for p, b in _requests(deployed, key) if "input" in b)
    last = ""
    while time.monotonic() < deadline:
        response = httpx.post(f"{base}{embeddings[0]}", json=embeddings[1],
                              headers={"Authorization": f"Bearer {key}"}, timeout=30, verify=cluster.verify)
        outcomes[str(response.status_code)] += 1
        last = response.text[:200]
        if response.status_code == 200 and outcomes["200"] >= 3:
            break
        time.sleep(0.5)
    mode = deployed.gateway.config.quotas.on_error
    recovered = outcomes["200"] >= 3
    refused_clearly = all(code in ("200", "429", "503") for code in outcomes)
    report.record(
        f"quota ledger killed: recovers (on_error={mode})",
        recovered and refused_clearly,
        f"{killed!r}; answers while it came back: {dict(outcomes)}" + (f"; last: {last}" if not recovered else ""),
    )

    print(f"  [{cluster.spec.key}] drill: restarting the head {cluster.head}", flush=True)
    restarted = time.monotonic()
    podman.restart(cluster.head)
    cluster.refresh_ports(podman)
    try:
        cluster.wait_for_dashboard(podman)
        if not cluster.applications():
            cluster.deploy()  # what KubeRay does for a head that comes back without the Serve apps
        cluster.wait_until_running(podman)
        report.record("head restarted: the application comes back", True,
                      f"serving again after {time.monotonic() - restarted:.0f}s")
    except Exception as error:
        print(f"  [{cluster.spec.key}] the application did not come back: {error}", flush=True)  # in full, for the log
        report.record("head restarted: the application comes back", False, f"{type(error).__name__}: {error}"[:600])
        return
    before = len(report.checks)
    run_smoke(deployed, cloud, canary=False)  # the split was measured before; the rest must pass again
    again = report.checks[before:]
    for index, check in enumerate(again):
        again[index] = type(check)(f"after head restart: {check.name}", check.ok, check.detail)
    report.checks[before:] = again
    verify_audit(deployed, cloud)
