"""An OTLP/gRPC trace receiver for tests: the `TraceService/Export` a collector serves, on 127.0.0.1.

Spans arrive as the OpenTelemetry protocol's messages and are decoded into `ReceivedSpan`s
(ids as hex, attributes as plain values), so tests assert on what a collector would get.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

__all__ = ["Collector", "ReceivedSpan", "running_collector"]


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: str
    attributes: dict[str, Any]
    error: bool
    start_ns: int
    end_ns: int
    links: list[tuple[str, str]]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """The OTLP/gRPC trace receiver of a collector, keeping what it is sent."""

    def __init__(self) -> None:
        self._requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self._lock = threading.Lock()
        self.endpoint = ""

    def Export(self, request: Any, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            self._requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            requests = list(self._requests)
        received = []
        for request in requests:
            for resource_spans in request.resource_spans:
                service = _attributes(resource_spans.resource.attributes).get("service.name", "")
                for scope_spans in resource_spans.scope_spans:
                    received += [self._decode(span, service) for span in scope_spans.spans]
        return received

    @staticmethod
    def _decode(span: OtlpSpan, service: str) -> ReceivedSpan:
        return ReceivedSpan(
            name=span.name, service=service, trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
            parent_id=span.parent_span_id.hex(), kind=OtlpSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
            attributes=_attributes(span.attributes), error=span.status.code == Status.STATUS_CODE_ERROR,
            start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
            links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
        )

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], bool], timeout_s: float) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout_s
        while not predicate(spans := self.spans()):
            if time.monotonic() > deadline:
                raise AssertionError(f"spans not received in {timeout_s}s: {[s.name for s in spans]}")
            time.sleep(0.1)
        return spans


@contextmanager
def running_collector() -> Iterator[Collector]:
    """A collector listening on a free loopback port (`collector.endpoint`) until the block ends."""
    servicer = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    servicer.endpoint = f"http://127.0.0.1:{port}"
    try:
        yield servicer
    finally:
        server.stop(grace=None)
