"""The gateway's traces: one server span per request, a child span for each stage that takes time.

    POST /v1/chat/completions            SERVER   tenant, route, status, model version, fallback,
    ├── gateway.admission                         degraded, blocked_by, tokens (never the key)
    ├── gateway.input_scan
    ├── chat gen-v1                      CLIENT   one per model-chain attempt: gen_ai.* (operation,
    │     └── chat gen-v1 (Generator)    SERVER   request/response model, tokens, finish reasons,
    ├── chat extractive                  CLIENT   time to first chunk), model version, attempt, fallback
    ├── gateway.output_scan                       (unary answers)
    └── gateway.stream                            (streamed answers: the relay and its scanning)

The model attempt's span is current while the model is called, so `inner_scope` puts its
`traceparent` on the inner request and the serving layer continues the trace into the Generator
deployment. A client's own `traceparent` is linked, not continued: its sampled flag must not
decide what the gateway exports.

`Exchange.trace` is a `RequestTrace`: `NO_TRACE` (every hook a no-op) while tracing is off or the
request is not sampled, a `RecordingTrace` otherwise. Prompt and answer text go on the model
attempt spans only with `tracing.capture_content`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from platform_facts.project import METRIC_PREFIX, PROJECT_NAME
from services.gateway.asgi import BackendFailure
from services.gateway.config import GatewayConfig, load_gateway_config
from services.gateway.errors import GatewayError
from services.gateway.payloads import output_texts
from services.inference.settings import GatewaySettings
from services.telemetry import (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OPERATION_NAME,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    PROVIDER,
    Telemetry,
    TracingConfig,
    mark_failed,
    messages_attribute,
)

if TYPE_CHECKING:
    from services.gateway.exchange import Exchange
    from services.gateway.routing import ChainStep

__all__ = ["NO_TRACE", "GatewayTracing", "RecordingTrace", "RequestTrace", "deployment_tracing"]

ATTRIBUTE_PREFIX = METRIC_PREFIX
"""Span attributes of the gateway's own facts are `<prefix>.<fact>` (`rampart.tenant`)."""

SERVICE_NAME = f"{PROJECT_NAME}-gateway"

# A route's kind as a GenAI operation (`gen_ai.operation.name`); passthrough routes have none.
_OPERATIONS = {"chat": "chat", "embeddings": "embeddings", "texts": "embeddings", "rag": "retrieval"}
_NOTHING: AbstractContextManager[None] = nullcontext()
_W3C = TraceContextTextMapPropagator()


class RequestTrace:
    """The hooks the stages call. This base class records nothing (`NO_TRACE`): with tracing off a
    hook costs one method call."""

    def stage(self, name: str) -> AbstractContextManager[None]:
        """A span around one stage (`admission`, `input_scan`, `output_scan`, `stream`)."""
        return _NOTHING

    def attempt(self, step: ChainStep, stream: bool, number: int) -> AbstractContextManager[None]:
        """A span around one call to one model version; current while the model is called."""
        return _NOTHING

    def answered(self, answer: Any) -> None:
        """The unary answer, as the client gets it (after output scanning): a JSON object, or `/embed`'s list."""

    def first_chunk(self) -> None:
        """The first content of a stream arrived from the model (time to first chunk)."""

    def stream_finished(self, finish_reason: str, response_model: str | None, emitted: list[str]) -> None:
        """The stream ends now; `emitted` is the text the client received."""

    def finish(self) -> None:
        """The request is answered and accounted: close its spans."""


NO_TRACE = RequestTrace()


