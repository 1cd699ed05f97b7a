"""The smoke suite, with real clients against each cluster's gateway: openai (models, embeddings,
chat, streaming), BentoML's client, curl; a RAG query; the canary split; a shadow comparison; a
flagged answer in the review queue; metrics; audit segments in the bucket, verified by the
project's own verify command.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from openai.types.chat import ChatCompletionMessageParam

from platform_facts.project import DISPLAY_NAME, PROJECT_NAME, metric
from services.gateway.config import GatewayConfig, RouteConfig
from tools.rehearse.cloud import MotoCloud

if TYPE_CHECKING:
    from tools.rehearse.run import Deployed

__all__ = ["audited_request_ids", "canary_within_tolerance", "chat_call", "run_smoke", "tenant_of", "verify_audit"]

CANARY_REQUESTS = 60
CANARY_SIGMAS = 4.0
"""Binomial standard deviations the observed share may stray from the configured weight."""
AUDIT_WAIT_S = 90.0
# The one rehearsal document cleared for regulated tenants (its front matter); the corpus declares no clearance.
CLEARED_FIXTURE = "escalated-ticket.md"
SHADOW_TOTAL = metric("gateway_shadow_total")
STATE_DIR = f"/var/lib/{PROJECT_NAME}"
"""The services' state directory in the image (RAMPART_STATE_DIR): the audit log is under it."""
# Asks for the rehearsal's fixture document (tools/rehearse/fixtures), which quotes abuse the toxicity scanner flags.
FLAGGED_QUESTION = "What did the customer write in the escalated support ticket?"
CHAT_MAX_TOKENS = 8
"""Tiny answers: the smoke suite checks that each path answers, not what a tiny model says."""


def canary_within_tolerance(counts: Counter[str], weights: dict[str, float], sigmas: float = CANARY_SIGMAS) -> str:
    """'' when every version's share of `counts` is within `sigmas` binomial deviations of its weight,
    else a sentence naming the version, its share and the expected one."""
    total = sum(counts.values())
    weight_sum = sum(weights.values())
    if total == 0:
        return "no answers counted"
    for version, weight in sorted(weights.items()):
        expected = weight / weight_sum
        deviation = math.sqrt(expected * (1 - expected) / total)
        observed = counts.get(version, 0) / total
        if abs(observed - expected) > sigmas * deviation + 1e-9:
            return (f"{version}: {observed:.0%} of {total} answers, expected {expected:.0%} "
                    f"± {sigmas * deviation:.0%}")
    unexpected = set(counts) - set(weights)
    if unexpected:
        return f"answered by versions outside the route: {', '.join(sorted(unexpected))}"
    return ""


