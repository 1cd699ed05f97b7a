"""The human review queue: flagged answers and requests no backend could serve.

Persisted in SQLite (one file per environment's state directory; SQLite's own locking lets every
replica on a host share it). Items hold redacted text only, the same as the audit log.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.gateway.errors import InvalidRequestError, NotFoundError

__all__ = ["Decision", "ReviewItem", "ReviewQueue", "ReviewStatus"]

ReviewStatus = Literal["pending", "approved", "rejected"]
Decision = Literal["approved", "rejected"]


class ReviewItem(BaseModel):
    """One item awaiting (or past) human review."""

    id: str
    """Opaque id, used in the approve/reject paths."""
    created: float
    """Unix time the item was queued."""
    tenant: str
    route: str
    reason: str
    """Why it is here: `flagged_output` (a scanner flagged the answer) or `fallback` (no backend)."""
    request_id: str
    """The request's id, as in its audit record and `X-Request-Id` header."""
    content: dict[str, Any]
    """The redacted prompt and, for flagged outputs, the redacted answer and verdicts."""
    status: ReviewStatus
    decided_by: str | None = None
    """The key id that approved or rejected it."""
    decided_at: float | None = None
    note: str = ""


class ReviewDecision(BaseModel):
    """Body of an approve/reject call."""

    note: str = Field(default="", max_length=2000)
    """Free text kept with the decision (and in the audit record)."""


class ReviewQueue:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS review_items ("
            " id TEXT PRIMARY KEY, created REAL NOT NULL, tenant TEXT NOT NULL, route TEXT NOT NULL,"
            " reason TEXT NOT NULL, request_id TEXT NOT NULL, content TEXT NOT NULL,"
            " status TEXT NOT NULL, decided_by TEXT, decided_at REAL, note TEXT NOT NULL DEFAULT '')"
        )
        self._db.commit()

    def enqueue(self, tenant: str, route: str, reason: str, request_id: str, content: dict[str, Any]) -> str:
        item_id = uuid.uuid4().hex
        with self._lock:
            self._db.execute(
                "INSERT INTO review_items (id, created, tenant, route, reason, request_id, content, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                (item_id, time.time(), tenant, route, reason, request_id, json.dumps(content)),
            )
            self._db.commit()
        return item_id

    def list(self, status: ReviewStatus | None = "pending", limit: int = 100) -> list[ReviewItem]:
        query = "SELECT * FROM review_items"
        params: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            params = (status,)
        query += " ORDER BY created LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit)).fetchall()
        return [self._item(row) for row in rows]

    def get(self, item_id: str) -> ReviewItem:
        with self._lock:
            row = self._db.execute("SELECT * FROM review_items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no review item {item_id!r}", item_id=item_id)
        return self._item(row)

    def decide(self, item_id: str, decision: Decision, decided_by: str, note: str) -> ReviewItem:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE review_items SET status = ?, decided_by = ?, decided_at = ?, note = ?"
                " WHERE id = ? AND status = 'pending'",
                (decision, decided_by, time.time(), note, item_id),
            )
            self._db.commit()
            updated = cursor.rowcount
        if not updated:
            item = self.get(item_id)  # raises NotFoundError for an unknown id
            raise InvalidRequestError(
                f"review item {item_id!r} is already {item.status}", field="id", current_status=item.status
            )
        return self.get(item_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _item(row: tuple[Any, ...]) -> ReviewItem:
        (item_id, created, tenant, route, reason, request_id, content, status, decided_by, decided_at, note) = row
        return ReviewItem(
            id=item_id, created=created, tenant=tenant, route=route, reason=reason, request_id=request_id,
            content=json.loads(content), status=status, decided_by=decided_by, decided_at=decided_at, note=note,
        )
