"""OpenAI's error shape on BentoML's native routes too.

BentoML answers a request that fails its input validation with its own body,
`{"error": "1 validation error for Input", "detail": [{"loc": [...], "msg": ...}]}`. Clients of
Rampart see one error shape on every route, so this ASGI middleware rewrites exactly those
answers into `{"error": {"message", "type", "param", "code"}}`, naming the first field at fault.
Every other response passes through untouched and unbuffered.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ErrorBody", "ErrorResponse", "OpenAIErrorShape"]


class ErrorBody(BaseModel):
    """OpenAI's error object."""

    model_config = ConfigDict(extra="forbid")

    message: str
    type: Literal["invalid_request_error", "server_error"]
    param: str | None
    """The request field at fault, when there is one."""
    code: str
    """The precise reason: `invalid_request`, `model_not_found`, `upstream_unavailable`, `upstream_timeout`."""


class ErrorResponse(BaseModel):
    """Every 4xx/5xx the OpenAI routes return."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorBody



def openai_error(body: bytes) -> bytes | None:
    """The OpenAI-shaped body for a BentoML validation error body; None for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not (isinstance(data, dict) and isinstance(data.get("detail"), list) and data["detail"]):
        return None
    first = data["detail"][0] if isinstance(data["detail"][0], dict) else {}
    field = ".".join(str(part) for part in first.get("loc", [])) or "body"
    message = f"{field}: {first.get('msg', 'invalid value')}"
    error = {"message": message, "type": "invalid_request_error", "param": field, "code": "invalid_request"}
    return json.dumps({"error": error}).encode()


class OpenAIErrorShape:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def reshape(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] == 400:
                held = message  # a validation error is small: hold it until its body is complete
                return
            if held is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            reshaped = openai_error(body)
            if reshaped is not None:
                headers = [(k, v) for k, v in held.get("headers", []) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(reshaped)).encode()))
                held = {**held, "headers": headers}
                body = reshaped
            await send(held)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, reshape)