def _timed(latencies: list[float], call: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    result = call()
    latencies.append(time.perf_counter() - began)
    return result


def _route(config: GatewayConfig, kind: str) -> RouteConfig | None:
    return next((route for route in config.routes.values() if route.kind == kind), None)


def tenant_of(deployed: Deployed, data_class: str = "standard") -> str:
    """A tenant of the cluster's gateway of `data_class` (else the first): whose key the checks call with."""
    assert deployed.gateway is not None
    tenants = deployed.gateway.config.tenants
    return next((name for name, tenant in tenants.items() if tenant.data_class == data_class), next(iter(tenants)))


def run_smoke(deployed: Deployed, cloud: MotoCloud | None, *, canary: bool = True) -> None:
    """Every check of the smoke suite against one cluster (`canary=False`: all but the canary's
    60 requests); results go to its report."""
    report, cluster = deployed.report, deployed.cluster
    if deployed.gateway is None:
        report.record("gateway configured", False, "the Serve config has no gateway: nothing to call")
        return
    config = deployed.gateway.config
    tenant = tenant_of(deployed)
    key = deployed.keys[tenant].key
    base = cluster.gateway_url
    latencies = report.latencies_s
    from openai import DefaultHttpxClient, OpenAI

    verify = cluster.verify
    client = OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=120,
                    http_client=DefaultHttpxClient(verify=verify, timeout=120))

    check = report.check

    def models() -> str:
        listed = {model.id for model in _timed(latencies, lambda: client.models.list()).data}
        wanted = {route.public_model for route in config.routes.values() if route.public_model}
        missing = wanted - listed
        return f"routes name models /v1/models does not list: {', '.join(sorted(missing))}" if missing else ""

    check("openai: models list every routed model", models)

    embeddings_route = _route(config, "embeddings")
    if embeddings_route and embeddings_route.public_model:
        model_name = embeddings_route.public_model

        def embeddings() -> str:
            answer = _timed(latencies, lambda: client.embeddings.create(model=model_name, input=["rehearsal"]))
            size = len(answer.data[0].embedding)
            return "" if size == 384 else f"embedding has {size} dimensions, expected 384"

        check("openai: embeddings", embeddings)

    chat_route = _route(config, "chat")
    if chat_route and chat_route.public_model:
        chat_model = chat_route.public_model
        question: list[ChatCompletionMessageParam] = [
            {"role": "user", "content": f"How does {DISPLAY_NAME} serve models?"}
        ]

        def chat() -> str:
            answer = _timed(latencies, lambda: client.chat.completions.create(
                model=chat_model, messages=question, max_tokens=CHAT_MAX_TOKENS))
            return "" if answer.choices[0].message.content else "empty answer"

        def chat_stream() -> str:
            def streamed() -> list[Any]:
                return list(client.chat.completions.create(
                    model=chat_model, messages=question, stream=True, max_tokens=CHAT_MAX_TOKENS))
            chunks = _timed(latencies, streamed)
            text = "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
            return "" if text else f"{len(chunks)} chunks, no text"

        check("openai: chat", chat)
        check("openai: chat, streamed", chat_stream)
        if canary and len(chat_route.versions) > 1:
            check("canary split within tolerance",
                  lambda: _canary(base, key, verify, chat_model, chat_route, latencies))
        if chat_route.shadow is not None:
            check("shadow comparison recorded", lambda: _shadow(base, key, verify, chat_model, latencies))

    def bentoml_client() -> str:
        import bentoml

        if isinstance(verify, str):  # BentoML's client takes no `verify`; its httpx reads SSL_CERT_FILE
            os.environ["SSL_CERT_FILE"] = verify
        with bentoml.SyncHTTPClient(base, token=key, timeout=120) as bento:
            vectors = _timed(latencies, lambda: bento.embed(texts=["rehearsal"]))
        return "" if len(vectors) == 1 and len(vectors[0]) == 384 else f"unexpected answer {str(vectors)[:200]}"

    if _route(config, "texts") is not None:
        check("BentoML client: embed", bentoml_client)

    def curl() -> str:
        body = '{"model": "%s", "input": ["curl"]}' % (embeddings_route.public_model if embeddings_route else "")
        done = _timed(latencies, lambda: subprocess.run(
            ["curl", "--silent", "--show-error", "--max-time", "60", "--output", "/dev/null",
             "--write-out", "%{http_code}", "-H", f"Authorization: Bearer {key}",
             "-H", "Content-Type: application/json", "--data", body,
             *(["--cacert", str(verify)] if isinstance(verify, str) else []), f"{base}/v1/embeddings"],
            capture_output=True, text=True, timeout=90, check=False))
        return "" if done.stdout.strip() == "200" else f"HTTP {done.stdout.strip()} {done.stderr.strip()}"

    if embeddings_route is not None:
        check("curl: embeddings", curl)

    def rag() -> str:
        response = _timed(latencies, lambda: httpx.post(
            f"{base}/v1/rag/query", json={"query": "How are quotas enforced?", "k": 2},
            headers={"Authorization": f"Bearer {key}"}, timeout=60, verify=verify))
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:300]}"
        passages = response.json().get("passages") or []
        if not passages:
            return "no passages"
        # A regulated tenant retrieves only documents cleared for it: in the rehearsal's index, the fixture alone.
        uncleared = [p.get("source") for p in passages if CLEARED_FIXTURE not in str(p.get("source", ""))]
        if config.tenants[tenant].data_class == "regulated" and uncleared:
            return f"a regulated tenant got passages of documents not cleared for it: {uncleared}"
        return ""

    if _route(config, "rag") is not None:
        check("RAG query", rag)

    def metrics() -> str:
        ray_metrics = httpx.get(f"{cluster.metrics_url}/metrics", timeout=30)
        gateway_metrics = httpx.get(f"{base}/v1/gateway/metrics", headers={"Authorization": f"Bearer {key}"},
                                    timeout=30, verify=verify)
        problems = []
        if ray_metrics.status_code != 200 or "ray_" not in ray_metrics.text:
            problems.append(f"Ray metrics HTTP {ray_metrics.status_code}")
        if gateway_metrics.status_code != 200 or metric("gateway_requests") not in gateway_metrics.text:
            problems.append(f"gateway metrics HTTP {gateway_metrics.status_code}")
        return "; ".join(problems)

    check("metrics scrapeable (Ray node, gateway)", metrics)
    check("flagged answer reaches the review queue", lambda: _flagged(base, key, verify, config, latencies))

    regulated = [name for name, t in config.tenants.items() if t.data_class == "regulated" and name in deployed.keys]
    if regulated:
        check(f"residency: regulated tenant {regulated[0]!r} on this {cluster.spec.cluster} gateway",
              lambda: _residency(deployed, cloud, deployed.keys[regulated[0]].key, latencies))


