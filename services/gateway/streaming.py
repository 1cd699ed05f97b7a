"""The streamed answer: relay a chat stream chunk by chunk, each piece scanned before the client sees it.

The output scanner holds back only what a pattern could still complete; a blocking verdict cuts
the stream (`finish_reason: content_filter`); a model that fails or stalls mid-stream ends it
with `finish_reason: error`, marked degraded. Whatever happens, the stream ends with a final
chunk and `[DONE]`, and the usage is counted from what the client actually received.
"""

from __future__ import annotations

from typing import Any

from services.data.lineage import retrieval_lineage
from services.gateway.asgi import OpenStream, Send, abandon, json_or_none, open_stream
from services.gateway.edge import send_event, send_raw_event
from services.gateway.exchange import Exchange
from services.gateway.metrics import GatewayMetrics
from services.gateway.model_chain import ModelChain
from services.gateway.payloads import count_tokens, input_texts
from services.gateway.review_handoff import ReviewHandoff, flagged_input_notes
from services.gateway.routing import ChainStep
from services.gateway.scanners import PipelineResult
from services.gateway.scanning import record_scan
from services.gateway.sse import chunk_delta, content_chunk, final_chunk, sse_events, usage_chunk

__all__ = ["StreamedAnswer"]


class StreamedAnswer:
    def __init__(self, chain: ModelChain, review: ReviewHandoff, metrics: GatewayMetrics) -> None:
        self._chain = chain
        self._review = review
        self._metrics = metrics

    async def __call__(self, exchange: Exchange, send: Send) -> None:
        def open_step(step: ChainStep, body: bytes) -> Any:
            assert step.model_version is not None
            return open_stream(self._chain.app, exchange.scope, body, step.model_version.timeout_s)

        step, opened = await self._chain.call(exchange, stream=True, call=open_step)
        if opened is None:
            await self._review.answer_queued(exchange, send, stream=True)
            return
        assert isinstance(opened, OpenStream) and step.model_version is not None
        if opened.start["status"] >= 400:
            await send(opened.start)
            while (message := await opened.queue.get()) is not None:
                await send(message)
            return
        headers = [(k, v) for k, v in opened.start.get("headers", []) if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": opened.start["status"], "headers": headers})
        emitted: list[str] = []
        try:
            with exchange.trace.stage("stream"):
                await self._relay(exchange, opened, step, send, emitted)
        except BaseException:
            _account_received(exchange, emitted, step)  # a relay cut short still accounts what the client received
            raise
        finally:
            opened.done.set()
            if not opened.task.done():
                abandon(opened.task)
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _relay(
        self, exchange: Exchange, opened: OpenStream, step: ChainStep, send: Send, emitted: list[str]
    ) -> None:
        assert step.model_version is not None
        timeout_s = step.model_version.timeout_s
        scanner = exchange.runtime.pipeline_for(exchange.tenant).output_stream()
        template: dict[str, Any] = {}
        citations: list[Any] = []
        finish_reason: str | None = None
        blocked: PipelineResult | None = None
        interrupted: str | None = None
        try:
            async for data in sse_events(opened.queue, timeout_s):
                if data == "[DONE]":
                    break
                chunk = json_or_none(data.encode())
                if not isinstance(chunk, dict):
                    continue
                if isinstance(chunk.get("error"), dict):
                    interrupted = str(chunk["error"].get("message", "the model failed mid-stream"))
                    break
                if not chunk.get("choices") and "usage" in chunk:
                    continue  # the model's usage chunk: the gateway sends its own, counting what it let through
                template = {k: chunk[k] for k in ("id", "created", "model") if k in chunk}
                if isinstance(chunk.get("citations"), list):
                    citations = chunk["citations"]  # on the model's finish chunk (extractive answers)
                text, finish = chunk_delta(chunk)
                finish_reason = finish or finish_reason
                if text:
                    exchange.trace.first_chunk()
                    result = scanner.feed(text)
                    if result.blocked:
                        blocked = result
                        break
                    await self._emit(send, template, result, emitted)
                elif finish is None:
                    await send_raw_event(send, data)  # the role-only first chunk
        except TimeoutError:
            interrupted = "the model stopped answering mid-stream"
        if blocked is None and interrupted is None and opened.task.done() and opened.task.exception() is not None:
            interrupted = "the model failed mid-stream"
        if blocked is None:
            # Release what the scanner held back (fully scanned now), even after an interruption.
            released = scanner.finish()
            record_scan(self._metrics, exchange, released)
            if released.blocked:
                blocked = released
            else:
                await self._emit(send, template, released, emitted)
        else:
            record_scan(self._metrics, exchange, blocked)
        notes: dict[str, Any] | None = None
        if blocked is not None:
            exchange.blocked_by = blocked.blocked_by
            finish_reason = "content_filter"
            notes = {"blocked": {"scanner": blocked.blocked_by, "reason": blocked.reason}}
        elif interrupted is not None:
            exchange.degraded = "stream_interrupted"
            self._metrics.degraded.labels(exchange.require_route().path, "stream_interrupted").inc()
            finish_reason = "error"
            notes = {"degraded": True, "error": interrupted}
        elif exchange.degraded:
            notes = {"degraded": True, "fallback": exchange.fallback}
        notes = {**(notes or {}), **flagged_input_notes(exchange)} or None
        exchange.trace.stream_finished(finish_reason or "stop", template.get("model"), emitted)
        if citations and blocked is None:
            exchange.retrieval = retrieval_lineage({"citations": citations})
        await send_event(send, final_chunk(template, finish_reason or "stop", notes,
                                           citations if blocked is None else []))
        _account_received(exchange, emitted, step)  # nothing more reaches the client after the final chunk
        options = exchange.payload.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            usage = exchange.usage
            await send_event(send, usage_chunk(template, usage.prompt_tokens, usage.completion_tokens))
        await send_raw_event(send, "[DONE]")

    @staticmethod
    async def _emit(send: Send, template: dict[str, Any], result: PipelineResult, emitted: list[str]) -> None:
        if result.new_text:
            emitted.append(result.new_text)
            await send_event(send, content_chunk(template, result.new_text))


def _account_received(exchange: Exchange, emitted: list[str], step: ChainStep) -> None:
    """Usage of a stream, and the answer kept for feedback and evaluation exports, are what the client
    received (after any cut), never what the model says it sent."""
    assert step.model_version is not None
    exchange.answer_texts = ["".join(emitted)]
    route, config = exchange.require_route(), exchange.runtime.config
    exchange.usage.completion_tokens = count_tokens("".join(emitted))
    exchange.usage.prompt_tokens = count_tokens(
        "\n".join(item.text for item in input_texts(route.kind, exchange.payload, config.limits))
    )
    exchange.usage.cost_usd = exchange.usage.total_tokens / 1000 * step.model_version.cost_per_1k_tokens