class RecordingTrace(RequestTrace):
    """The spans of one sampled request."""

    def __init__(self, tracer: trace.Tracer, server: Span, exchange: Exchange, capture_content: bool) -> None:
        self._tracer = tracer
        self._server = server
        self._parent = trace.set_span_in_context(server)
        self._exchange = exchange
        self._capture = capture_content
        # The attempt that answered stays open until the request is accounted: its answer, usage
        # and (streams) time to first chunk are known only then. It ends at `_answered_ns`.
        self._answering: Span | None = None
        self._answered_ns = 0
        self._attempt_started = 0.0
        self._first_chunk_seen = False

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        span = self._tracer.start_span(f"gateway.{name}", context=self._parent,
                                       record_exception=False, set_status_on_exception=False)
        try:
            yield
        except BaseException as error:
            mark_failed(span, error.type if isinstance(error, GatewayError) else type(error).__name__)
            raise
        finally:
            span.end()

    @contextmanager
    def attempt(self, step: ChainStep, stream: bool, number: int) -> Iterator[None]:
        assert step.model_version is not None, "the review step calls no model"
        operation = _OPERATIONS[self._exchange.require_route().kind]  # passthrough routes call no model
        attributes: dict[str, Any] = {
            GEN_AI_OPERATION_NAME: operation,
            GEN_AI_PROVIDER_NAME: PROVIDER,
            GEN_AI_REQUEST_MODEL: step.model_version.model,
            f"{ATTRIBUTE_PREFIX}.model_version": step.name,
            f"{ATTRIBUTE_PREFIX}.model_location": step.model_version.location,
            f"{ATTRIBUTE_PREFIX}.attempt": number,
            f"{ATTRIBUTE_PREFIX}.fallback": not step.primary,
        }
        if operation == "chat":
            attributes.update(_chat_request_attributes(self._exchange.payload, stream, self._capture))
        span = self._tracer.start_span(f"{operation} {step.model_version.model}", context=self._parent,
                                       kind=SpanKind.CLIENT, attributes=attributes,
                                       record_exception=False, set_status_on_exception=False)
        self._attempt_started = time.perf_counter()
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield
        except BaseException as error:
            mark_failed(span, error.cause if isinstance(error, BackendFailure) else type(error).__name__)
            span.end()
            raise
        else:
            self._answering, self._answered_ns = span, time.time_ns()
        finally:
            otel_context.detach(token)

    def answered(self, answer: Any) -> None:
        span = self._answering
        if span is None or not isinstance(answer, dict):
            # BentoML's `/embed` answers a bare list of vectors: nothing to read into the span.
            return
        if isinstance(answer.get("model"), str):
            span.set_attribute(GEN_AI_RESPONSE_MODEL, answer["model"])
        if isinstance(answer.get("id"), str):
            span.set_attribute(GEN_AI_RESPONSE_ID, answer["id"])
        choices = answer.get("choices")
        choices = choices if isinstance(choices, list) else []
        reasons = [str(choice.get("finish_reason")) for choice in choices if isinstance(choice, dict)]
        if reasons:
            span.set_attribute(GEN_AI_RESPONSE_FINISH_REASONS, reasons)
        if self._capture and reasons:
            output = output_texts(self._exchange.require_route().kind, answer)
            messages = [{"role": "assistant", "content": item.text} for item in output]
            span.set_attribute(GEN_AI_OUTPUT_MESSAGES, messages_attribute(messages, reasons[0] if reasons else None))

    def first_chunk(self) -> None:
        if self._first_chunk_seen or self._answering is None:
            return
        self._first_chunk_seen = True
        self._answering.set_attribute(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, time.perf_counter() - self._attempt_started)

    def stream_finished(self, finish_reason: str, response_model: str | None, emitted: list[str]) -> None:
        span = self._answering
        if span is None:
            return
        self._answered_ns = time.time_ns()  # a stream's model span lasts until its last chunk
        span.set_attribute(GEN_AI_RESPONSE_FINISH_REASONS, [finish_reason])
        if response_model:
            span.set_attribute(GEN_AI_RESPONSE_MODEL, response_model)
        if self._capture:
            answer = [{"role": "assistant", "content": "".join(emitted)}]
            span.set_attribute(GEN_AI_OUTPUT_MESSAGES, messages_attribute(answer, finish_reason))

    def finish(self) -> None:
        if self._answering is not None:
            # Usage is settled only now (streams count what the client received).
            self._answering.set_attributes(self._usage())
            self._answering.end(end_time=self._answered_ns)
            self._answering = None
        exchange, span = self._exchange, self._server
        status = exchange.status or 500
        if exchange.metrics_route:
            span.update_name(f"{exchange.method} {exchange.metrics_route}")
        facts: dict[str, Any] = {
            "http.route": exchange.metrics_route or None,
            "http.response.status_code": status,
            f"{ATTRIBUTE_PREFIX}.tenant": exchange.tenant or None,
            f"{ATTRIBUTE_PREFIX}.model_version": exchange.model_version,
            f"{ATTRIBUTE_PREFIX}.fallback": exchange.fallback,
            f"{ATTRIBUTE_PREFIX}.degraded": exchange.degraded,
            f"{ATTRIBUTE_PREFIX}.blocked_by": exchange.blocked_by,
            f"{ATTRIBUTE_PREFIX}.review_id": exchange.review_id,
            f"{ATTRIBUTE_PREFIX}.error_type": exchange.error_type,
            f"{ATTRIBUTE_PREFIX}.quota": exchange.quota_note,
        }
        route = exchange.route
        if route is not None and route.kind in _OPERATIONS:
            facts[GEN_AI_OPERATION_NAME] = _OPERATIONS[route.kind]
            facts[GEN_AI_REQUEST_MODEL] = route.public_model
            facts.update(self._usage())
        span.set_attributes({key: value for key, value in facts.items() if value is not None})
        if status >= 500:
            mark_failed(span, exchange.error_type or str(status))
        span.end()

    def _usage(self) -> dict[str, int]:
        usage = self._exchange.usage
        if not usage.total_tokens:
            return {}
        return {GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens, GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens}


