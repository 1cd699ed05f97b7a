"""`GatewayMiddleware`: the safety gateway, a pipeline of small stages every model request passes through.

It wraps the serving layer's public ASGI app in the same process (no extra Serve hop). A request
becomes an `Exchange` (exchange.py) and goes through the stages in this order, each its own module:

    edge.py            the ASGI edge: response headers, the audit record before the last byte, errors → JSON
    runtime.py         the config snapshot the request is served under (reloaded when the file changes)
    admission.py       API key, scope, request limits, model name, tenant rate limit and token quota, drift
    scanning.py        input scanners (tool results also meet the third-party stage); block, redact, or
                       flag to review (review_handoff.py)
    routing.py         the model version: canary weights (or the promotion controller's, promotion.py), on-prem
                       only for regulated tenants, shadow pick
    model_chain.py     call the versions in order: timeouts, retries, circuit breakers, fallbacks
    unary.py           the answer scanned and sent, or flagged to review   (review_handoff.py)
    streaming.py       the streamed answer, scanned chunk by chunk
    shadow.py          a copy to the shadow candidate, compared in the background
    accounting.py      metrics and one typed audit record; the response recorded for feedback (feedback.py)
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.gateway.accounting import Accounting
from services.gateway.admin import ReloadResult, build_admin_app, with_exchange
from services.gateway.admission import Admission, Admitted
from services.gateway.asgi import ASGIApp, Receive, Scope, Send, call_app, caller_scope, read_body
from services.gateway.audit import AuditLog
from services.gateway.config import CONFIG_DIR, GatewayConfig, config_path, state_dir_for
from services.gateway.drift import DriftTracker, load_baseline
from services.gateway.edge import answer_error, send_captured, tracking_send
from services.gateway.exchange import Exchange
from services.gateway.feedback import FeedbackDesk, ResponseRecorder
from services.gateway.metrics import GatewayMetrics
from services.gateway.model_chain import ModelChain
from services.gateway.model_listing import ModelListing
from services.gateway.pages import is_page
from services.gateway.promotion import PromotionController
from services.gateway.quotas import LedgerClient, ProcessLedger, get_or_create_ray_ledger
from services.gateway.review import ReviewQueue
from services.gateway.review_handoff import ReviewHandoff
from services.gateway.routing import route_request
from services.gateway.runtime import ConfigReloader, RuntimeConfig
from services.gateway.scanning import InputScanning
from services.gateway.shadow import ShadowCopies
from services.gateway.streaming import StreamedAnswer
from services.gateway.tracing import GatewayTracing
from services.gateway.unary import UnaryAnswer
from services.inference.caller import Caller
from services.inference.settings import GatewaySettings

__all__ = ["GatewayMiddleware", "GatewaySettings"]

# Paths the serving layer owns that a caller reaches without model routing (e.g. GET /v1/models).
PASSTHROUGH_TIMEOUT_S = 30.0


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
        path = Path(self.settings.config_path) if self.settings.config_path else config_path(self.settings.env)
        state_dir = Path(self.settings.state_dir) if self.settings.state_dir else state_dir_for(self.settings.env)
        self._rng = rng or random.Random()
        self._in_serve = _inside_serve_replica()
        self.metrics = GatewayMetrics(ray_export=self._in_serve)
        self.runtime = ConfigReloader(path, self.metrics, self._apply_new_config, secrets_client)
        config = self.runtime.current.config
        self.tracing = GatewayTracing(config)
        if ledger is None:
            ledger = get_or_create_ray_ledger() if config.quotas.ledger == "ray_actor" else ProcessLedger()
        baseline = load_baseline(CONFIG_DIR / config.drift.baseline) if config.drift.baseline else None
        drift = DriftTracker(baseline, config.drift.window, config.drift.warmup)
        # Review queue, responses and feedback, shadow comparisons, promotion: shared by every replica.
        self.store = config.state.open_store(state_dir)
        self._review = ReviewQueue(self.store)
        self.responses = ResponseRecorder(self.store)

        self.accounting = Accounting(state_dir, self.metrics, config.audit.upload, s3_client)
        self.accounting.responses = self.responses
        self.admission = Admission(ledger, config.quotas, config.tenants, drift, self.metrics)
        review = ReviewHandoff(self.review_queue, self.metrics)
        self.input_scanning = InputScanning(self.metrics, review, drift)
        self.chain = ModelChain(app, self.metrics, config)
        self.model_listing = ModelListing(app)
        self.shadow = ShadowCopies(self.store, self.chain, self.metrics)
        self.unary_answer = UnaryAnswer(self.chain, review, self.shadow, drift, self.metrics)
        self.streamed_answer = StreamedAnswer(self.chain, review, self.metrics)
        self.promotion = PromotionController(
            self.store, self.metrics, self._promotion_audit, f"{socket.gethostname()}-{uuid.uuid4().hex[:12]}",
            lambda: self.runtime.current.config,
        )
        self._promotion_audit_log: AuditLog | None = None
        feedback = FeedbackDesk(self.store, self.responses, self.metrics)
        self._admin = build_admin_app(self.review_queue, self.metrics, self.reload, feedback)

    # ----------------------------------------------------------------- the pipeline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            # Nothing reaches the models except through the checks below (no websockets).
            await send({"type": "websocket.close", "code": 1008})
            return
        path = _path_below_mount(scope)
        if path in self.runtime.current.config.public_paths:
            await self.app(scope, receive, send)
            return
        if is_page(scope["method"], path):
            # Static pages that hold no data (pages.py); the API calls they make carry the reader's key.
            await self._admin(scope, receive, send)
            return
        await self.runtime.reload_if_changed()
        self.promotion.ensure_running()
        # Serve gives every request an id (the client's `x-request-id`, or one it makes up), puts it in the
        # request's headers and answers with it: the gateway adopts it, so the client sees one id.
        serve_id = _header(scope, b"x-request-id") if self._in_serve else None
        exchange = Exchange(
            request_id=serve_id or uuid.uuid4().hex, method=scope["method"], path=path, started=time.perf_counter(),
            scope=scope, runtime=self.runtime.current, sends_request_id=serve_id is None,
        )
        exchange.trace = self.tracing.start(exchange)
        send = tracking_send(send, exchange, self.accounting.account)
        try:
            await answer_error(self._serve(exchange, receive, send), exchange, send, self.metrics)
        finally:
            self.accounting.account(exchange)  # no-op when the answer's last message already did
            exchange.trace.finish()

    async def _serve(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in exchange.scope["headers"]}
        admitted = self.admission.identify(exchange, headers)
        if admitted is Admitted.ADMIN:
            await self._admin(with_exchange(exchange.scope, exchange), receive, send)
            return
        # From here every call to the serving layer says who is asking (its retriever filters by it).
        exchange.scope = caller_scope(exchange.scope, Caller(tenant=exchange.tenant, data_class=exchange.data_class))
        body = await read_body(receive, headers, exchange.runtime.config.limits.max_body_bytes)
        if admitted is Admitted.PASSTHROUGH and ModelListing.handles(exchange.require_route()):
            await self.model_listing(exchange, send)
            return
        if admitted is Admitted.PASSTHROUGH:
            await send_captured(send, await call_app(self.app, exchange.scope, body, PASSTHROUGH_TIMEOUT_S))
            return
        with exchange.trace.stage("admission"):
            await self.admission.admit(exchange, body)
        try:
            with exchange.trace.stage("input_scan"):
                self.input_scanning(exchange)
            route = exchange.require_route()
            regulated = exchange.data_class == "regulated"
            exchange.routing = route_request(exchange.runtime.config, route, regulated, self._rng,
                                             self.promotion.weights_for(route.path))
            if route.kind == "chat" and exchange.payload.get("stream") is True:
                await self.streamed_answer(exchange, send)
            else:
                await self.unary_answer(exchange, send)
        finally:
            self.admission.settle(exchange)

    # ----------------------------------------------------------------- config, state, shutdown

    @property
    def audit(self) -> AuditLog:
        return self.accounting.audit

    @property
    def config(self) -> GatewayConfig:
        """The config in force for new requests."""
        return self.runtime.current.config

    def _promotion_audit(self) -> AuditLog:
        # The leader's decisions: a hash-chained stream of their own beside the request records.
        if self._promotion_audit_log is None:
            self._promotion_audit_log = AuditLog(self.audit.path.parent, stream=f"{self.audit.stream}-promotion")
        return self._promotion_audit_log

    def review_queue(self) -> ReviewQueue:
        return self._review

    async def reload(self, force: bool = True) -> ReloadResult:
        """Re-read the config file now (`POST /v1/gateway/reload`); raises ConfigError when it does not validate."""
        reloaded = await self.runtime.reload(force)
        routes = self.runtime.current.config.routes
        return ReloadResult(
            reloaded=reloaded,
            versions={name: {v.model_version: v.weight for v in route.versions} for name, route in routes.items()},
        )

    def _apply_new_config(self, runtime: RuntimeConfig) -> None:
        self.chain.sync_breakers(runtime.config)
        self.tracing.reconfigure(runtime.config)
        self.admission.quotas.reconfigure(runtime.config.quotas, runtime.config.tenants)

    async def drain(self) -> None:
        """Wait for shadow copies, audit uploads and response records in flight (tests, shutdown)."""
        await self.promotion.stop()
        await self.shadow.drain()
        await self.accounting.drain()
        await asyncio.to_thread(self.responses.flush)

    def close(self) -> None:
        """Write what is queued and let go of the store (shutdown, tests)."""
        self.responses.close()
        self.store.close()

    def flush_audit(self) -> str | None:
        """Upload every audit record not yet uploaded (shutdown, tests); returns the object key."""
        return self.accounting.flush_audit()


def _path_below_mount(scope: Scope) -> str:
    """Routes are matched below the app's mount point."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path):] or "/"
    return path


def _header(scope: Scope, name: bytes) -> str | None:
    """The request header's value when it is there and printable ASCII of at most 128 characters."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            text = value.decode("latin-1")
            return text if 0 < len(text) <= 128 and text.isascii() and text.isprintable() else None
    return None


def _inside_serve_replica() -> bool:
    """True in a Ray Serve replica, where metrics are also exported through Ray."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return False  # a replica always runs inside an initialised Ray worker
    try:
        from ray import serve

        serve.get_replica_context()
    except Exception:
        return False
    return True
