"""`Exchange`: one request's way through the gateway, handed from stage to stage.

Each stage reads what the stages before it decided and adds its own part: admission the key,
route, payload and the token estimate; scanning the verdicts and redactions; routing the
`RoutingDecision`; the model chain the model version that answered; the answer stages the usage.
Accounting turns the finished exchange into metrics and one audit record. Nothing about a
request lives anywhere else, and every stage reads the config snapshot the request started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from services.gateway.asgi import Scope
from services.gateway.config import RouteConfig
from services.gateway.keys import ApiKey
from services.gateway.payloads import InputText
from services.gateway.tracing import NO_TRACE, RequestTrace

if TYPE_CHECKING:  # imported for annotations only: the runtime module imports the scanners
    from services.data.lineage import RetrievalFields
    from services.gateway.accounting import VerdictFields
    from services.gateway.routing import RoutingDecision
    from services.gateway.runtime import RuntimeConfig

__all__ = ["Exchange", "FeedbackRecord", "ReviewDecisionRecord", "Usage", "VerdictRecord"]


@dataclass(frozen=True)
class VerdictRecord:
    """One scanner's verdict on one text, as the audit record keeps it (kinds and counts, no text)."""

    scanner: str
    stage: str
    action: str = ""
    shadow: bool = False
    reason: str = ""
    findings: dict[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0
    error: str | None = None
    """Set when the scanner raised; the record then holds only scanner, stage and error."""

    def audit_fields(self) -> VerdictFields:
        """As the audit record writes it: only the fields that apply (built directly: this runs per
        verdict per request, and `dataclasses.asdict` deep-copies)."""
        if self.error is not None:
            return {"scanner": self.scanner, "stage": self.stage, "error": self.error}
        return {"scanner": self.scanner, "stage": self.stage, "action": self.action, "shadow": self.shadow,
                "reason": self.reason, "findings": self.findings, "latency_ms": self.latency_ms}


@dataclass(frozen=True)
class ReviewDecisionRecord:
    """A reviewer's decision, recorded on the admin request that made it."""

    item_id: str
    decision: str
    request_id: str


@dataclass(frozen=True)
class FeedbackRecord:
    """Feedback given on this (feedback) request, for its audit record."""

    feedback_id: str
    response_id: str
    rating: int
    model_version: str | None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Exchange:
    """Everything the gateway knows about one request; stages fill it in, in pipeline order."""

    request_id: str
    method: str
    path: str
    started: float
    """`time.perf_counter()` when the request arrived."""
    scope: Scope
    runtime: RuntimeConfig
    """The config snapshot this request is served under, whatever a reload does meanwhile."""
    sends_request_id: bool = True
    """Whether the gateway answers with `x-request-id` itself; in a Serve replica, Serve's own middleware
    does, with the id the gateway adopted (one header, one id for feedback, audit and lineage)."""

    # admission
    metrics_route: str = ""
    """The route label for metrics and audit: a known route or admin path, never a raw client path."""
    key: ApiKey | None = None
    route: RouteConfig | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    texts: list[InputText] = field(default_factory=list)
    prompt_sha256: str | None = None
    estimated_tokens: int = 0
    quota_note: str | None = None
    """`fail_open` when the quota ledger could not be reached and the request was admitted anyway."""

    # scanning
    verdicts: list[VerdictRecord] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)
    blocked_by: str | None = None
    flagged_input: list[str] = field(default_factory=list)
    """Input scanners that flagged the request (it is answered, and its prompt is on the review queue)."""

    # routing and the model chain
    routing: RoutingDecision | None = None
    model_version: str | None = None
    """The model version that answered (or `review`)."""
    fallback: str | None = None
    degraded: str | None = None

    # the answer
    usage: Usage = field(default_factory=Usage)
    review_id: str | None = None
    review_decision: ReviewDecisionRecord | None = None
    answer_texts: list[str] = field(default_factory=list)
    """The unary answer's texts as the output scanners left them (kept with the response for feedback)."""
    feedback: FeedbackRecord | None = None
    """On `POST /v1/feedback`: the rating this request gave."""
    retrieval: RetrievalFields | None = None
    """RAG and chat: the index version and the passages (ids, content hashes) the answer used (lineage)."""

    # the edge
    trace: RequestTrace = NO_TRACE
    """The request's spans (tracing.py); the no-op `NO_TRACE` when tracing is off or it is not sampled."""
    status: int = 0
    error_type: str | None = None
    response_started: bool = False
    accounted: bool = False

    @property
    def tenant(self) -> str:
        return self.key.tenant if self.key else ""

    @property
    def data_class(self) -> Literal["standard", "regulated"]:
        """The authenticated tenant's data class (what it may be served and may retrieve)."""
        return self.runtime.config.tenants[self.require_key().tenant].data_class

    def require_key(self) -> ApiKey:
        if self.key is None:  # a stage ran before admission: a bug, not a client error
            raise RuntimeError("gateway stage ran before admission authenticated the request")
        return self.key

    def require_route(self) -> RouteConfig:
        if self.route is None:
            raise RuntimeError("gateway stage ran before admission found the route")
        return self.route
