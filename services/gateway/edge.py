"""The ASGI edge: what goes back to the client, and how a domain error becomes an HTTP answer.

Every response leaves through `tracking_send`, which stamps the request id, the model version
that answered and any degradation on the response headers, and writes the audit record just
before the last body message: no request is ever answered without its record. Domain errors
(`GatewayError`) become their JSON error here and only here; anything else is a 500 that names
the request id and never the cause.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from platform_facts.project import PROJECT_NAME
from services.gateway.asgi import Captured, Message, Send
from services.gateway.errors import GatewayError, RateLimitedError
from services.gateway.exchange import Exchange
from services.gateway.metrics import GatewayMetrics

__all__ = ["answer_error", "send_captured", "send_event", "send_json", "send_raw_event", "tracking_send"]

log = logging.getLogger(f"{PROJECT_NAME}.gateway")


def tracking_send(send: Send, exchange: Exchange, account: Callable[[Exchange], None]) -> Send:
    async def tracked(message: Message) -> None:
        if message["type"] == "http.response.start":
            exchange.response_started = True
            exchange.status = message["status"]
            headers = list(message.get("headers", []))
            if exchange.sends_request_id:
                headers.append((b"x-request-id", exchange.request_id.encode()))
            if exchange.degraded:
                headers.append((f"x-{PROJECT_NAME}-degraded".encode(), exchange.degraded.encode()))
            if exchange.model_version:
                headers.append((f"x-{PROJECT_NAME}-model-version".encode(), exchange.model_version.encode()))
            message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            # The record is written before the client can see the end of the answer.
            account(exchange)
        await send(message)

    return tracked


async def answer_error(
    serve: Awaitable[None], exchange: Exchange, send: Send, metrics: GatewayMetrics
) -> None:
    """Run the pipeline; turn what it raises into the client's JSON error (when no answer has started)."""
    try:
        await serve
    except GatewayError as error:
        exchange.error_type = error.code
        if isinstance(error, RateLimitedError) and exchange.key is not None:
            metrics.rate_limited.labels(exchange.key.tenant, str(error.details.get("kind", ""))).inc()
        if not exchange.response_started:
            await send_json(send, error.status, error.body(), error.headers())
    except Exception:
        log.exception(
            "gateway: unexpected error on %s %s (request %s)", exchange.method, exchange.path, exchange.request_id
        )
        exchange.error_type = "internal_error"
        if not exchange.response_started:
            body = {"error": {"message": "internal gateway error", "type": "server_error", "param": None,
                              "code": "internal_error", "request_id": exchange.request_id}}
            await send_json(send, 500, body)


async def send_json(send: Send, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(key.encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def send_captured(send: Send, captured: Captured) -> None:
    """A model's answer, passed on as it came."""
    await send({"type": "http.response.start", "status": captured.status, "headers": captured.headers})
    await send({"type": "http.response.body", "body": captured.body})


async def send_event(send: Send, event: dict[str, Any]) -> None:
    """One server-sent event carrying a JSON chunk."""
    await send_raw_event(send, json.dumps(event))


async def send_raw_event(send: Send, data: str) -> None:
    await send({"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True})