def _residency(deployed: Deployed, cloud: MotoCloud | None, key: str, latencies: list[float]) -> str:
    """On-prem: the regulated tenant is served. Cloud: refused with a clear error, and the refusal audited."""
    assert deployed.gateway is not None
    route = _route(deployed.gateway.config, "embeddings")
    if route is None or route.public_model is None:
        return "no embeddings route to call"
    cluster = deployed.cluster
    response = _timed(latencies, lambda: httpx.post(
        f"{cluster.gateway_url}{route.path}", json={"model": route.public_model, "input": ["residency"]},
        headers={"Authorization": f"Bearer {key}"}, timeout=60, verify=cluster.verify))
    if cluster.spec.cluster == "onprem":
        return "" if response.status_code == 200 else f"HTTP {response.status_code}: {response.text[:300]}"
    error = (response.json().get("error") or {}) if response.headers.get("content-type", "").startswith(
        "application/json") else {}
    if response.status_code != 403 or error.get("code") != "data_residency":
        return f"not a residency refusal (403 data_residency): HTTP {response.status_code}: {response.text[:200]}"
    request_ids = response.headers.get_list("x-request-id")  # Serve's and the gateway's, or the one they share
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if set(request_ids) & audited_request_ids(deployed, cloud):
            return ""
        time.sleep(1)
    return f"refused (HTTP {response.status_code}: {error.get('message')}) but no audit record for {request_ids}"


def chat_call(base: str, key: str, verify: str | bool, model: str, content: str,
              temperature: float | None = None) -> httpx.Response:
    """`temperature`: None leaves the server's default (sampled); 0 answers greedily (the same answer each time)."""
    body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": CHAT_MAX_TOKENS}
    if temperature is not None:
        body["temperature"] = temperature
    return httpx.post(
        f"{base}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
        verify=verify,
    )


def _canary(base: str, key: str, verify: str | bool, model: str, route: RouteConfig, latencies: list[float]) -> str:
    counts: Counter[str] = Counter()
    for index in range(CANARY_REQUESTS):
        began = time.perf_counter()
        response = chat_call(base, key, verify, model, f"canary request {index}")
        latencies.append(time.perf_counter() - began)
        if response.status_code != 200:
            return f"request {index}: HTTP {response.status_code}: {response.text[:200]}"
        counts[response.headers.get(f"x-{PROJECT_NAME}-model-version", "(no header)")] += 1
    weights = {version.model_version: float(version.weight) for version in route.versions}
    problem = canary_within_tolerance(counts, weights)
    return f"{problem} (counts {dict(counts)})" if problem else ""


