"""Accounting: the request's metrics and its one audit record, written once, whatever the outcome.

`AuditRecord` is the record's schema. The log chains records by hash (`audit.py`); in the cloud
sealed segments go to the Object-Lock bucket in the background, so the client never waits on S3.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from platform_facts.project import PROJECT_NAME
from services.data.lineage import RetrievalFields
from services.gateway.audit import AuditLog, AuditUploader
from services.gateway.config import AuditUploadConfig
from services.gateway.exchange import Exchange
from services.gateway.metrics import GatewayMetrics

if TYPE_CHECKING:  # feedback.py imports the state store, which accounting itself never touches
    from services.gateway.feedback import ResponseRecorder

__all__ = [
    "Accounting", "AuditRecord", "FeedbackFields", "ReviewFields", "TokenCounts", "VerdictFields", "audit_record",
]

log = logging.getLogger(f"{PROJECT_NAME}.gateway")


class TokenCounts(TypedDict):
    prompt: int
    completion: int


# Required and optional keys are split over a base class and a `total=False` subclass: with postponed
# annotations, Python 3.11's TypedDict cannot see `Required` / `NotRequired` markers.
class _VerdictKeys(TypedDict):
    scanner: str
    stage: str


class VerdictFields(_VerdictKeys, total=False):
    """Per scanner and text: what it decided (kinds and counts of findings, never text), or its error."""

    action: str
    shadow: bool
    reason: str
    findings: dict[str, int]
    latency_ms: float
    error: str


class ReviewFields(TypedDict):
    item_id: str
    decision: str
    request_id: str
    """The reviewed request's id."""


class FeedbackFields(TypedDict):
    feedback_id: str
    response_id: str
    """The rated response's request id (its audit record's id)."""
    rating: int
    model_version: str | None


class _AuditKeys(TypedDict):
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
    verdicts: list[VerdictFields]
    redactions: dict[str, int]
    blocked_by: str | None
    prompt_sha256: str | None
    latency_ms: float
    tokens: TokenCounts
    cost_usd: float
    error: str | None
    review_id: str | None


class AuditRecord(_AuditKeys, total=False):
    """One request, as the audit log keeps it: no raw text (prompts as SHA-256, findings as kinds and counts).

    A TypedDict, not a validating model: it is built once per request on the hot path from fields the
    typed stages set; the tests check every written record against it, key by key and type by type."""

    quota: str
    """`fail_open` when the request was admitted without the quota ledger; absent otherwise."""
    review: ReviewFields
    """On a reviewer's decision: the item, the decision and the reviewed request's id."""
    retrieval: RetrievalFields
    """RAG and chat answers from the index: its version and the passages used (`make lineage REQUEST=<id>`)."""
    feedback: FeedbackFields
    """On `POST /v1/feedback`: the feedback's id, the rated response and the rating."""


def audit_record(exchange: Exchange, latency_s: float) -> AuditRecord:
    """The record of a finished exchange."""
    now = time.time()
    record: AuditRecord = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
        "request_id": exchange.request_id,
        "tenant": exchange.tenant or None,
        "key_id": exchange.key.id if exchange.key else None,
        "method": exchange.method,
        "route": exchange.metrics_route or exchange.path,
        "status": exchange.status or 500,
        "model_version": exchange.model_version,
        "fallback": exchange.fallback,
        "degraded": exchange.degraded,
        "verdicts": [verdict.audit_fields() for verdict in exchange.verdicts],
        "redactions": exchange.redactions,
        "blocked_by": exchange.blocked_by,
        "prompt_sha256": exchange.prompt_sha256,
        "latency_ms": round(latency_s * 1000, 3),
        "tokens": {"prompt": exchange.usage.prompt_tokens, "completion": exchange.usage.completion_tokens},
        "cost_usd": round(exchange.usage.cost_usd, 8),
        "error": exchange.error_type,
        "review_id": exchange.review_id,
    }
    if exchange.quota_note is not None:
        record["quota"] = exchange.quota_note
    if exchange.retrieval is not None:
        record["retrieval"] = exchange.retrieval
    if (decision := exchange.review_decision) is not None:
        record["review"] = {"item_id": decision.item_id, "decision": decision.decision,
                            "request_id": decision.request_id}
    if (feedback := exchange.feedback) is not None:
        record["feedback"] = {"feedback_id": feedback.feedback_id, "response_id": feedback.response_id,
                              "rating": feedback.rating, "model_version": feedback.model_version}
    return record


class Accounting:
    def __init__(
        self, state_dir: Path, metrics: GatewayMetrics, upload: AuditUploadConfig | None, s3_client: Any = None
    ) -> None:
        self.audit = AuditLog(state_dir / "audit")
        self._metrics = metrics
        self._uploader = AuditUploader(upload, s3_client) if upload else None
        self._uploads: set[asyncio.Task[None]] = set()
        self.responses: ResponseRecorder | None = None
        """Set by the gateway: records each answered request in the shared store (for feedback)."""

    def account(self, exchange: Exchange) -> None:
        """Metrics and the audit record of a finished request; a no-op the second time."""
        if exchange.accounted:
            return
        exchange.accounted = True
        latency = time.perf_counter() - exchange.started
        route = exchange.metrics_route or "unrouted"
        self._metrics.requests.labels(route, exchange.tenant, str(exchange.status or 500)).inc()
        self._metrics.latency.labels(route).observe(latency)
        self.audit.append(audit_record(exchange, latency))
        if self.responses is not None:
            self.responses.record(exchange)
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
