"""The gateway's own endpoints: the human review queue, metrics and config reload, and its pages.

A small FastAPI app the gateway calls for `/v1/review` and `/v1/gateway` paths. The gateway has
already authenticated the caller and checked the route's scope (`admin_scope_for`); the request's
`Exchange` travels in the ASGI scope, so a review decision lands on the request's audit record.
The pages (`pages.py`: the review queue and the API reference) are static and served without a key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from platform_facts.project import DISPLAY_NAME, PROJECT_NAME
from services.gateway.asgi import Scope
from services.gateway.config import path_matches
from services.gateway.errors import ConfigError, GatewayError, InvalidRequestError
from services.gateway.exchange import Exchange, ReviewDecisionRecord
from services.gateway.feedback import FeedbackDesk, FeedbackReceipt, FeedbackRequest
from services.gateway.metrics import GatewayMetrics
from services.gateway.pages import pages_router
from services.gateway.review import Decision, ReviewDecision, ReviewEdit, ReviewItem, ReviewQueue, ReviewStatus
from services.gateway.scanning import record_scan
from services.state.reviews import DECISION_RATINGS

__all__ = [
    "ADMIN_ROUTES",
    "ErrorEnvelope",
    "ReloadResult",
    "ReviewList",
    "admin_route_name",
    "admin_scope_for",
    "build_admin_app",
    "with_exchange",
]

ItemId = Annotated[str, Path(min_length=1, max_length=64, description="The review item's id.")]

# Gateway-owned paths and the scope each needs (the model routes come from config).
ADMIN_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/v1/review/items", "review:read"),
    ("GET", "/v1/review/items/{item_id}", "review:read"),
    ("POST", "/v1/review/items/{item_id}/approve", "review:write"),
    ("POST", "/v1/review/items/{item_id}/reject", "review:write"),
    ("POST", "/v1/review/items/{item_id}/edit", "review:write"),
    # Whoever may ask for answers may rate them; the tenant check is the feedback desk's (feedback.py).
    ("POST", "/v1/feedback", "chat"),
    ("GET", "/v1/gateway/metrics", "admin"),
    ("POST", "/v1/gateway/reload", "admin"),
    ("GET", "/v1/gateway/openapi.json", "admin"),
)
_EXCHANGE_KEY = f"{PROJECT_NAME}.exchange"


def admin_scope_for(method: str, path: str) -> str | None:
    """The scope an admin path needs, or None when the path is not the gateway's own."""
    for admin_method, pattern, scope in ADMIN_ROUTES:
        if method == admin_method and path_matches(pattern, path):
            return scope
    return None


def admin_route_name(path: str) -> str:
    """The route pattern (`/v1/review/items/{item_id}`) that labels an admin request in metrics."""
    for _method, pattern, _scope in ADMIN_ROUTES:
        if path_matches(pattern, path):
            return pattern
    return path


def with_exchange(scope: Scope, exchange: Exchange) -> Scope:
    """The scope the admin app is called with: the caller's exchange travels along."""
    return {**scope, _EXCHANGE_KEY: exchange}


def _exchange_of(request: Request) -> Exchange:
    exchange = request.scope[_EXCHANGE_KEY]
    assert isinstance(exchange, Exchange)
    return exchange


class ErrorDetail(BaseModel):
    message: str
    """What is wrong, naming the field or scope at fault."""
    type: str
    """OpenAI's error family: `invalid_request_error`, `authentication_error`, `permission_error`,
    `rate_limit_error`, `server_error`."""
    param: str | None
    """The field at fault, if one is."""
    code: str
    """The precise reason (`unauthorized`, `forbidden`, `not_found`, `invalid_request`, ...)."""


class ErrorEnvelope(BaseModel):
    """Every gateway error, in OpenAI's shape: `{"error": {"message", "type", "param", "code", ...details}}`."""

    error: ErrorDetail


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorEnvelope, "description": "Missing or invalid API key."},
    403: {"model": ErrorEnvelope, "description": "The key lacks the scope this endpoint needs."},
    404: {"model": ErrorEnvelope, "description": "No such item or path."},
    400: {"model": ErrorEnvelope, "description": "Invalid request or item state; the field is named."},
    429: {"model": ErrorEnvelope, "description": "Rate limited; see Retry-After."},
}


class ReviewList(BaseModel):
    """Response of `GET /v1/review/items`."""

    items: list[ReviewItem]
    """Oldest first."""


class ReloadResult(BaseModel):
    """Response of `POST /v1/gateway/reload`."""

    reloaded: bool
    """Whether the file had changed and was applied."""
    versions: dict[str, dict[str, float]]
    """Per route: backend → canary weight now in force."""


