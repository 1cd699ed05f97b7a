"""The unary answer: call the model chain, scan what comes back, send it (or queue it for review).

Blocked output is emptied (chat: `finish_reason: content_filter`); redactions are written in
place; a flagged answer goes to the review queue and says so in `rampart`. An answer nothing
changed is passed on as the model's own bytes.
"""

from __future__ import annotations

from typing import Any

from platform_facts.project import PROJECT_NAME
from services.data.lineage import retrieval_lineage
from services.gateway.asgi import Send, json_or_none
from services.gateway.drift import DriftTracker, model_space
from services.gateway.edge import send_captured, send_json
from services.gateway.exchange import Exchange
from services.gateway.metrics import GatewayMetrics
from services.gateway.model_chain import ModelChain
from services.gateway.payloads import decode_embedding, output_texts, usage_tokens, write_text
from services.gateway.review_handoff import ReviewHandoff, flagged_input_notes
from services.gateway.scanning import record_scan
from services.gateway.shadow import ShadowCopies

__all__ = ["UnaryAnswer"]


class UnaryAnswer:
    def __init__(
        self,
        chain: ModelChain,
        review: ReviewHandoff,
        shadow: ShadowCopies,
        drift: DriftTracker,
        metrics: GatewayMetrics,
    ) -> None:
        self._chain = chain
        self._review = review
        self._shadow = shadow
        self._drift = drift
        self._metrics = metrics

    async def __call__(self, exchange: Exchange, send: Send) -> None:
        route = exchange.require_route()
        step, captured = await self._chain.call(
            exchange, stream=False, call=lambda step, body: self._chain.attempt(step, exchange.scope, body)
        )
        if captured is None:
            await self._review.answer_queued(exchange, send, stream=False)
            return
        answer = json_or_none(captured.body) if captured.status < 400 else None
        if answer is None:
            await send_captured(send, captured)
            return
        if route.kind in ("chat", "rag"):
            exchange.retrieval = retrieval_lineage(answer)
        assert step.model_version is not None
        tokens = usage_tokens(answer)
        if tokens:
            exchange.usage.prompt_tokens, exchange.usage.completion_tokens = tokens
        exchange.usage.cost_usd = exchange.usage.total_tokens / 1000 * step.model_version.cost_per_1k_tokens
        if route.kind == "embeddings":
            self._observe_embeddings(answer, step.model_version.model)
        before = output_texts(route.kind, answer)
        with exchange.trace.stage("output_scan"):
            notes = self._scan(exchange, answer)
        exchange.trace.answered(answer)
        self._shadow.start(exchange, answer)
        exchange.answer_texts = [item.text for item in output_texts(route.kind, answer)]  # kept for feedback
        if not notes and output_texts(route.kind, answer) == before:
            # Nothing to add or redact: pass the model's bytes on (re-encoding 384 floats costs more
            # than everything else the gateway does to an embedding request).
            await send_captured(send, captured)
            return
        if notes and isinstance(answer, dict):  # `/embed` answers a bare list: no place for notes
            answer[PROJECT_NAME] = notes
        await send_json(send, captured.status, answer)

    def _scan(self, exchange: Exchange, answer: dict[str, Any]) -> dict[str, Any]:
        """Scan the answer's texts in place; returns the notes for the client (`rampart`)."""
        route = exchange.require_route()
        pipeline = exchange.runtime.pipeline_for(exchange.tenant)
        notes: dict[str, Any] = {}
        if exchange.degraded:
            notes.update(degraded=True, fallback=exchange.fallback)
        notes.update(flagged_input_notes(exchange))
        flagged: list[str] = []
        for item in output_texts(route.kind, answer):
            result = pipeline.scan_output(item.text)
            record_scan(self._metrics, exchange, result)
            if result.blocked:
                exchange.blocked_by = result.blocked_by
                write_text(answer, item.path, "")
                if route.kind == "chat":
                    answer["choices"][item.path[1]]["finish_reason"] = "content_filter"
                notes["blocked"] = {"scanner": result.blocked_by, "reason": result.reason}
            elif result.text != item.text:
                write_text(answer, item.path, result.text)
            # A redaction outranks a flag in `result.action`; the flag still goes to review.
            if not result.blocked:
                flagged.extend(result.flagged_by)
        if flagged:
            answer_texts = [item.text for item in output_texts(route.kind, answer)]
            review_id = self._review.enqueue(
                exchange, "flagged_output", {"answer": answer_texts, "flagged_by": flagged}
            )
            notes.update(flagged=True, review_id=review_id)
        return notes

    def _observe_embeddings(self, answer: dict[str, Any], model: str) -> None:
        """Drift of the vectors `model` returned, in their own space (services/gateway/drift.py)."""
        space = model_space(model)
        for item in answer.get("data") or []:
            vector = decode_embedding(item.get("embedding")) if isinstance(item, dict) else None
            if vector is not None and vector.size:
                self._drift.observe_embedding(vector, space)
        self._metrics.centroid_shift.labels(space).set(self._drift.centroid_shift(space))
