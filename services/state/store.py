"""`StateStore`: the one way into state every gateway replica shares.

    store = StateStore.open("sqlite:///.rampart/local/state.sqlite")      # make up
    store = StateStore.open("postgresql+psycopg://rampart@db:5432/rampart")  # a cluster
    store.reviews.enqueue(...); store.responses.add_feedback(...); store.promotions.get("chat")

Opening migrates the database to the newest schema (Alembic, `migrations/`), so a replica never runs
against tables older than its code.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from services.state.database import migrate, open_engine
from services.state.promotions import PromotionRepository
from services.state.responses import ResponseRepository
from services.state.reviews import ReviewRepository
from services.state.shadow_log import ShadowRepository

__all__ = ["StateStore"]


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Rows outlive their session: callers read them after the transaction closed.
        sessions = sessionmaker(engine, expire_on_commit=False)
        self.reviews = ReviewRepository(sessions)
        self.responses = ResponseRepository(sessions)
        self.shadow = ShadowRepository(sessions)
        self.promotions = PromotionRepository(sessions)

    @classmethod
    def open(cls, url: str, aws_iam_region: str | None = None) -> StateStore:
        """`aws_iam_region`: log in to RDS PostgreSQL with IAM tokens (no stored password)."""
        engine = open_engine(url, aws_iam_region)
        migrate(engine)
        return cls(engine)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()
