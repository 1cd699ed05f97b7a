"""Promotion state (one row per route in rollout), the controller's decisions, and the leader lease."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.state.errors import ItemNotFound
from services.state.models import LeaseRow, PromotionDecisionRow, PromotionRow

__all__ = ["PromotionRepository"]


class PromotionRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, route: str) -> PromotionRow:
        with self._sessions() as session:
            row = session.get(PromotionRow, route)
        if row is None:
            raise ItemNotFound("promotion for route", route)
        return row

    def all(self) -> list[PromotionRow]:
        with self._sessions() as session:
            return list(session.scalars(select(PromotionRow).order_by(PromotionRow.route)))

    def start(self, route: str, stable: str, candidate: str, steps: Sequence[float], reason: str,
              measurements: dict[str, Any]) -> PromotionRow:
        """Begin (or restart) the rollout of `candidate` on `route` at the first step; the `start` decision is
        recorded in the same transaction."""
        now = time.time()
        row = PromotionRow(route=route, stable=stable, candidate=candidate, steps=list(steps), step_index=0,
                           weight=float(steps[0]), state="running", step_started=now, updated=now, reason=reason)
        with self._sessions.begin() as session:
            session.merge(row)
            session.add(PromotionDecisionRow(created=now, route=route, candidate=candidate, action="start",
                                             weight=float(steps[0]), reason=reason, measurements=measurements))
        return self.get(route)

    def move(self, route: str, *, state: str, weight: float, step_index: int, reason: str,
             new_step: bool = False, action: str | None = None,
             measurements: dict[str, Any] | None = None) -> PromotionRow:
        """Change the promotion's state; with `action`, the decision that did it is recorded in the same
        transaction (whoever reads the new state also finds why)."""
        now = time.time()
        values: dict[str, Any] = {"state": state, "weight": weight, "step_index": step_index, "reason": reason,
                                  "updated": now}
        if new_step:
            values["step_started"] = now
        with self._sessions.begin() as session:
            result = session.execute(update(PromotionRow).where(PromotionRow.route == route).values(**values))
            if result.rowcount == 0:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
                raise ItemNotFound("promotion for route", route)
            if action is not None:
                candidate = session.get_one(PromotionRow, route).candidate
                session.add(PromotionDecisionRow(created=now, route=route, candidate=candidate, action=action,
                                                 weight=weight, reason=reason, measurements=measurements or {}))
        return self.get(route)

    def record_decision(self, route: str, candidate: str, action: str, weight: float, reason: str,
                        measurements: dict[str, Any]) -> None:
        with self._sessions.begin() as session:
            session.add(PromotionDecisionRow(created=time.time(), route=route, candidate=candidate, action=action,
                                             weight=weight, reason=reason, measurements=measurements))

    def decisions(self, route: str, limit: int = 50) -> list[PromotionDecisionRow]:
        query = (select(PromotionDecisionRow).where(PromotionDecisionRow.route == route)
                 .order_by(PromotionDecisionRow.id.desc()).limit(limit))
        with self._sessions() as session:
            return list(reversed(list(session.scalars(query))))

    def hold_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew the lease `name` for `holder`; False while another holder's lease is unexpired."""
        now = time.time()
        with self._sessions.begin() as session:
            result = session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, (LeaseRow.holder == holder) | (LeaseRow.expires < now))
                .values(holder=holder, expires=now + ttl_s)
            )
            if result.rowcount:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
                return True
            if session.get(LeaseRow, name) is not None:
                return False
        try:
            with self._sessions.begin() as session:
                session.add(LeaseRow(name=name, holder=holder, expires=now + ttl_s))
        except IntegrityError:
            return False  # another replica created it first
        return True

    def release_lease(self, name: str, holder: str) -> None:
        with self._sessions.begin() as session:
            session.execute(update(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder)
                            .values(expires=0.0))
