"""Calling the wrapped ASGI app from inside the gateway: one request in, its response collected
(or, for streams, its start awaited and the body handed over in a queue).

A backend attempt that fails in a way a retry or a fallback may fix (5xx, timeout, crash) is a
`BackendFailure`; a 4xx is an answer and passes through.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import PayloadTooLargeError
from services.inference.caller import CALLER_HEADERS, Caller
from services.telemetry import traceparent_headers

__all__ = [
    "ASGIApp",
    "BackendFailure",
    "Captured",
    "Message",
    "OpenStream",
    "Receive",
    "Scope",
    "Send",
    "abandon",
    "call_app",
    "caller_scope",
    "inner_scope",
    "json_or_none",
    "open_stream",
    "read_body",
    "receive_once",
]


# The client's credentials stay at the gateway; the body length is set for the rewritten body; the
# trace context is the gateway's own (a client's must not decide what the serving layer records);
# the caller's tenant and data class are the gateway's to state (`caller_scope`), never the client's.
_STRIPPED_HEADERS = {b"authorization", b"x-api-key", b"content-length", b"traceparent", b"tracestate",
                     *(name.encode() for name in CALLER_HEADERS)}
# Where `caller_scope` records the authenticated caller: a scope key, which no client can send.
_CALLER_SCOPE_KEY = "gateway.caller"


class BackendFailure(Exception):
    """A backend attempt that failed in a way a retry or fallback may fix (5xx, timeout, crash)."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause


@dataclass
class Captured:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class OpenStream:
    """A streaming answer whose response start has arrived; body messages follow in `queue`
    (`None` once the app returns). Set `done` and cancel `task` when finished with it."""

    start: Message
    queue: asyncio.Queue[Message | None]
    task: asyncio.Task[None]
    done: asyncio.Event


async def call_app(app: ASGIApp, scope: Scope, body: bytes, timeout_s: float) -> Captured:
    """Call the wrapped app with `body` and collect its whole response (bounded by `timeout_s`)."""
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    done = asyncio.Event()
    task = asyncio.ensure_future(app(inner_scope(scope, body), receive_once(body, done), send))
    try:
        # `asyncio.wait`, not `wait_for`: on the timeout the attempt ends now, not once the app has
        # finished cancelling (a call stuck on a lost node can take minutes to give up).
        finished, _ = await asyncio.wait({task}, timeout=timeout_s)
    finally:
        done.set()
        if not task.done():
            abandon(task)
    if not finished:
        raise TimeoutError
    task.result()  # the app's own exception, if it raised one
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    if start is None:
        raise BackendFailure("no_response", "the backend ended without a response")
    payload = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(payload)).encode()))
    return Captured(start["status"], headers, payload)


def abandon(task: asyncio.Future[Any]) -> None:
    """Cancel `task` without waiting for it to end; its outcome is collected (never logged as unretrieved)."""
    task.cancel()
    task.add_done_callback(lambda ended: ended.cancelled() or ended.exception())


async def open_stream(app: ASGIApp, scope: Scope, body: bytes, timeout_s: float) -> OpenStream:
    """Start the wrapped app and wait (bounded) for its response start; the body follows in a queue."""
    queue: asyncio.Queue[Message | None] = asyncio.Queue()
    done = asyncio.Event()

    async def send(message: Message) -> None:
        await queue.put(message)

    async def run() -> None:
        try:
            await app(inner_scope(scope, body), receive_once(body, done), send)
        finally:
            await queue.put(None)

    task = asyncio.create_task(run())
    try:
        start = await asyncio.wait_for(queue.get(), timeout_s)
    except TimeoutError:
        done.set()
        abandon(task)
        raise BackendFailure("timeout", f"no answer within {timeout_s}s") from None
    if start is None:
        error = task.exception() if task.done() else None
        raise BackendFailure("error", f"backend ended without a response: {error!r}")
    if start["status"] >= 500:
        done.set()
        abandon(task)
        raise BackendFailure(f"http_{start['status']}", "server error before the stream started")
    return OpenStream(start, queue, task, done)


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body: {declared} bytes, more than the limit of {limit}", field="body", limit=limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body: more than the limit of {limit} bytes", field="body", limit=limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def caller_scope(scope: Scope, caller: Caller) -> Scope:
    """`scope` with the authenticated caller recorded: every call to the wrapped app made with it
    carries the caller's tenant and data class (the retriever filters passages by them)."""
    return {**scope, _CALLER_SCOPE_KEY: caller}


def inner_scope(scope: Scope, body: bytes) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _STRIPPED_HEADERS]
    headers.append((b"content-length", str(len(body)).encode()))
    caller: Caller | None = scope.get(_CALLER_SCOPE_KEY)
    if caller is not None:
        headers += caller.headers()
    headers += traceparent_headers()  # the model attempt's span, when one is recording
    return {**scope, "headers": headers}


def receive_once(body: bytes, done: asyncio.Event) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Apps that listen for a disconnect while streaming must not see one until we are done.
        await done.wait()
        return {"type": "http.disconnect"}

    return receive


def json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
