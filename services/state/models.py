"""The tables of the shared state store, as SQLAlchemy 2 declarative models.

Every gateway replica of a cluster reads and writes these rows (SQLite for `make up`, Postgres where
Rampart is deployed). The schema is owned by the Alembic migrations in `migrations/versions/`; a test
checks that the migrated database and these models agree.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "FeedbackRow",
    "LeaseRow",
    "PromotionDecisionRow",
    "PromotionRow",
    "ResponseRow",
    "ReviewItemRow",
    "ShadowComparisonRow",
]


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class ReviewItemRow(Base):
    """One item of the human review queue (redacted text only)."""

    __tablename__ = "review_items"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[float] = mapped_column(Float, index=True)
    tenant: Mapped[str] = mapped_column(String(128))
    route: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    edited_answer: Mapped[str | None] = mapped_column(Text)


class ResponseRow(Base):
    """One answered model request: who asked, which version answered, and the redacted exchange.

    Feedback refers to it by `request_id` (the `X-Request-Id` the client got); the tenant column is
    what keeps one tenant from rating another's answers."""

    __tablename__ = "responses"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[float] = mapped_column(Float, index=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    route: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[str | None] = mapped_column(String(128), index=True)
    """The version that answered (after any fallback)."""
    routed_version: Mapped[str | None] = mapped_column(String(128), index=True)
    """The version routing chose first: a candidate that failed over to another still counts against it."""
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(default=False)
    """An output scanner blocked or flagged the answer."""
    blocked: Mapped[bool] = mapped_column(default=False)
    """An output scanner blocked the answer (or part of it)."""
    prompt: Mapped[list[Any]]
    """The prompt texts as the input scanners left them."""
    answer: Mapped[list[Any]]
    """The answer texts as the output scanners left them."""
    passage_ids: Mapped[list[Any]]
    """The indexed passages the answer used (RAG passages, chat citations), by id."""
    index_version: Mapped[int | None] = mapped_column(Integer)
    """The index snapshot those passages came from."""


class FeedbackRow(Base):
    """A rating of one response: from its client (`source` api) or a reviewer's decision (`source` review)."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[float] = mapped_column(Float, index=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    """The rated response's request id, which is also its audit record's id."""
    tenant: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(128), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    """-1 bad, 0 neutral, +1 good."""
    correction: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]]
    source: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(128))


class ShadowComparisonRow(Base):
    """A shadow candidate's answer to a copy of a request, compared with the one the client got."""

    __tablename__ = "shadow_comparisons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created: Mapped[float] = mapped_column(Float, index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(256))
    primary_version: Mapped[str | None] = mapped_column(String(128))
    candidate: Mapped[str] = mapped_column(String(128), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    """`agree`, `differ` or `error`."""
    similarity: Mapped[float | None] = mapped_column(Float)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float] = mapped_column(Float)
    answer: Mapped[list[Any]]


class PromotionRow(Base):
    """The rollout of a candidate model version on one route (one row per route)."""

    __tablename__ = "promotions"

    route: Mapped[str] = mapped_column(String(128), primary_key=True)
    stable: Mapped[str] = mapped_column(String(128))
    candidate: Mapped[str] = mapped_column(String(128))
    steps: Mapped[list[Any]]
    """Candidate weights in percent, e.g. [5, 25, 50, 100]."""
    step_index: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float)
    """The candidate's share of traffic in force now, in percent."""
    state: Mapped[str] = mapped_column(String(16))
    """`running`, `paused`, `promoted` or `rolled_back`."""
    step_started: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")


class PromotionDecisionRow(Base):
    """Every decision the promotion controller took, with the numbers it saw."""

    __tablename__ = "promotion_decisions"
    __table_args__ = (Index("ix_promotion_decisions_route_created", "route", "created"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created: Mapped[float] = mapped_column(Float)
    route: Mapped[str] = mapped_column(String(128))
    candidate: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    """`start`, `hold`, `advance`, `promote`, `rollback`, `pause`, `resume`."""
    weight: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    measurements: Mapped[dict[str, Any]]


class LeaseRow(Base):
    """A named lease: the replica whose `holder` id is in it, until `expires`, is the one leader."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires: Mapped[float] = mapped_column(Float)
