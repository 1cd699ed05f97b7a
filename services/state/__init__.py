"""Durable state shared by every gateway replica: review queue, responses and feedback, shadow
comparisons, promotion state. One SQLAlchemy code path over SQLite (embedded default) or Postgres,
schema managed by Alembic (`migrations/`)."""

from services.state.errors import ItemAlreadyDecided, ItemNotFound, StateError
from services.state.models import (
    FeedbackRow,
    PromotionDecisionRow,
    PromotionRow,
    ResponseRow,
    ReviewItemRow,
    ShadowComparisonRow,
)
from services.state.store import StateStore

__all__ = [
    "FeedbackRow",
    "ItemAlreadyDecided",
    "ItemNotFound",
    "PromotionDecisionRow",
    "PromotionRow",
    "ResponseRow",
    "ReviewItemRow",
    "ShadowComparisonRow",
    "StateError",
    "StateStore",
]
