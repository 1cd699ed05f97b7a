"""Server-sent events of OpenAI chat streams: reading the wrapped app's, writing the gateway's."""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncIterator
from typing import Any

from platform_facts.project import PROJECT_NAME
from services.gateway.asgi import Message

__all__ = ["chunk_delta", "content_chunk", "final_chunk", "sse_data", "sse_events", "usage_chunk"]


async def sse_events(queue: asyncio.Queue[Message | None], timeout_s: float) -> AsyncIterator[str]:
    """The `data:` payloads of a server-sent event stream, as the inner app sends it."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    buffer = ""
    while True:
        message = await asyncio.wait_for(queue.get(), timeout_s)
        if message is None:
            return
        if message["type"] != "http.response.body":
            continue
        buffer += decoder.decode(message.get("body", b""))
        *events, buffer = buffer.replace("\r\n", "\n").split("\n\n")
        for event in events:
            data = sse_data(event)
            if data is not None:
                yield data


def sse_data(event: str) -> str | None:
    lines = [line[5:].lstrip() for line in event.splitlines() if line.startswith("data:")]
    return "\n".join(lines) if lines else None


def chunk_delta(chunk: dict[str, Any]) -> tuple[str, str | None]:
    choices = chunk.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    delta = choice.get("delta") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return (content if isinstance(content, str) else ""), choice.get("finish_reason")


def content_chunk(template: dict[str, Any], text: str) -> dict[str, Any]:
    chunk = {**template, "object": "chat.completion.chunk"}
    chunk["choices"] = [{"index": 0, "delta": {"content": text}, "finish_reason": None}]
    return chunk


def final_chunk(template: dict[str, Any], finish_reason: str, notes: dict[str, Any] | None,
                citations: list[Any] | None = None) -> dict[str, Any]:
    """The gateway's last choice chunk; `citations` are the model's, passed on as its finish chunk had them."""
    chunk = {**template, "object": "chat.completion.chunk"}
    chunk["choices"] = [{"index": 0, "delta": {}, "finish_reason": finish_reason}]
    if citations:
        chunk["citations"] = citations
    if notes:
        chunk[PROJECT_NAME] = notes
    return chunk


def usage_chunk(template: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The chunk `stream_options.include_usage` asks for: after the last choice, before `[DONE]`."""
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    return {**template, "object": "chat.completion.chunk", "choices": [], "usage": usage}
