"""Answered requests and the feedback on them.

Responses are written in batches by `ResponseWriter` (a background thread), never on the request's
own path; feedback looks its response up by request id, within the caller's tenant only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from services.state.errors import ItemNotFound
from services.state.models import FeedbackRow, ResponseRow

__all__ = ["FeedbackScore", "ResponseRepository"]


@dataclass(frozen=True)
class FeedbackScore:
    model_version: str
    count: int
    mean_rating: float
    """Mean of the ratings (-1 .. +1)."""


class ResponseRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add_many(self, rows: Sequence[ResponseRow | Mapping[str, Any]]) -> None:
        """Insert responses (rows, or plain mappings of their columns: cheaper to build on a hot path); one
        already there (a retried batch) is left as it was. One compiled statement, executed for the batch."""
        if not rows:
            return
        columns = [column.key for column in ResponseRow.__table__.columns]
        values = [dict(row) if isinstance(row, Mapping) else {key: getattr(row, key) for key in columns}
                  for row in rows]
        with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            session.execute(insert(ResponseRow).on_conflict_do_nothing(index_elements=["request_id"]), values)

    def get(self, request_id: str, tenant: str | None = None) -> ResponseRow:
        """The response, if it exists and (when `tenant` is given) belongs to that tenant."""
        with self._sessions() as session:
            row = session.get(ResponseRow, request_id)
        if row is None or (tenant is not None and row.tenant != tenant):
            raise ItemNotFound("response", request_id)
        return row

    def window(self, since: float, until: float, route: str | None = None) -> list[ResponseRow]:
        query = select(ResponseRow).where(ResponseRow.created >= since, ResponseRow.created < until)
        if route is not None:
            query = query.where(ResponseRow.route == route)
        with self._sessions() as session:
            return list(session.scalars(query.order_by(ResponseRow.created)))

    def add_feedback(
        self, request_id: str, tenant: str, rating: int, correction: str | None, tags: Sequence[str], key_id: str,
        source: str = "api",
    ) -> FeedbackRow:
        """Feedback on one of `tenant`'s responses; ItemNotFound for any other id (another tenant's, too)."""
        response = self.get(request_id, tenant)
        row = FeedbackRow(
            id=uuid.uuid4().hex, created=time.time(), request_id=request_id, tenant=tenant,
            model_version=response.model_version, rating=rating, correction=correction, tags=list(tags),
            source=source, key_id=key_id,
        )
        with self._sessions.begin() as session:
            session.add(row)
        return row

    def feedback_for(self, request_ids: Sequence[str]) -> dict[str, list[FeedbackRow]]:
        if not request_ids:
            return {}
        found: dict[str, list[FeedbackRow]] = {}
        with self._sessions() as session:
            for row in session.scalars(select(FeedbackRow).where(FeedbackRow.request_id.in_(list(request_ids)))):
                found.setdefault(row.request_id, []).append(row)
        return found

    def feedback_scores(self, since: float, until: float | None = None) -> list[FeedbackScore]:
        """Mean rating per model version of the feedback given in the window."""
        query = (
            select(FeedbackRow.model_version, func.count(), func.avg(FeedbackRow.rating))
            .where(FeedbackRow.created >= since, FeedbackRow.model_version.is_not(None))
            .group_by(FeedbackRow.model_version)
        )
        if until is not None:
            query = query.where(FeedbackRow.created < until)
        with self._sessions() as session:
            return [FeedbackScore(str(version), int(count), float(mean))
                    for version, count, mean in session.execute(query)]
