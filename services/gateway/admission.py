"""Admission: who is calling, may they call this, and is there room for them.

`identify` authenticates the key (an O(1) hash lookup), checks the scope and method of the
route or admin path, and refuses a regulated tenant a route this gateway serves from the cloud only
(residency.py). `admit` reads the body within the request limits, checks the model the
client named, charges the tenant's shared rate limit and token quota (an estimate, settled when
the answer's usage is known) and feeds the input statistics that drift monitoring watches.
"""

from __future__ import annotations

import enum
import hashlib
import logging

from platform_facts.project import PROJECT_NAME
from services.gateway.admin import admin_route_name, admin_scope_for
from services.gateway.config import QuotaConfig, TenantConfig
from services.gateway.drift import DriftTracker
from services.gateway.errors import BackendUnavailableError, NotFoundError, QuotaServiceError
from services.gateway.exchange import Exchange
from services.gateway.metrics import GatewayMetrics
from services.gateway.payloads import count_tokens, input_texts, parse_json_body
from services.gateway.quotas import LedgerClient, TenantQuotas
from services.gateway.residency import require_residency

__all__ = ["Admission", "Admitted"]

log = logging.getLogger(f"{PROJECT_NAME}.gateway")


class Admitted(enum.Enum):
    """What `identify` found the request to be."""

    ADMIN = "admin"
    PASSTHROUGH = "passthrough"
    MODEL = "model"


class Admission:
    def __init__(
        self,
        ledger: LedgerClient,
        quotas: QuotaConfig,
        tenants: dict[str, TenantConfig],
        drift: DriftTracker,
        metrics: GatewayMetrics,
    ) -> None:
        self.quotas = TenantQuotas(ledger, quotas, tenants)
        self.drift = drift
        self._metrics = metrics

    def identify(self, exchange: Exchange, headers: dict[str, str]) -> Admitted:
        """Authenticate and authorise."""
        runtime = exchange.runtime
        admin_scope = admin_scope_for(exchange.method, exchange.path)
        route = runtime.config.route_for(exchange.path)
        # Known routes label metrics even for refused requests; unknown paths never become labels.
        exchange.metrics_route = admin_route_name(exchange.path) if admin_scope else (route.path if route else "")
        key = exchange.key = runtime.keys.authenticate(headers)
        if admin_scope is not None:
            key.require_scope(admin_scope, f"{exchange.method} {exchange.path}")
            return Admitted.ADMIN
        if route is None:
            raise NotFoundError(f"no route {exchange.method} {exchange.path}", path=exchange.path)
        key.require_scope(route.scope, f"{exchange.method} {route.path}")
        if exchange.method not in route.methods:
            raise NotFoundError(f"{exchange.path} does not accept {exchange.method}", path=exchange.path)
        exchange.route = route
        if route.kind == "passthrough":
            return Admitted.PASSTHROUGH
        require_residency(runtime.config, route, key.tenant)
        return Admitted.MODEL

    async def admit(self, exchange: Exchange, body: bytes) -> None:
        """Parse and check the body, then charge the tenant's rate limit and token quota."""
        key, route, config = exchange.require_key(), exchange.require_route(), exchange.runtime.config
        exchange.payload = parse_json_body(body)
        exchange.texts = input_texts(route.kind, exchange.payload, config.limits)
        if route.kind in ("chat", "embeddings"):
            requested = exchange.payload.get("model")
            if requested != route.public_model:
                raise NotFoundError(
                    f"model: unknown model {requested!r} for {route.path}; use {route.public_model!r}",
                    field="model", param="model",
                )
            key.require_model(route.public_model or "")
        joined = "\n".join(item.text for item in exchange.texts)
        exchange.prompt_sha256 = hashlib.sha256(joined.encode()).hexdigest()
        exchange.estimated_tokens = count_tokens(joined) + 1
        try:
            await self.quotas.admit(key.tenant, exchange.estimated_tokens)
        except QuotaServiceError as error:
            if config.quotas.on_error == "fail_closed":
                raise BackendUnavailableError("rate limiting is unavailable; refusing (fail-closed)",
                                              component="quota_ledger") from error
            log.warning("quota ledger unreachable, admitting (fail-open): %s", error)
            exchange.quota_note = "fail_open"
        for item in exchange.texts:
            self.drift.observe_text(len(item.text))
        self._metrics.input_length_mean.set(self.drift.mean_length or 0.0)
        self._metrics.input_length_shift.set(self.drift.length_shift)

    def settle(self, exchange: Exchange) -> None:
        """Replace the token estimate with what the answer used (the estimate when it said nothing)."""
        used = exchange.usage.total_tokens
        self.quotas.settle_tokens(exchange.tenant, exchange.estimated_tokens, used or exchange.estimated_tokens)
        self._metrics.tokens.labels(exchange.tenant).inc(used)
        self._metrics.cost.labels(exchange.tenant).inc(exchange.usage.cost_usd)