class GatewayTracing:
    """The gateway process's tracer, rebuilt when a config reload changes the `tracing:` block."""

    def __init__(self, config: GatewayConfig) -> None:
        self._telemetry = _telemetry_for(config)

    @property
    def telemetry(self) -> Telemetry:
        return self._telemetry

    def reconfigure(self, config: GatewayConfig) -> None:
        if config.tracing == self._telemetry.config:
            return
        old, self._telemetry = self._telemetry, _telemetry_for(config)
        # Flushing the old exporter can take its export timeout: not on the event loop.
        threading.Thread(target=old.shutdown, name=f"{PROJECT_NAME}-tracing-shutdown", daemon=True).start()

    def start(self, exchange: Exchange) -> RequestTrace:
        """The request's server span (a new trace), or `NO_TRACE` when tracing is off or it is not sampled."""
        telemetry = self._telemetry
        if not telemetry.enabled:
            return NO_TRACE
        span = telemetry.tracer.start_span(
            exchange.method, context=otel_context.Context(), kind=SpanKind.SERVER,
            attributes={"http.request.method": exchange.method, "url.path": exchange.path,
                        f"{ATTRIBUTE_PREFIX}.request_id": exchange.request_id},
            links=_client_link(exchange), record_exception=False, set_status_on_exception=False,
        )
        if not span.is_recording():
            return NO_TRACE
        return RecordingTrace(telemetry.tracer, span, exchange, telemetry.capture_content)

    def force_flush(self) -> bool:
        return self._telemetry.force_flush()

    def shutdown(self) -> None:
        self._telemetry.shutdown()


def deployment_tracing(settings: GatewaySettings) -> TracingConfig:
    """The `tracing:` block the model deployments of an application follow: the one of the gateway
    config the application is deployed with (a reload reaches the gateway, not them: redeploy)."""
    return load_gateway_config(settings.config_path or settings.env).tracing


def _telemetry_for(config: GatewayConfig) -> Telemetry:
    return Telemetry(config.tracing, SERVICE_NAME, environment=config.environment)


def _client_link(exchange: Exchange) -> list[Link]:
    """A link to the trace the client sent, if any (linked: the client's sampling does not bind ours)."""
    for key, value in exchange.scope["headers"]:
        if key.lower() == b"traceparent":
            context = trace.get_current_span(_W3C.extract({"traceparent": value.decode("latin-1")})).get_span_context()
            return [Link(context)] if context.is_valid else []
    return []


def _chat_request_attributes(payload: dict[str, Any], stream: bool, capture: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {GEN_AI_REQUEST_STREAM: stream}
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    if isinstance(max_tokens, int):
        attributes[GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    if isinstance(payload.get("temperature"), int | float):
        attributes[GEN_AI_REQUEST_TEMPERATURE] = float(payload["temperature"])
    messages = payload.get("messages")
    if capture and isinstance(messages, list):
        attributes[GEN_AI_INPUT_MESSAGES] = messages_attribute(m for m in messages if isinstance(m, dict))
    return attributes

