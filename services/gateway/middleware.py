"""`GatewayMiddleware`: the pure ASGI middleware every model request passes through.

It wraps the serving layer's public ASGI app in the same process (no extra Serve hop) and, per
request: authenticates the key (O(1) hash lookup) and checks its scope, enforces the request
limits, admits it against the tenant's shared rate limit and token quota, picks the model
version (canary weights; regulated tenants on-prem only), scans the input, calls the inner app
with a timeout, retries and a circuit breaker per backend, walks the fallback chain when a
backend fails, scans the output (streams chunk by chunk), copies traffic to a shadow
candidate, and writes one audit record. Domain errors become JSON responses here, at the edge.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.gateway.admin import ADMIN_ROUTES, ReloadResult, build_admin_app
from services.gateway.asgi import (
    ASGIApp,
    BackendFailure,
    Captured,
    Message,
    Receive,
    Scope,
    Send,
    call_app,
    json_or_none,
    open_stream,
    read_body,
)
from services.gateway.audit import AuditLog, AuditUploader
from services.gateway.config import (
    CONFIG_DIR,
    GatewayConfig,
    RouteConfig,
    _path_matches,
    config_path,
    load_gateway_config,
    state_dir_for,
)
from services.gateway.drift import DriftTracker, load_baseline
from services.gateway.errors import (
    BackendUnavailableError,
    ConfigError,
    GatewayError,
    InputBlockedError,
    NotFoundError,
    QuotaServiceError,
    RateLimitedError,
)
from services.gateway.keys import ApiKey, KeyStore, load_key_store
from services.gateway.metrics import GatewayMetrics
from services.gateway.payloads import (
    count_tokens,
    decode_embedding,
    input_texts,
    output_texts,
    parse_json_body,
    usage_tokens,
    write_text,
)
from services.gateway.quotas import LedgerClient, ProcessLedger, TenantQuotas, get_or_create_ray_ledger
from services.gateway.resilience import CircuitBreaker, Plan, Step, plan_request
from services.gateway.review import ReviewQueue
from services.gateway.scanners import Action, PipelineResult
from services.gateway.scanners.pipeline import ScannerPipeline
from services.gateway.sse import chunk_delta, content_chunk, final_chunk, sse_events

__all__ = ["GatewayMiddleware", "GatewaySettings"]

log = logging.getLogger("rampart.gateway")


# Shadow copies never compete with real traffic beyond this many at once; extras are skipped.
MAX_SHADOW_IN_FLIGHT = 8


class GatewaySettings(BaseModel):
    """How the serving layer constructs the gateway (`gateway:` in its app args)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str
    """Environment name: the gateway reads services/config/gateway-<env>.yaml."""
    config_path: str | None = None
    """An explicit config file instead (tests)."""
    state_dir: str | None = None
    """Audit log and review queue directory (default: $RAMPART_STATE_DIR or .rampart/<env>)."""


@dataclass
class _Runtime:
    """Everything derived from one version of the config; a reload swaps it atomically."""

    config: GatewayConfig
    keys: KeyStore
    pipeline: ScannerPipeline
    tenant_pipelines: dict[str, ScannerPipeline]
    """Tenants whose config overrides the environment's scanners."""

    def pipeline_for(self, tenant: str) -> ScannerPipeline:
        return self.tenant_pipelines.get(tenant, self.pipeline)
    mtime: float


@dataclass
class _Request:
    """What the audit record and metrics need to know about one request."""

    request_id: str
    method: str
    path: str
    started: float
    route: str = ""
    key: ApiKey | None = None
    status: int = 0
    backend: str | None = None
    fallback: str | None = None
    degraded: str | None = None
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)
    blocked_by: str | None = None
    prompt_sha256: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error_type: str | None = None
    review_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    response_started: bool = False
    accounted: bool = False
    admin_state: dict[str, Any] = field(default_factory=dict)


