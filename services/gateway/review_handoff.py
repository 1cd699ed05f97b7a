"""Handing a request to people: flagged prompts and answers, and chat requests no model could answer,
go on the review queue.

The queue itself (`review.py`) is opened on first use. When the chain ends at its `review` step,
the client gets a 202 chat completion (or stream) that says so and carries the review id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from platform_facts.project import PROJECT_NAME
from services.gateway.asgi import Send
from services.gateway.edge import send_event, send_json, send_raw_event
from services.gateway.exchange import Exchange
from services.gateway.metrics import GatewayMetrics
from services.gateway.payloads import input_texts
from services.gateway.review import ReviewQueue
from services.gateway.sse import content_chunk, final_chunk

__all__ = ["ReviewHandoff", "flagged_input_notes"]


def flagged_input_notes(exchange: Exchange) -> dict[str, Any]:
    """What the answer tells the client (`rampart`) when an input scanner flagged its prompt."""
    return {"flagged": True, "review_id": exchange.review_id} if exchange.flagged_input else {}


class ReviewHandoff:
    def __init__(self, queue: Callable[[], ReviewQueue], metrics: GatewayMetrics) -> None:
        self._queue = queue
        self._metrics = metrics

    def enqueue(self, exchange: Exchange, reason: str, extra: dict[str, Any]) -> str:
        route = exchange.require_route()
        # Read back from the payload: reviewers see the prompt as redacted by the input scanners.
        prompt = [item.text for item in input_texts(route.kind, exchange.payload, exchange.runtime.config.limits)]
        review_id = self._queue().enqueue(
            exchange.tenant, route.path, reason, exchange.request_id, {"prompt": prompt, **extra}
        )
        exchange.review_id = review_id
        self._metrics.review_queued.labels(reason).inc()
        return review_id

    async def answer_queued(self, exchange: Exchange, send: Send, stream: bool) -> None:
        """No model could answer: queue the request and tell the client (202), as JSON or as a stream."""
        review_id = self.enqueue(exchange, "fallback", {})
        exchange.degraded = "fallback=review"
        exchange.fallback = "review"
        message = (
            "No model could answer right now. Your request was queued for human review "
            f"(review id {review_id}); a reviewer will follow up."
        )
        notes = {"degraded": True, "fallback": "review", "review_id": review_id}
        completion: dict[str, Any] = {
            "id": f"chatcmpl-{exchange.request_id[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": exchange.require_route().public_model or "", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": message}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, PROJECT_NAME: notes,
        }
        if not stream:
            await send_json(send, 202, completion)
            return
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-type", b"text/event-stream")]})
        chunk = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
                 "model": completion["model"]}
        await send_event(send, content_chunk(chunk, message))
        await send_event(send, final_chunk(chunk, "stop", notes))
        await send_raw_event(send, "[DONE]")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
