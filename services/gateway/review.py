"""The human review queue: flagged prompts, flagged answers and requests no backend could serve.

Persisted in the state store every replica shares (`services.state`: SQLite for `make up`, Postgres
where deployed), so no item is lost when a replica restarts. Items hold redacted text only, the same
as the audit log: a reviewer's edited answer is kept as the output scanners left it (admin.py scans it
before `decide`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from services.gateway.errors import InvalidRequestError, NotFoundError
from services.state import ItemAlreadyDecided, ItemNotFound, StateStore

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
    """Why it is here: `flagged_input` (an input scanner flagged the prompt; it was answered),
    `flagged_output` (a scanner flagged the answer) or `fallback` (no backend)."""
    request_id: str
    """The request's id, as in its audit record and `X-Request-Id` header."""
    content: dict[str, Any]
    """The redacted prompt; for flagged prompts and answers, the scanners that flagged them
    (`flagged_by`); for flagged answers, the redacted answer."""
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


class ReviewQueue:
    """The queue's API for the gateway: rows from the shared store (`services.state`), errors as HTTP errors."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def enqueue(self, tenant: str, route: str, reason: str, request_id: str, content: dict[str, Any]) -> str:
        return self.store.reviews.enqueue(tenant, route, reason, request_id, content)

    def list(self, status: ReviewStatus | None = "pending", limit: int = 100) -> list[ReviewItem]:
        return [ReviewItem.model_validate(row, from_attributes=True) for row in self.store.reviews.list(status, limit)]

    def get(self, item_id: str) -> ReviewItem:
        try:
            row = self.store.reviews.get(item_id)
        except ItemNotFound:
            raise NotFoundError(f"no review item {item_id!r}", item_id=item_id) from None
        return ReviewItem.model_validate(row, from_attributes=True)

    def decide(
        self, item_id: str, decision: Decision, decided_by: str, note: str, edited_answer: str | None = None
    ) -> ReviewItem:
        """Decide a pending item once (the decision is also feedback on the reviewed answer);
        `edited_answer` comes with the `edited` decision and only with it."""
        try:
            row = self.store.reviews.decide(item_id, decision, decided_by, note, edited_answer)
        except ItemNotFound:
            raise NotFoundError(f"no review item {item_id!r}", item_id=item_id) from None
        except ItemAlreadyDecided as already:
            raise InvalidRequestError(str(already), field="id", current_status=already.status) from None
        return ReviewItem.model_validate(row, from_attributes=True)