def build_admin_app(
    review: Callable[[], ReviewQueue],
    metrics: GatewayMetrics,
    reload: Callable[[], Awaitable[ReloadResult]],
    feedback: FeedbackDesk,
) -> FastAPI:
    app = FastAPI(
        title=f"{DISPLAY_NAME} gateway", version="1", docs_url=None, redoc_url=None,
        openapi_url="/v1/gateway/openapi.json", responses=_ERRORS,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"][1:]) or "body"
        invalid = InvalidRequestError(f"{field}: {first['msg']}", field=field)
        return JSONResponse(invalid.body(), status_code=invalid.status)

    @app.exception_handler(GatewayError)
    async def _domain_error(request: Request, error: GatewayError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers())

    @app.get("/v1/review/items", response_model=ReviewList)
    async def list_items(
        status: Annotated[ReviewStatus | None, Query(description="Filter by status.")] = "pending",
        limit: Annotated[int, Query(ge=1, le=1000, description="At most this many items.")] = 100,
    ) -> ReviewList:
        return ReviewList(items=review().list(status, limit))

    @app.get("/v1/review/items/{item_id}", response_model=ReviewItem)
    async def get_item(item_id: ItemId) -> ReviewItem:
        return review().get(item_id)

    async def _decide(
        request: Request, item_id: str, decision: Decision, body: ReviewDecision | None,
        edited_answer: str | None = None,
    ) -> ReviewItem:
        exchange = _exchange_of(request)
        note = body.note if body else ""
        item = review().decide(item_id, decision, exchange.require_key().id, note, edited_answer)
        exchange.review_decision = ReviewDecisionRecord(item_id, decision, item.request_id)
        # The decision was stored as feedback on the reviewed answer (services/state/reviews.py).
        stored = review().store.responses.feedback_for([item.request_id]).get(item.request_id, [])
        version = next((row.model_version for row in stored if row.source == "review"), None) or "unknown"
        metrics.feedback.labels(version, "review", str(DECISION_RATINGS[decision])).inc()
        return item

    @app.post("/v1/feedback", response_model=FeedbackReceipt)
    async def give_feedback(request: Request, body: FeedbackRequest) -> FeedbackReceipt:
        """Rate one of your answers by its `X-Request-Id`: rating -1/0/+1, an optional correction, tags."""
        return await feedback.give(_exchange_of(request), body)

    @app.post("/v1/review/items/{item_id}/approve", response_model=ReviewItem)
    async def approve(
        request: Request, item_id: ItemId, body: ReviewDecision | None = None
    ) -> ReviewItem:
        return await _decide(request, item_id, "approved", body)

    @app.post("/v1/review/items/{item_id}/reject", response_model=ReviewItem)
    async def reject(
        request: Request, item_id: ItemId, body: ReviewDecision | None = None
    ) -> ReviewItem:
        return await _decide(request, item_id, "rejected", body)

    @app.post("/v1/review/items/{item_id}/edit", response_model=ReviewItem)
    async def edit(request: Request, item_id: ItemId, body: ReviewEdit) -> ReviewItem:
        """Approve the item with a corrected answer, which meets the item tenant's output scanners first."""
        exchange = _exchange_of(request)
        tenant = review().get(item_id).tenant
        # The queue holds redacted text only, whoever wrote it; the verdicts go on this request's audit record.
        result = exchange.runtime.pipeline_for(tenant).scan_output(body.answer)
        record_scan(metrics, exchange, result)
        if result.blocked:
            exchange.blocked_by = result.blocked_by
            raise InvalidRequestError(
                f"answer: blocked by scanner {result.blocked_by!r}: {result.reason}",
                field="answer", scanner=result.blocked_by, reason=result.reason,
            )
        return await _decide(request, item_id, "edited", body, result.text)

    @app.get("/v1/gateway/metrics", response_class=Response)
    async def metrics_exposition() -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/gateway/reload", response_model=ReloadResult)
    async def reload_config() -> ReloadResult:
        try:
            return await reload()
        except ConfigError as error:
            # The previous config stays in force; say why the new one was refused.
            raise InvalidRequestError(f"config refused, previous config kept: {error}", field="config") from None

    app.include_router(pages_router())
    # Each operation names the scope it needs in the schema, for the API reference page.
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods or ():
                scope = admin_scope_for(method, route.path)
                if scope is None:  # admission would answer 404: the route could never be reached
                    raise RuntimeError(f"ADMIN_ROUTES has no scope for {method} {route.path}")
                route.openapi_extra = {f"x-{PROJECT_NAME}-scope": scope}
    return app
