"""The review queue's rows: enqueue, list, get, decide. A decision is also feedback on the reviewed answer."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.state.errors import ItemAlreadyDecided, ItemNotFound
from services.state.models import FeedbackRow, ResponseRow, ReviewItemRow

__all__ = ["DECISION_RATINGS", "ReviewRepository"]

DECISION_RATINGS = {"approved": 1, "edited": 0, "rejected": -1}
"""A reviewer's decision as a rating of the answer: approved as it was, corrected, or refused."""


class ReviewRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def enqueue(self, tenant: str, route: str, reason: str, request_id: str, content: dict[str, Any]) -> str:
        item_id = uuid.uuid4().hex
        with self._sessions.begin() as session:
            session.add(ReviewItemRow(
                id=item_id, created=time.time(), tenant=tenant, route=route, reason=reason, request_id=request_id,
                content=content, status="pending", note="",
            ))
        return item_id

    def list(self, status: str | None, limit: int) -> list[ReviewItemRow]:
        query = select(ReviewItemRow).order_by(ReviewItemRow.created).limit(limit)
        if status is not None:
            query = query.where(ReviewItemRow.status == status)
        with self._sessions() as session:
            return list(session.scalars(query))

    def get(self, item_id: str) -> ReviewItemRow:
        with self._sessions() as session:
            row = session.get(ReviewItemRow, item_id)
        if row is None:
            raise ItemNotFound("review item", item_id)
        return row

    def decide(
        self, item_id: str, decision: str, decided_by: str, note: str, edited_answer: str | None
    ) -> ReviewItemRow:
        """Decide a pending item exactly once (a conditional UPDATE: two reviewers racing on two replicas
        cannot both win), and record the decision as feedback on the reviewed response."""
        if decision not in DECISION_RATINGS:
            raise ValueError(f"decision: must be one of {sorted(DECISION_RATINGS)}, got {decision!r}")
        if (decision == "edited") != (edited_answer is not None):
            raise ValueError(f"edited_answer: required with the 'edited' decision and only with it, got {decision!r}")
        now = time.time()
        with self._sessions.begin() as session:
            result = session.execute(
                update(ReviewItemRow)
                .where(ReviewItemRow.id == item_id, ReviewItemRow.status == "pending")
                .values(status=decision, decided_by=decided_by, decided_at=now, note=note, edited_answer=edited_answer)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
                row = session.get(ReviewItemRow, item_id)
                if row is None:
                    raise ItemNotFound("review item", item_id)
                raise ItemAlreadyDecided(item_id, row.status)
            item = session.get_one(ReviewItemRow, item_id)
            answered = session.get(ResponseRow, item.request_id)
            session.add(FeedbackRow(
                id=uuid.uuid4().hex, created=now, request_id=item.request_id, tenant=item.tenant,
                model_version=answered.model_version if answered else item.content.get("model_version"),
                rating=DECISION_RATINGS[decision], correction=edited_answer, tags=[f"review:{decision}"],
                source="review", key_id=decided_by,
            ))
        return self.get(item_id)
