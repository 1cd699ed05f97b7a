"""Accounting: the request's metrics and its one audit record, written once, whatever the outcome.

`AuditRecord` is the record's schema. The log chains records by hash (`audit.py`); in the cloud
sealed segments go to the Object-Lock bucket in the background, so the client never waits on S3.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.gateway.audit import AuditLog, AuditUploader
from services.gateway.config import AuditUploadConfig
from services.gateway.exchange import Exchange
from services.gateway.metrics import GatewayMetrics

__all__ = ["Accounting", "AuditRecord", "TokenCounts"]

log = logging.getLogger("rampart.gateway")


class TokenCounts(BaseModel):
    prompt: int
    completion: int


class AuditRecord(BaseModel):
    """One request, as the audit log keeps it: no raw text (prompts as SHA-256, findings as kinds and counts)."""

    time: str
    request_id: str
    tenant: str | None
    key_id: str | None
    method: str
    route: str
    """The route's path (or admin pattern); the raw path when no route matched."""
    status: int
    model_version: str | None
    fallback: str | None
    degraded: str | None
    verdicts: list[dict[str, Any]]
    """Per scanner and text: scanner, stage, action, shadow, reason, findings (kind → count), latency_ms;
    or scanner, stage, error when the scanner raised."""
    redactions: dict[str, int]
    blocked_by: str | None
    prompt_sha256: str | None
    latency_ms: float
    tokens: TokenCounts
    cost_usd: float
    error: str | None
    review_id: str | None
    quota: str | None = None
    """`fail_open` when the request was admitted without the quota ledger; absent otherwise."""
    review: dict[str, str] | None = None
    """On a reviewer's approve or reject: the item, the decision and the reviewed request's id."""

    @classmethod
    def of(cls, exchange: Exchange, latency_s: float) -> AuditRecord:
        now = time.time()
        return cls(
            time=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
            request_id=exchange.request_id,
            tenant=exchange.tenant or None,
            key_id=exchange.key.id if exchange.key else None,
            method=exchange.method,
            route=exchange.metrics_route or exchange.path,
            status=exchange.status or 500,
            model_version=exchange.model_version,
            fallback=exchange.fallback,
            degraded=exchange.degraded,
            verdicts=[{k: v for k, v in asdict(verdict).items() if v is not None} for verdict in exchange.verdicts],
            redactions=exchange.redactions,
            blocked_by=exchange.blocked_by,
            prompt_sha256=exchange.prompt_sha256,
            latency_ms=round(latency_s * 1000, 3),
            tokens=TokenCounts(prompt=exchange.usage.prompt_tokens, completion=exchange.usage.completion_tokens),
            cost_usd=round(exchange.usage.cost_usd, 8),
            error=exchange.error_type,
            review_id=exchange.review_id,
            quota=exchange.quota_note,
            review=asdict(exchange.review_decision) if exchange.review_decision else None,
        )

    def fields(self) -> dict[str, Any]:
        """The record as the log writes it; the optional parts only when present."""
        return self.model_dump(exclude={name for name in ("quota", "review") if getattr(self, name) is None})


class Accounting:
    def __init__(
        self, state_dir: Path, metrics: GatewayMetrics, upload: AuditUploadConfig | None, s3_client: Any = None
    ) -> None:
        self.audit = AuditLog(state_dir / "audit")
        self._metrics = metrics
        self._uploader = AuditUploader(upload, s3_client) if upload else None
        self._uploads: set[asyncio.Task[None]] = set()

    def account(self, exchange: Exchange) -> None:
        """Metrics and the audit record of a finished request; a no-op the second time."""
        if exchange.accounted:
            return
        exchange.accounted = True
        latency = time.perf_counter() - exchange.started
        route = exchange.metrics_route or "unrouted"
        self._metrics.requests.labels(route, exchange.tenant, str(exchange.status or 500)).inc()
        self._metrics.latency.labels(route).observe(latency)
        self.audit.append(AuditRecord.of(exchange, latency).fields())
        upload = exchange.runtime.config.audit.upload
        if self._uploader is not None and upload is not None:
            lines = self.audit.take_unsealed(upload.batch_records, upload.flush_interval_s)
            if lines:
                self._upload_in_background(self._uploader, lines)

    def _upload_in_background(self, uploader: AuditUploader, lines: list[str]) -> None:
        async def upload() -> None:
            try:
                await asyncio.to_thread(uploader.upload, self.audit.stream, lines)
            except Exception:
                log.exception("audit upload failed; %d records stay in the local log", len(lines))

        task = asyncio.create_task(upload())
        self._uploads.add(task)
        task.add_done_callback(self._uploads.discard)

    async def drain(self) -> None:
        while self._uploads:
            await asyncio.gather(*list(self._uploads), return_exceptions=True)

    def flush_audit(self) -> str | None:
        """Upload every record not yet uploaded (shutdown, tests); returns the object key."""
        if self._uploader is None:
            return None
        lines = self.audit.take_unsealed(1)
        return self._uploader.upload(self.audit.stream, lines) if lines else None
