"""OpenTelemetry traces, shared by the gateway and the model deployments.

`TracingConfig` is the `tracing:` block of the gateway config (services/config/gateway-<env>.yaml),
the one place tracing is configured. `Telemetry` is one process's tracer over its own
`TracerProvider` (never the global one: BentoML installs its own, and tests build several
gateways in one process); disabled, it holds no exporter and hands out no-op spans.

Across a hop the trace travels as W3C trace context: `traceparent_headers` for the inner HTTP
request, `continued_trace` where the inference layer receives it, `trace_carrier` for the dict
handed to a model deployment with the call, and `Telemetry.continued_span` on the far side.

Attribute names follow the OpenTelemetry GenAI semantic conventions (the `gen_ai.*` names of
opentelemetry-semantic-conventions 0.66b1, now maintained in open-telemetry/semantic-conventions-genai);
the gateway's own facts are `rampart.*`. Prompt and answer text are recorded only with
`capture_content`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import INVALID_SPAN, NoOpTracer, Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, ConfigDict, Field

from platform_facts.project import PROJECT_NAME

__all__ = [
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MAX_TOKENS",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_REQUEST_STREAM",
    "GEN_AI_REQUEST_TEMPERATURE",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_ID",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "PROVIDER",
    "Telemetry",
    "TraceCarrier",
    "TracingConfig",
    "continued_trace",
    "mark_failed",
    "messages_attribute",
    "trace_carrier",
    "traceparent_headers",
]

GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
"""`chat`, `embeddings` or `retrieval`."""
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
"""Seconds from the request to the first content chunk of a stream."""
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
"""Opt-in content (`capture_content`): the messages the model was given, as JSON."""
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
"""Opt-in content (`capture_content`): the answer, as JSON."""

PROVIDER = PROJECT_NAME
"""`gen_ai.provider.name` of the platform's own serving layer."""

TraceCarrier = dict[str, str]
"""W3C trace context (`traceparent`, `tracestate`) handed to a model deployment with a call."""

_W3C = TraceContextTextMapPropagator()
_NO_SPAN: AbstractContextManager[Span] = nullcontext(INVALID_SPAN)


class TracingConfig(BaseModel):
    """Where spans go and what they may hold (the gateway config's `tracing:` block)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    """Export spans. Off: no exporter, no span objects, and the gateway's stage hooks do nothing."""
    endpoint: str = Field(default="http://127.0.0.1:4317", pattern=r"^https?://[^/\s]+:\d+$")
    """The OTLP/gRPC collector, `scheme://host:port`; `http` is plaintext (in-cluster), `https` uses TLS."""
    capture_content: bool = False
    """Put prompt and answer text on the model spans (`gen_ai.input.messages`, `gen_ai.output.messages`).
    Off by default: traces then hold counts, names and timings, never what anyone wrote."""
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of requests traced, decided once per request at the gateway; the model deployments follow
    that decision."""


class Telemetry:
    """One process's tracer: spans exported in batches to `config.endpoint`, or none at all.

    `starts_traces`: the gateway starts a trace per sampled request; a model deployment only
    continues traces it is handed (it never starts one of its own).
    """

    def __init__(
        self,
        config: TracingConfig,
        service_name: str,
        *,
        environment: str = "",
        starts_traces: bool = True,
        exporter: SpanExporter | None = None,
    ) -> None:
        self.config = config
        self.enabled = config.enabled
        self.capture_content = config.enabled and config.capture_content
        self._provider: TracerProvider | None = None
        self.tracer: trace.Tracer = NoOpTracer()
        if not config.enabled:
            return
        root: Sampler = TraceIdRatioBased(config.sample_ratio) if starts_traces else ALWAYS_OFF
        resource = {"service.name": service_name, "service.namespace": PROJECT_NAME}
        if environment:
            resource["deployment.environment.name"] = environment
        self._provider = TracerProvider(sampler=ParentBased(root), resource=Resource.create(resource))
        self._provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=config.endpoint)))
        self.tracer = self._provider.get_tracer(PROJECT_NAME)

    def continued_span(
        self, carrier: Mapping[str, str] | None, name: str, attributes: Mapping[str, Any]
    ) -> AbstractContextManager[Span]:
        """A server span continuing the caller's trace (non-recording when the caller's request is not sampled).

        The span is not made current: it may wrap an async generator, whose steps run in whatever
        context the consumer is in."""
        if not self.enabled:
            return _NO_SPAN
        return self._span(_W3C.extract(dict(carrier or {})), name, attributes)

    @contextmanager
    def _span(self, parent: otel_context.Context, name: str, attributes: Mapping[str, Any]) -> Iterator[Span]:
        span = self.tracer.start_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=dict(attributes),
            record_exception=False, set_status_on_exception=False,
        )
        try:
            yield span
        except BaseException as error:
            mark_failed(span, type(error).__name__)
            raise
        finally:
            span.end()

    def force_flush(self, timeout_ms: int = 10_000) -> bool:
        """Export every finished span now (tests, shutdown)."""
        return self._provider.force_flush(timeout_ms) if self._provider else True

    def shutdown(self) -> None:
        """Flush and stop the exporter; spans ended afterwards are dropped."""
        if self._provider is not None:
            self._provider.shutdown()


def mark_failed(span: Span, kind: str) -> None:
    """Mark a span failed with the kind of error (`error.type`), never its message: messages can quote
    what a user or a model wrote."""
    span.set_attribute("error.type", kind)
    span.set_status(StatusCode.ERROR, kind)


def traceparent_headers() -> list[tuple[bytes, bytes]]:
    """The current span's W3C trace context as ASGI headers; none when no span is current (tracing off)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return []
    carrier: TraceCarrier = {}
    _W3C.inject(carrier)
    return [(key.encode("latin-1"), value.encode("latin-1")) for key, value in carrier.items()]


def trace_carrier() -> TraceCarrier:
    """The current trace context, for a call to another deployment (`{}` when nothing is traced)."""
    carrier: TraceCarrier = {}
    _W3C.inject(carrier)
    return carrier


@contextmanager
def continued_trace(headers: Mapping[str, str]) -> Iterator[None]:
    """Make the trace context a request arrived with current while it is served, so that calls it
    makes to other deployments carry it on (`trace_carrier`)."""
    if "traceparent" not in headers:
        yield
        return
    carrier = {key: headers[key] for key in ("traceparent", "tracestate") if key in headers}
    token = otel_context.attach(_W3C.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


def messages_attribute(messages: Iterable[Mapping[str, Any]], finish_reason: str | None = None) -> str:
    """Chat messages in the GenAI conventions' shape (`role`, `parts`), as the JSON an attribute holds."""
    shaped: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content) if content is not None else ""
        entry: dict[str, Any] = {"role": message.get("role", "user"), "parts": [{"type": "text", "content": text}]}
        if finish_reason is not None:
            entry["finish_reason"] = finish_reason
        shaped.append(entry)
    return json.dumps(shaped, ensure_ascii=False)