def _metric_total(text: str, name: str) -> float:
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def _shadow(base: str, key: str, verify: str | bool, model: str, latencies: list[float]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = httpx.get(f"{base}/v1/gateway/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                         verify=verify).text
        if _metric_total(text, SHADOW_TOTAL) > 0:
            return ""
        _timed(latencies, lambda: chat_call(base, key, verify, model, "shadow me"))
    return f"no shadow comparison counted ({SHADOW_TOTAL} stays 0)"


def _flagged(base: str, key: str, verify: str | bool, config: GatewayConfig, latencies: list[float]) -> str:
    """A quoted passage the toxicity scanner flags: the answer says so and the review queue lists it.

    RAG answers are scanned like chat answers and quote the indexed documents verbatim, so the
    same question flags on every cluster whatever model answers chat; without a RAG route, chat."""
    rag, chat = _route(config, "rag"), _route(config, "chat")
    if rag is not None:
        body: dict[str, Any] = {"query": FLAGGED_QUESTION, "k": 4}
        path = rag.path
    elif chat is not None and chat.public_model:
        body = {"model": chat.public_model, "max_tokens": CHAT_MAX_TOKENS,
                "messages": [{"role": "user", "content": FLAGGED_QUESTION}]}
        path = chat.path
    else:
        return "no RAG or chat route to ask"
    response = _timed(latencies, lambda: httpx.post(
        f"{base}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120, verify=verify))
    if response.status_code != 200:
        return f"{path}: HTTP {response.status_code}: {response.text[:300]}"
    marks = response.json().get(PROJECT_NAME) or {}
    if not marks.get("flagged"):
        return f"{path}: the answer was not flagged: {response.text[:200]!r}"
    # By its id: the queue lists oldest first, and after the drill's load this item may be past the first page.
    item = httpx.get(f"{base}/v1/review/items/{marks.get('review_id')}", headers={"Authorization": f"Bearer {key}"},
                     timeout=30, verify=verify)
    if item.status_code != 200:
        return f"review item {marks.get('review_id')}: HTTP {item.status_code}: {item.text[:200]}"
    status = item.json().get("status")
    return "" if status == "pending" else f"review item {marks.get('review_id')} is {status!r}, not pending"


def audited_request_ids(deployed: Deployed, cloud: MotoCloud | None) -> set[str]:
    """Request ids in the audit log: local streams on every container's volumes, and uploaded segments."""
    found: set[str] = set()
    lines: list[str] = []
    for volumes in deployed.cluster.volume_dirs.values():
        for directory in volumes.values():
            for path in Path(directory).rglob("audit/*.jsonl"):
                lines.extend(path.read_text(errors="replace").splitlines())
    upload = deployed.gateway.config.audit.upload if deployed.gateway else None
    if cloud is not None and upload is not None and upload.bucket in cloud.names.buckets:
        s3 = cloud.client("s3")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=upload.bucket, Prefix=upload.prefix):
            for item in page.get("Contents", []):
                lines.extend(s3.get_object(Bucket=upload.bucket, Key=item["Key"])["Body"].read().decode().splitlines())
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("request_id"):
            found.add(str(record["request_id"]))
    return found


def _verify_command(target: str) -> tuple[bool, str]:
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway.audit", "verify", target],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ},
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()[-400:]


def verify_audit(deployed: Deployed, cloud: MotoCloud | None) -> None:
    """The audit log verified by the project's own command (`python -m services.gateway.audit verify`):
    uploaded segments in the Object Lock bucket, or, where the config uploads nothing (on-prem), the
    log on the state volume."""
    report = deployed.report
    config = deployed.gateway.config if deployed.gateway else None
    upload = config.audit.upload if config else None
    name = "audit log verifies (services.gateway.audit verify)"
    if upload is None:
        state = deployed.shared.get(_state_volume(deployed) or "")
        if state is None or not (state / "audit").is_dir():
            report.record(name, False, "no audit upload configured and no audit log on a shared state volume")
            return
        ok, output = _verify_command(str(state / "audit"))
        report.record(name, ok, f"state volume: {output}")
        return
    if cloud is None:
        report.record(name, False, f"audit.upload names bucket {upload.bucket} but this cluster has no AWS endpoint")
        return
    if upload.bucket not in cloud.names.object_lock_buckets:
        report.record(name, False, f"audit.upload.bucket {upload.bucket!r} is not the plan's Object Lock bucket "
                      f"({', '.join(cloud.names.object_lock_buckets)})")
        return
    deadline = time.monotonic() + AUDIT_WAIT_S
    while cloud.object_count(upload.bucket, upload.prefix) == 0 and time.monotonic() < deadline:
        time.sleep(3)
    count = cloud.object_count(upload.bucket, upload.prefix)
    if count == 0:
        report.record(name, False, f"no segments under s3://{upload.bucket}/{upload.prefix} after {AUDIT_WAIT_S:.0f}s")
        return
    ok, output = _verify_command(f"s3://{upload.bucket}/{upload.prefix}")
    report.record(name, ok, f"{count} segments in the bucket; {output}")


def _state_volume(deployed: Deployed) -> str | None:
    """The volume the gateway's state dir (`/var/lib/rampart`, RAMPART_STATE_DIR) is on in the worker pods."""
    for mount in deployed.cluster.spec.workers[0].pod.mounts:
        if mount.path.rstrip("/") == STATE_DIR:
            return mount.volume
    return None
