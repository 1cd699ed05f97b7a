"""Shadow comparisons: what a candidate answered to a copy of a request, and how it compared."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.state.models import ShadowComparisonRow

__all__ = ["ShadowAgreement", "ShadowRepository"]


@dataclass(frozen=True)
class ShadowAgreement:
    candidate: str
    count: int
    agreeing: int

    @property
    def rate(self) -> float:
        return self.agreeing / self.count if self.count else 0.0


class ShadowRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, row: ShadowComparisonRow) -> None:
        with self._sessions.begin() as session:
            session.add(row)

    def recent(self, limit: int = 100, candidate: str | None = None) -> list[ShadowComparisonRow]:
        query = select(ShadowComparisonRow).order_by(ShadowComparisonRow.id.desc()).limit(limit)
        if candidate is not None:
            query = query.where(ShadowComparisonRow.candidate == candidate)
        with self._sessions() as session:
            return list(session.scalars(query))

    def agreement(self, candidate: str, since: float) -> ShadowAgreement:
        query = select(func.count(), func.sum(case((ShadowComparisonRow.outcome == "agree", 1), else_=0))).where(
            ShadowComparisonRow.candidate == candidate, ShadowComparisonRow.created >= since
        )
        with self._sessions() as session:
            count, agreeing = session.execute(query).one()
        return ShadowAgreement(candidate, int(count or 0), int(agreeing or 0))
