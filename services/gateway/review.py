"""The human review queue: flagged answers and requests no backend could serve.

Persisted in SQLite (one file per environment's state directory; SQLite's own locking lets every
replica on a host share it). Items hold redacted text only, the same as the audit log: a reviewer's
edited answer is kept as the output scanners left it (admin.py scans it before `decide`).
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

__all__ = ["Decision", "ReviewDecision", "ReviewEdit", "ReviewItem", "ReviewQueue", "ReviewStatus"]

ReviewStatus = Literal["pending", "approved", "rejected", "edited"]
Decision = Literal["approved", "rejected", "edited"]
"""`edited` is an approval with the reviewer's corrected answer, which the item keeps."""

EDITED_ANSWER_MAX_CHARS = 32_000


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
    """The key id that approved, rejected or edited it."""
    decided_at: float | None = None
    note: str = ""
    edited_answer: str | None = None
    """The reviewer's corrected answer (status `edited`), as redacted by the tenant's output scanners."""


class ReviewDecision(BaseModel):
    """Body of an approve/reject call."""

    note: str = Field(default="", max_length=2000)
    """Free text kept with the decision."""


class ReviewEdit(ReviewDecision):
    """Body of an edit call: the answer as it should have been."""

    answer: str = Field(min_length=1, max_length=EDITED_ANSWER_MAX_CHARS)
    """The corrected answer; it meets the tenant's output scanners before the item keeps it."""


# The table as first released; columns added since are in _ADDED_COLUMNS, so a queue file written by an
# older gateway is brought up to date in place (ADD COLUMN keeps every row; old rows read NULL there).
_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS review_items ("
    " id TEXT PRIMARY KEY, created REAL NOT NULL, tenant TEXT NOT NULL, route TEXT NOT NULL,"
    " reason TEXT NOT NULL, request_id TEXT NOT NULL, content TEXT NOT NULL,"
    " status TEXT NOT NULL, decided_by TEXT, decided_at REAL, note TEXT NOT NULL DEFAULT '')"
)
_ADDED_COLUMNS = {"edited_answer": "TEXT"}
_COLUMNS = (
    "id, created, tenant, route, reason, request_id, content, status, decided_by, decided_at, note, edited_answer"
)


class ReviewQueue:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_CREATE_TABLE)
        self._db.commit()
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        # One write transaction: replicas opening an old file at once add each column exactly once.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            present = {row[1] for row in self._db.execute("PRAGMA table_info(review_items)")}
            for column, declaration in _ADDED_COLUMNS.items():
                if column not in present:
                    self._db.execute(f"ALTER TABLE review_items ADD COLUMN {column} {declaration}")
        except BaseException:
            self._db.rollback()
            raise
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
        query = f"SELECT {_COLUMNS} FROM review_items"
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
            row = self._db.execute(f"SELECT {_COLUMNS} FROM review_items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no review item {item_id!r}", item_id=item_id)
        return self._item(row)

    def decide(
        self, item_id: str, decision: Decision, decided_by: str, note: str, edited_answer: str | None = None
    ) -> ReviewItem:
        """Decide a pending item once; `edited_answer` comes with the `edited` decision and only with it."""
        if (decision == "edited") != (edited_answer is not None):
            raise ValueError(f"edited_answer: required with the 'edited' decision and only with it, got {decision!r}")
        with self._lock:
            cursor = self._db.execute(
                "UPDATE review_items SET status = ?, decided_by = ?, decided_at = ?, note = ?, edited_answer = ?"
                " WHERE id = ? AND status = 'pending'",
                (decision, decided_by, time.time(), note, edited_answer, item_id),
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
        (item_id, created, tenant, route, reason, request_id, content, status, decided_by, decided_at, note,
         edited_answer) = row
        return ReviewItem(
            id=item_id, created=created, tenant=tenant, route=route, reason=reason, request_id=request_id,
            content=json.loads(content), status=status, decided_by=decided_by, decided_at=decided_at, note=note,
            edited_answer=edited_answer,
        )