class GatewayMiddleware:
    """Wraps the public ASGI app: `app = GatewayMiddleware(app, GatewaySettings(env="local"))`."""

    def __init__(
        self,
        app: ASGIApp,
        settings: GatewaySettings | Mapping[str, Any],
        *,
        ledger: LedgerClient | None = None,
        secrets_client: Any = None,
        s3_client: Any = None,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.settings = settings if isinstance(settings, GatewaySettings) else GatewaySettings.model_validate(settings)
        self._config_path = Path(self.settings.config_path) if self.settings.config_path else config_path(self.settings.env)
        self._secrets_client = secrets_client
        self._rng = rng or random.Random()
        self.metrics = GatewayMetrics(ray_export=_inside_serve_replica())
        self._runtime = self._load_runtime()
        config = self._runtime.config
        state_dir = Path(self.settings.state_dir) if self.settings.state_dir else state_dir_for(self.settings.env)
        self.audit = AuditLog(state_dir / "audit")
        self._shadow_log = AuditLog(state_dir / "shadow", stream=self.audit.stream)
        self._uploader = AuditUploader(config.audit.upload, s3_client) if config.audit.upload else None
        self._review: ReviewQueue | None = None
        self._review_path = state_dir / "review.sqlite"
        if ledger is None:
            ledger = get_or_create_ray_ledger() if config.quotas.ledger == "ray_actor" else ProcessLedger()
        self.quotas = TenantQuotas(ledger, config.quotas, config.tenants)
        self._breakers: dict[str, CircuitBreaker] = {}
        self._sync_breakers(config)
        baseline = load_baseline(CONFIG_DIR / config.drift.baseline) if config.drift.baseline else None
        self.drift = DriftTracker(baseline, config.drift.window, config.drift.warmup)
        self._admin = build_admin_app(self.review_queue, self.metrics, self.reload)
        self._reload_lock = asyncio.Lock()
        self._last_reload_check = time.monotonic()
        self._background: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------------- config and state

    @property
    def config(self) -> GatewayConfig:
        return self._runtime.config

    def review_queue(self) -> ReviewQueue:
        # Opened on first use: SQLite connections are cheap but need not exist in every replica.
        if self._review is None:
            self._review = ReviewQueue(self._review_path)
        return self._review

    def _load_runtime(self) -> _Runtime:
        mtime = self._config_path.stat().st_mtime if self._config_path.exists() else 0.0
        config = load_gateway_config(self._config_path)
        keys = load_key_store(config.keys, config.tenants, self._secrets_client)
        pipeline = ScannerPipeline.from_config(config.scanners)
        tenant_pipelines = {
            name: ScannerPipeline.from_config(tenant.scanners)
            for name, tenant in config.tenants.items()
            if tenant.scanners is not None
        }
        return _Runtime(config, keys, pipeline, tenant_pipelines, mtime)

    def _sync_breakers(self, config: GatewayConfig) -> None:
        for name, backend in config.backends.items():
            breaker = self._breakers.get(name)
            if breaker is None or breaker.config != backend.breaker:
                self._breakers[name] = CircuitBreaker(backend.breaker)

    async def reload(self, force: bool = True) -> ReloadResult:
        """Re-read the config file (promote, roll back, change weights) without a restart.

        A config that does not validate is refused: the old one stays in force and the error is
        logged and counted (`rampart_gateway_config_reloads_total{outcome="error"}`).
        """
        async with self._reload_lock:
            mtime = self._config_path.stat().st_mtime
            changed = mtime != self._runtime.mtime
            if changed or force:
                try:
                    runtime = await asyncio.to_thread(self._load_runtime)
                except ConfigError as error:
                    self.metrics.config_reloads.labels("error").inc()
                    log.error("gateway config reload refused, keeping the previous config: %s", error)
                    raise
                self._sync_breakers(runtime.config)
                self.quotas.reconfigure(runtime.config.quotas, runtime.config.tenants)
                self._runtime = runtime
                self.metrics.config_reloads.labels("ok").inc()
        return ReloadResult(
            reloaded=changed or force,
            versions={
                name: {version.backend: version.weight for version in route.versions}
                for name, route in self.config.routes.items()
            },
        )

    async def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._last_reload_check < self.config.reload_check_s:
            return
        self._last_reload_check = now
        try:
            if self._config_path.stat().st_mtime != self._runtime.mtime:
                await self.reload(force=False)
        except (ConfigError, OSError):
            # Keep serving with the config in force; the error was logged and counted.
            self._runtime.mtime = self._config_path.stat().st_mtime if self._config_path.exists() else 0.0

    # ----------------------------------------------------------------- ASGI edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            # Nothing reaches the models except through the checks below (no websockets).
            await send({"type": "websocket.close", "code": 1008})
            return
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path):] or "/"  # routes are matched below the app's mount point
        if path in self.config.public_paths:
            await self.app(scope, receive, send)
            return
        await self._maybe_reload()
        request = _Request(
            request_id=uuid.uuid4().hex, method=scope["method"], path=path, started=time.perf_counter()
        )
        tracked_send = self._tracking(send, request)
        try:
            await self._handle(request, scope, receive, tracked_send)
        except GatewayError as error:
            request.error_type = error.type
            if isinstance(error, RateLimitedError) and request.key is not None:
                self.metrics.rate_limited.labels(request.key.tenant, str(error.details.get("kind", ""))).inc()
            if not request.response_started:
                await self._send_json(tracked_send, request, error.status, error.body(), error.headers())
        except Exception:
            log.exception("gateway: unexpected error on %s %s (request %s)", request.method, path, request.request_id)
            request.error_type = "internal_error"
            if not request.response_started:
                body = {"error": {"type": "internal_error", "message": "internal gateway error",
                                  "request_id": request.request_id}}
                await self._send_json(tracked_send, request, 500, body)
        finally:
            self._account(request)  # no-op when the answer's last message already accounted it

    def _tracking(self, send: Send, request: _Request) -> Send:
        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                request.response_started = True
                request.status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request.request_id.encode()))
                if request.degraded:
                    headers.append((b"x-rampart-degraded", request.degraded.encode()))
                if request.backend:
                    headers.append((b"x-rampart-model-version", request.backend.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # The record is written before the client can see the end of the answer: no
                # request is ever answered without its audit record.
                self._account(request)
            await send(message)

        return tracked

    async def _send_json(
        self, send: Send, request: _Request, status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        raw_headers += [(key.encode(), value.encode()) for key, value in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})

    # ----------------------------------------------------------------- one request

    async def _handle(self, request: _Request, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self._runtime
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        admin_scope = _admin_scope(request.method, request.path)
        route = runtime.config.route_for(request.path)
        # Known routes label metrics even for refused requests; unknown paths never become labels.
        request.route = _admin_route_name(request.path) if admin_scope else (route.path if route else "")
        request.key = runtime.keys.authenticate(headers)
        if admin_scope is not None:
            request.key.require_scope(admin_scope, f"{request.method} {request.path}")
            await self._call_admin(request, scope, receive, send)
            return
        if route is None:
            raise NotFoundError(f"no route {request.method} {request.path}", path=request.path)
        request.key.require_scope(route.scope, f"{request.method} {route.path}")
        if request.method not in route.methods:
            raise NotFoundError(f"{request.path} does not accept {request.method}", path=request.path)
        body = await read_body(receive, headers, runtime.config.limits.max_body_bytes)
        if route.kind == "passthrough":
            await self._passthrough(request, scope, body, send)
            return
        await self._model_request(request, runtime, route, scope, body, send)

    async def _call_admin(self, request: _Request, scope: Scope, receive: Receive, send: Send) -> None:
        assert request.key is not None
        # The admin app leaves what the audit record should say (a review decision) in its
        # request state, which `_account` reads when the answer is sent.
        request.admin_state = {**scope.get("state", {}), "key_id": request.key.id}
        await self._admin({**scope, "state": request.admin_state}, receive, send)

    async def _passthrough(self, request: _Request, scope: Scope, body: bytes, send: Send) -> None:
        captured = await call_app(self.app, scope, body, timeout_s=30.0)
        await send({"type": "http.response.start", "status": captured.status, "headers": captured.headers})
        await send({"type": "http.response.body", "body": captured.body})

    async def _model_request(
        self, request: _Request, runtime: _Runtime, route: RouteConfig, scope: Scope, body: bytes, send: Send
    ) -> None:
        assert request.key is not None
        config = runtime.config
        payload = parse_json_body(body)
        texts = input_texts(route.kind, payload, config.limits)
        if route.kind in ("chat", "embeddings"):
            requested = payload.get("model")
            if requested != route.public_model:
                raise NotFoundError(
                    f"model: unknown model {requested!r} for {route.path}; use {route.public_model!r}",
                    field="model", param="model",
                )
            request.key.require_model(route.public_model or "")
        joined = "\n".join(item.text for item in texts)
        request.prompt_sha256 = hashlib.sha256(joined.encode()).hexdigest()
        estimated = count_tokens(joined) + 1
        tenant = request.key.tenant
        try:
            await self.quotas.admit(tenant, estimated)
        except QuotaServiceError as error:
            if config.quotas.on_error == "fail_closed":
                raise BackendUnavailableError("rate limiting is unavailable; refusing (fail-closed)",
                                              component="quota_ledger") from error
            log.warning("quota ledger unreachable, admitting (fail-open): %s", error)
            request.extra["quota"] = "fail_open"
        for item in texts:
            self.drift.observe_text(len(item.text))
        self.metrics.input_length_mean.set(self.drift.mean_length or 0.0)
        self.metrics.input_length_shift.set(self.drift.length_shift)

        regulated = config.tenants[tenant].data_class == "regulated"
        plan = plan_request(config, route, regulated, self._rng)

        for item in texts:
            result = runtime.pipeline_for(tenant).scan_input(item.text, third_party=item.third_party)
            self._record_scan(request, result)
            if result.blocked:
                request.blocked_by = result.blocked_by
                raise InputBlockedError(
                    f"{item.field}: blocked by scanner {result.blocked_by!r}: {result.reason}",
                    field=item.field, scanner=result.blocked_by, reason=result.reason,
                )
            if result.text != item.text:
                write_text(payload, item.path, result.text)

        streaming = route.kind == "chat" and payload.get("stream") is True
        try:
            if streaming:
                await self._serve_stream(request, runtime, route, plan, scope, payload, send)
            else:
                await self._serve_once(request, runtime, route, plan, scope, payload, send)
        finally:
            total = request.prompt_tokens + request.completion_tokens
            self.quotas.settle_tokens(tenant, estimated, total if total else estimated)
            self.metrics.tokens.labels(tenant).inc(total)
            self.metrics.cost.labels(tenant).inc(request.cost_usd)

    # ----------------------------------------------------------------- backends

    def _backend_body(self, route: RouteConfig, step: Step, payload: dict[str, Any], stream: bool) -> bytes:
        assert step.backend is not None
        body = dict(payload)
        if route.kind in ("chat", "embeddings"):
            body["model"] = step.backend.model
        if route.kind == "chat":
            body["stream"] = stream
        return json.dumps(body).encode()

    async def _attempt(self, step: Step, scope: Scope, body: bytes) -> Captured:
        assert step.backend is not None
        try:
            captured = await call_app(self.app, scope, body, step.backend.timeout_s)
        except TimeoutError:
            raise BackendFailure("timeout", f"no answer within {step.backend.timeout_s}s") from None
        except BackendFailure:
            raise
        except Exception as error:  # noqa: BLE001 - a crashed backend call is a failure to fall back from
            raise BackendFailure("error", f"{type(error).__name__}: {error}") from None
        if captured.status >= 500:
            raise BackendFailure(f"http_{captured.status}", captured.body[:200].decode(errors="replace"))
        return captured

    async def _call_chain(
        self, request: _Request, route: RouteConfig, plan: Plan, scope: Scope, payload: dict[str, Any],
        call: Callable[[Step, bytes], Awaitable[Any]], stream: bool,
    ) -> tuple[Step, Any]:
        """Try each step (with its retries) until one answers; `review` ends the chain."""
        failures: list[str] = []
        for step in plan.steps:
            if step.backend is None:
                return step, None
            breaker = self._breakers[step.name]
            body = self._backend_body(route, step, payload, stream)
            for _attempt in range(step.backend.retries + 1):
                if not breaker.allow():
                    failures.append(f"{step.name}: circuit open")
                    self.metrics.backend_failures.labels(step.name, "circuit_open").inc()
                    break
                try:
                    answer = await call(step, body)
                except BackendFailure as failure:
                    breaker.record_failure()
                    self.metrics.backend_failures.labels(step.name, failure.cause).inc()
                    self.metrics.circuit_open.labels(step.name).set(1 if breaker.state != "closed" else 0)
                    failures.append(f"{step.name}: {failure.cause}")
                    continue
                breaker.record_success()
                self.metrics.circuit_open.labels(step.name).set(0)
                return step, answer
        raise BackendUnavailableError(
            f"no backend could answer {route.path}", attempts=failures,
        )

    def _mark_step(self, request: _Request, route: RouteConfig, step: Step) -> None:
        request.backend = step.name
        if not step.primary:
            request.fallback = step.name
            request.degraded = f"fallback={step.name}"
            self.metrics.fallbacks.labels(route.path, step.name).inc()
            self.metrics.degraded.labels(route.path, "fallback").inc()

    # ----------------------------------------------------------------- non-streaming

    async def _serve_once(
        self, request: _Request, runtime: _Runtime, route: RouteConfig, plan: Plan, scope: Scope,
        payload: dict[str, Any], send: Send,
    ) -> None:
        step, captured = await self._call_chain(
            request, route, plan, scope, payload, lambda s, b: self._attempt(s, scope, b), stream=False
        )
        self._mark_step(request, route, step)
        if step.backend is None:
            await self._send_review_fallback(request, route, payload, send, stream=False)
            return
        answer = json_or_none(captured.body) if captured.status < 400 else None
        if answer is None:
            await send({"type": "http.response.start", "status": captured.status, "headers": captured.headers})
            await send({"type": "http.response.body", "body": captured.body})
            return
        self._account_usage(request, step, answer)
        if route.kind == "embeddings":
            self._observe_embeddings(answer)
        before = output_texts(route.kind, answer)
        notes = self._scan_answer(request, runtime, route, answer, payload)
        if plan.shadow:
            self._start_shadow(request, route, plan, scope, payload, answer)
        if not notes and output_texts(route.kind, answer) == before:
            # Nothing to add or redact: pass the backend's bytes on (re-encoding 384 floats costs more
            # than everything else the gateway does to an embedding request).
            await send({"type": "http.response.start", "status": captured.status, "headers": captured.headers})
            await send({"type": "http.response.body", "body": captured.body})
            return
        if notes:
            answer["rampart"] = notes
        await self._send_json(send, request, captured.status, answer)

    def _scan_answer(
        self, request: _Request, runtime: _Runtime, route: RouteConfig, answer: dict[str, Any],
        payload: dict[str, Any],
    ) -> dict[str, Any]:
        assert request.key is not None
        tenant = request.key.tenant
        notes: dict[str, Any] = {}
        if request.degraded:
            notes.update(degraded=True, fallback=request.fallback)
        flagged: list[str] = []
        for item in output_texts(route.kind, answer):
            result = runtime.pipeline_for(tenant).scan_output(item.text)
            self._record_scan(request, result)
            if result.blocked:
                request.blocked_by = result.blocked_by
                write_text(answer, item.path, "")
                if route.kind == "chat":
                    answer["choices"][item.path[1]]["finish_reason"] = "content_filter"
                notes["blocked"] = {"scanner": result.blocked_by, "reason": result.reason}
            elif result.text != item.text:
                write_text(answer, item.path, result.text)
            if result.action is Action.FLAG:
                flagged.extend(v.scanner for v in result.verdicts if v.action is Action.FLAG and not v.shadow)
        if flagged:
            review_id = self._enqueue_review(
                request, route, "flagged_output", payload,
                {"answer": [item.text for item in output_texts(route.kind, answer)], "flagged_by": flagged},
            )
            notes.update(flagged=True, review_id=review_id)
        return notes

    # ----------------------------------------------------------------- streaming

    async def _serve_stream(
        self, request: _Request, runtime: _Runtime, route: RouteConfig, plan: Plan, scope: Scope,
        payload: dict[str, Any], send: Send,
    ) -> None:
        step, opened = await self._call_chain(
            request, route, plan, scope, payload, lambda s, b: open_stream(self.app, scope, b, s.backend.timeout_s if s.backend else 0.0), stream=True
        )
        self._mark_step(request, route, step)
        if step.backend is None:
            await self._send_review_fallback(request, route, payload, send, stream=True)
            return
        start, queue, task, done = opened.start, opened.queue, opened.task, opened.done
        if start["status"] >= 400:
            await send(start)
            while (message := await queue.get()) is not None:
                await send(message)
            return
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        assert request.key is not None
        scanner = runtime.pipeline_for(request.key.tenant).output_stream()
        emitted: list[str] = []
        template: dict[str, Any] = {}
        finish_reason: str | None = None
        blocked: PipelineResult | None = None
        interrupted: str | None = None
        try:
            try:
                async for data in sse_events(queue, step.backend.timeout_s):
                    if data == "[DONE]":
                        break
                    chunk = json_or_none(data.encode())
                    if not isinstance(chunk, dict):
                        continue
                    if isinstance(chunk.get("error"), dict):
                        interrupted = str(chunk["error"].get("message", "the model failed mid-stream"))
                        break
                    template = {k: chunk[k] for k in ("id", "created", "model") if k in chunk}
                    text, finish = chunk_delta(chunk)
                    finish_reason = finish or finish_reason
                    if text:
                        result = scanner.feed(text)
                        if result.blocked:
                            blocked = result
                            break
                        if result.new_text:
                            emitted.append(result.new_text)
                            await self._send_event(send, content_chunk(template, result.new_text))
                    elif finish is None:
                        await self._send_raw(send, f"data: {data}\n\n")  # the role-only first chunk
            except TimeoutError:
                interrupted = "the model stopped answering mid-stream"
            if blocked is None and interrupted is None and task.done() and task.exception() is not None:
                interrupted = "the model failed mid-stream"
            if blocked is None:
                # Release what the scanner held back (fully scanned now), even after an interruption.
                result = scanner.finish()
                if result.blocked:
                    blocked = result
                elif result.new_text:
                    emitted.append(result.new_text)
                    await self._send_event(send, content_chunk(template, result.new_text))
                self._record_scan(request, result)
            else:
                self._record_scan(request, blocked)
            notes: dict[str, Any] | None = None
            if blocked is not None:
                request.blocked_by = blocked.blocked_by
                finish_reason = "content_filter"
                notes = {"blocked": {"scanner": blocked.blocked_by, "reason": blocked.reason}}
            elif interrupted is not None:
                request.degraded = "stream_interrupted"
                self.metrics.degraded.labels(route.path, "stream_interrupted").inc()
                finish_reason = "error"
                notes = {"degraded": True, "error": interrupted}
            elif request.degraded:
                notes = {"degraded": True, "fallback": request.fallback}
            await self._send_event(send, final_chunk(template, finish_reason or "stop", notes))
            await self._send_raw(send, "data: [DONE]\n\n")
        finally:
            done.set()
            if not task.done():
                task.cancel()
            request.completion_tokens = count_tokens("".join(emitted))
            request.prompt_tokens = count_tokens(
                "\n".join(item.text for item in input_texts(route.kind, payload, self.config.limits))
            )
            request.cost_usd = (
                (request.prompt_tokens + request.completion_tokens) / 1000 * step.backend.cost_per_1k_tokens
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_event(self, send: Send, event: dict[str, Any]) -> None:
        await self._send_raw(send, f"data: {json.dumps(event)}\n\n")

    @staticmethod
    async def _send_raw(send: Send, text: str) -> None:
        await send({"type": "http.response.body", "body": text.encode(), "more_body": True})

    # ----------------------------------------------------------------- review fallback, shadow

    def _enqueue_review(
        self, request: _Request, route: RouteConfig, reason: str, payload: dict[str, Any], extra: dict[str, Any]
    ) -> str:
        assert request.key is not None
        texts = [item.text for item in input_texts(route.kind, payload, self.config.limits)]
        review_id = self.review_queue().enqueue(
            request.key.tenant, route.path, reason, request.request_id, {"prompt": texts, **extra}
        )
        request.review_id = review_id
        self.metrics.review_queued.labels(reason).inc()
        return review_id

    async def _send_review_fallback(
        self, request: _Request, route: RouteConfig, payload: dict[str, Any], send: Send, stream: bool
    ) -> None:
        review_id = self._enqueue_review(request, route, "fallback", payload, {})
        request.degraded = "fallback=review"
        request.fallback = "review"
        message = (
            "No model could answer right now. Your request was queued for human review "
            f"(review id {review_id}); a reviewer will follow up."
        )
        notes = {"degraded": True, "fallback": "review", "review_id": review_id}
        completion = {
            "id": f"chatcmpl-{request.request_id[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": route.public_model or "", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": message}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, "rampart": notes,
        }
        if not stream:
            await self._send_json(send, request, 202, completion)
            return
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-type", b"text/event-stream")]})
        chunk = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
                 "model": completion["model"]}
        await self._send_event(send, content_chunk(chunk, message))
        await self._send_event(send, final_chunk(chunk, "stop", notes))
        await self._send_raw(send, "data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _start_shadow(
        self, request: _Request, route: RouteConfig, plan: Plan, scope: Scope, payload: dict[str, Any],
        primary_answer: dict[str, Any],
    ) -> None:
        assert plan.shadow is not None
        name, backend = plan.shadow
        if len(self._background) >= MAX_SHADOW_IN_FLIGHT:
            self.metrics.shadow.labels(name, "skipped").inc()
            return
        primary = [item.text for item in output_texts(route.kind, primary_answer)]
        step = Step(name, backend, primary=False)
        body = self._backend_body(route, step, payload, stream=False)
        task = asyncio.create_task(self._shadow(request, route, step, scope, body, primary))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shadow(
        self, request: _Request, route: RouteConfig, step: Step, scope: Scope, body: bytes, primary: list[str]
    ) -> None:
        started = time.perf_counter()
        record: dict[str, Any] = {
            "request_id": request.request_id, "route": route.path, "primary": request.backend, "candidate": step.name,
        }
        try:
            captured = await self._attempt(step, scope, body)
            answer = json_or_none(captured.body)
            pipeline = self._runtime.pipeline_for(request.key.tenant if request.key else "")
            candidate = [pipeline.scan_output(item.text).text for item in output_texts(route.kind, answer)]
            similarity = _similarity(" ".join(primary), " ".join(candidate))
            outcome = "agree" if similarity >= 0.5 else "differ"
            record.update(status=captured.status, answer=candidate, similarity=round(similarity, 4), outcome=outcome)
        except BackendFailure as failure:
            outcome = "error"
            record.update(outcome=outcome, error=failure.cause)
        record["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        self.metrics.shadow.labels(step.name, outcome).inc()
        self._shadow_log.append(record)

    async def drain(self) -> None:
        """Wait for shadow copies in flight (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # ----------------------------------------------------------------- accounting

    def _account_usage(self, request: _Request, step: Step, answer: dict[str, Any]) -> None:
        assert step.backend is not None
        tokens = usage_tokens(answer)
        if tokens:
            request.prompt_tokens, request.completion_tokens = tokens
        request.cost_usd = (request.prompt_tokens + request.completion_tokens) / 1000 * step.backend.cost_per_1k_tokens

    def _observe_embeddings(self, answer: dict[str, Any]) -> None:
        for item in answer.get("data") or []:
            vector = decode_embedding(item.get("embedding")) if isinstance(item, dict) else None
            if vector is not None and vector.size:
                self.drift.observe_embedding(vector)
        self.metrics.centroid_shift.set(self.drift.centroid_shift)

    def _record_scan(self, request: _Request, result: PipelineResult) -> None:
        for verdict in result.verdicts:
            self.metrics.verdicts.labels(verdict.scanner, result.stage, verdict.action.value, str(verdict.shadow).lower()).inc()
            self.metrics.scanner_latency.labels(verdict.scanner, result.stage).observe(verdict.latency_ms / 1000)
            kinds: dict[str, int] = {}
            for finding in verdict.findings:
                kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
            request.verdicts.append({
                "scanner": verdict.scanner, "stage": result.stage, "action": verdict.action.value,
                "shadow": verdict.shadow, "reason": verdict.reason, "findings": kinds,
                "latency_ms": round(verdict.latency_ms, 3),
            })
            if verdict.action is Action.REDACT and not verdict.shadow:
                for kind, count in kinds.items():
                    request.redactions[kind] = request.redactions.get(kind, 0) + count
        for error in result.errors:
            self.metrics.scanner_errors.labels(error.scanner, result.stage).inc()
            request.verdicts.append({"scanner": error.scanner, "stage": result.stage, "error": error.error})

    def _account(self, request: _Request) -> None:
        if request.accounted:
            return
        request.accounted = True
        latency = time.perf_counter() - request.started
        tenant = request.key.tenant if request.key else ""
        route = request.route or "unrouted"
        status = request.status or 500
        self.metrics.requests.labels(route, tenant, str(status)).inc()
        self.metrics.latency.labels(route).observe(latency)
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z",
            "request_id": request.request_id,
            "tenant": tenant or None,
            "key_id": request.key.id if request.key else None,
            "method": request.method,
            "route": request.route or request.path,
            "status": status,
            "model_version": request.backend,
            "fallback": request.fallback,
            "degraded": request.degraded,
            "verdicts": request.verdicts,
            "redactions": request.redactions,
            "blocked_by": request.blocked_by,
            "prompt_sha256": request.prompt_sha256,
            "latency_ms": round(latency * 1000, 3),
            "tokens": {"prompt": request.prompt_tokens, "completion": request.completion_tokens},
            "cost_usd": round(request.cost_usd, 8),
            "error": request.error_type,
            "review_id": request.review_id,
            **request.extra,
            **request.admin_state.get("audit", {}),
        }
        self.audit.append(record)
        upload = self.config.audit.upload
        if self._uploader is not None and upload is not None:
            lines = self.audit.take_unsealed(upload.batch_records, upload.flush_interval_s)
            if lines:
                self._upload_in_background(lines)

    def _upload_in_background(self, lines: list[str]) -> None:
        assert self._uploader is not None
        uploader = self._uploader

        async def upload() -> None:
            try:
                await asyncio.to_thread(uploader.upload, self.audit.stream, lines)
            except Exception:
                log.exception("audit upload failed; %d records stay in the local log", len(lines))

        task = asyncio.create_task(upload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def flush_audit(self) -> str | None:
        """Upload every record not yet uploaded (shutdown, tests); returns the object key."""
        if self._uploader is None:
            return None
        lines = self.audit.take_unsealed(1)
        return self._uploader.upload(self.audit.stream, lines) if lines else None


# --------------------------------------------------------------------- helpers


def _inside_serve_replica() -> bool:
    """True in a Ray Serve replica, where metrics are also exported through Ray."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return False  # a replica always runs inside an initialised Ray worker
    try:
        from ray import serve

        serve.get_replica_context()
    except Exception:  # noqa: BLE001 - no Ray, or not in a replica: the registry alone is used
        return False
    return True


def _admin_scope(method: str, path: str) -> str | None:
    for admin_method, pattern, scope in ADMIN_ROUTES:
        if method == admin_method and _path_matches(pattern, path):
            return scope
    if path == "/v1/gateway/openapi.json" and method == "GET":
        return "admin"
    return None


def _admin_route_name(path: str) -> str:
    for _method, pattern, _scope in ADMIN_ROUTES:
        if _path_matches(pattern, path):
            return pattern
    return path


def _similarity(a: str, b: str) -> float:
    """Jaccard similarity of word sets: a cheap, model-free agreement measure for shadow answers."""
    left, right = set(a.lower().split()), set(b.lower().split())
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)
