"""Feedback on answers: every answered request is recorded in the shared store, so its client can rate it.

`ResponseRecorder` writes the finished exchanges in batches from a background thread: the request
never waits on the database. `POST /v1/feedback` (admin.py) names the response by the request id the
gateway returned (`X-Request-Id`, and the id of the request's audit record); a tenant can rate only its
own responses, any other id is 404.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import Annotated, Any

from pydantic import BaseModel, Field

from platform_facts.project import PROJECT_NAME
from services.gateway.errors import InvalidRequestError, NotFoundError
from services.gateway.exchange import Exchange, FeedbackRecord
from services.gateway.metrics import GatewayMetrics
from services.gateway.payloads import input_texts
from services.gateway.scanning import record_scan
from services.state import FeedbackRow, ItemNotFound, StateStore

__all__ = ["FeedbackDesk", "FeedbackReceipt", "FeedbackRequest", "ResponseRecorder"]

log = logging.getLogger(f"{PROJECT_NAME}.gateway")

CORRECTION_MAX_CHARS = 32_000
FLUSH_INTERVAL_S = 0.2
MAX_BATCH = 500
MAX_WAITING = 10_000
"""Beyond this many unwritten responses (the store is down), new ones are dropped and counted."""


class FeedbackRequest(BaseModel):
    """Body of `POST /v1/feedback`."""

    response_id: str = Field(min_length=1, max_length=64)
    """The rated answer's request id: the `X-Request-Id` header the gateway returned with it."""
    rating: int = Field(ge=-1, le=1)
    """-1 bad, 0 neutral, +1 good."""
    correction: str | None = Field(default=None, min_length=1, max_length=CORRECTION_MAX_CHARS)
    """What the answer should have been; it meets the tenant's output scanners before it is kept."""
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=16)
    """Free labels (`wrong_source`, `too_long`, ...), at most 16, each 1-64 characters."""


class FeedbackReceipt(BaseModel):
    """Response of `POST /v1/feedback`."""

    id: str
    """The feedback's own id."""
    response_id: str
    model_version: str | None
    """The model version that gave the rated answer."""
    rating: int
    created: float


class ResponseRecorder:
    """Turns finished exchanges into `responses` rows, written by one background thread in batches.

    The request only appends to a deque: no lock, no thread woken per request (a woken writer would
    contend for the GIL with the event loop on every answer). The writer wakes every `FLUSH_INTERVAL_S`,
    or at once for `flush`, and writes what has gathered in one statement."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._waiting: deque[dict[str, Any]] = deque()
        self._queued = 0
        """Rows appended so far (by the event loop's thread only)."""
        self._handled = 0
        """Rows written or given up on so far (by the writer only)."""
        self.dropped = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._writer = threading.Thread(target=self._write_forever, name="response-recorder", daemon=True)
        self._writer.start()

    def record(self, exchange: Exchange) -> None:
        """Queue the row of a request that reached routing (it passed admission and the input scanners);
        never blocks."""
        route, routing, retrieval = exchange.route, exchange.routing, exchange.retrieval
        if route is None or routing is None:
            return
        if len(self._waiting) >= MAX_WAITING:
            self.dropped += 1
            return
        # A plain dict, not a `ResponseRow`: building an ORM object costs more than everything else here.
        self._waiting.append({
            "request_id": exchange.request_id, "created": time.time(), "tenant": exchange.tenant,
            "route": route.path, "model_version": exchange.model_version,
            "routed_version": routing.chain[0].name if routing.chain else None, "status": exchange.status or 500,
            "latency_ms": round((time.perf_counter() - exchange.started) * 1000, 3),
            "flagged": any(v.stage == "output" and not v.shadow and v.action in ("flag", "block")
                           for v in exchange.verdicts),
            "blocked": exchange.blocked_by is not None,
            # Read back from the payload, as the input scanners left it (the same as the review queue's).
            "prompt": [item.text for item in input_texts(route.kind, exchange.payload, exchange.runtime.config.limits)],
            "answer": list(exchange.answer_texts),
            "passage_ids": [passage["id"] for passage in retrieval["passages"]] if retrieval else [],
            "index_version": retrieval["index_version"] if retrieval else None,
        })
        self._queued += 1

    def flush(self, timeout_s: float = 5.0) -> None:
        """Write everything queued so far, now, and wait for it (feedback on a just-answered request, tests)."""
        target = self._queued
        deadline = time.monotonic() + timeout_s
        self._wake.set()
        with self._idle:
            while self._handled < target and time.monotonic() < deadline:
                self._idle.wait(0.01)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._writer.join(timeout=10)

    def _write_forever(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            while self._waiting:
                batch = [self._waiting.popleft() for _ in range(min(MAX_BATCH, len(self._waiting)))]
                try:
                    self._store.responses.add_many(batch)
                except Exception:
                    log.exception("could not record %d responses in the state store; feedback on them will 404",
                                  len(batch))
                with self._idle:
                    self._handled += len(batch)
                    self._idle.notify_all()
            if self._stop.is_set():
                return


class FeedbackDesk:
    """`POST /v1/feedback`: checks, scans the correction, stores the rating against the caller's own response."""

    def __init__(self, store: StateStore, recorder: ResponseRecorder, metrics: GatewayMetrics) -> None:
        self._store = store
        self._recorder = recorder
        self._metrics = metrics

    async def give(self, exchange: Exchange, body: FeedbackRequest) -> FeedbackReceipt:
        key = exchange.require_key()
        correction = body.correction
        if correction is not None:
            # Stored text is redacted text, as in the review queue and the audit log.
            result = exchange.runtime.pipeline_for(key.tenant).scan_output(correction)
            record_scan(self._metrics, exchange, result)
            if result.blocked:
                exchange.blocked_by = result.blocked_by
                raise InvalidRequestError(f"correction: blocked by scanner {result.blocked_by!r}: {result.reason}",
                                          field="correction", scanner=result.blocked_by, reason=result.reason)
            correction = result.text
        row = await asyncio.to_thread(self._store_feedback, body, key.tenant, key.id, correction)
        exchange.feedback = FeedbackRecord(row.id, row.request_id, row.rating, row.model_version)
        self._metrics.feedback.labels(row.model_version or "unknown", "api", str(row.rating)).inc()
        return FeedbackReceipt(id=row.id, response_id=row.request_id, model_version=row.model_version,
                               rating=row.rating, created=row.created)

    def _store_feedback(self, body: FeedbackRequest, tenant: str, key_id: str, correction: str | None) -> FeedbackRow:
        add = self._store.responses.add_feedback
        try:
            return add(body.response_id, tenant, body.rating, correction, body.tags, key_id)
        except ItemNotFound:
            # Answered a moment ago on this replica: its row may still be waiting to be written.
            self._recorder.flush()
        try:
            return add(body.response_id, tenant, body.rating, correction, body.tags, key_id)
        except ItemNotFound:
            # Another tenant's response reads exactly like one that does not exist.
            raise NotFoundError(f"response_id: no response {body.response_id!r} for this API key's tenant",
                                field="response_id", param="response_id") from None
