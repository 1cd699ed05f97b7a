"""Input scanning: every text of the request meets the tenant's input scanners before any model does.

Tool results (third-party content) meet the third-party stage too. When a semantic
scanner embedded a text, drift monitoring observes that same vector (one embedding per text).
A blocking verdict refuses the request (400, naming the field); redactions are written back
into the payload the model gets; a flag lets the request through and puts its prompt, as the
scanners left it, on the review queue (`flagged_input`), where a person reads it.
`record_scan` is how every stage (input, output, stream) keeps its verdicts: as metrics and as
kinds and counts on the exchange, never the text.
"""

from __future__ import annotations

from services.gateway.drift import DriftTracker, input_space
from services.gateway.errors import InputBlockedError
from services.gateway.exchange import Exchange, VerdictRecord
from services.gateway.metrics import GatewayMetrics
from services.gateway.payloads import write_text
from services.gateway.review_handoff import ReviewHandoff
from services.gateway.scanners import Action, PipelineResult

__all__ = ["InputScanning", "record_scan"]


class InputScanning:
    def __init__(self, metrics: GatewayMetrics, review: ReviewHandoff, drift: DriftTracker | None = None) -> None:
        self._metrics = metrics
        self._review = review
        self._drift = drift

    def __call__(self, exchange: Exchange) -> None:
        pipeline = exchange.runtime.pipeline_for(exchange.tenant)
        flagged: list[str] = []
        for item in exchange.texts:
            result = pipeline.scan_input(item.text, third_party=item.third_party)
            record_scan(self._metrics, exchange, result)
            if result.embedding is not None and self._drift is not None:
                # The vector the semantic scanners computed: drift reuses it rather than embedding again.
                space = input_space(exchange.route.kind if exchange.route else "unrouted", third_party=item.third_party)
                self._drift.observe_embedding(result.embedding, space)
                self._metrics.centroid_shift.labels(space).set(self._drift.centroid_shift(space))
            if result.blocked:
                exchange.blocked_by = result.blocked_by
                raise InputBlockedError(
                    f"{item.field}: blocked by scanner {result.blocked_by!r}: {result.reason}",
                    field=item.field, scanner=result.blocked_by, reason=result.reason,
                )
            if result.text != item.text:
                write_text(exchange.payload, item.path, result.text)
            flagged.extend(result.flagged_by)
        if flagged:
            # After every text is scanned, so the reviewer sees the prompt with its redactions.
            exchange.flagged_input = sorted(set(flagged))
            self._review.enqueue(exchange, "flagged_input", {"flagged_by": exchange.flagged_input})


def record_scan(metrics: GatewayMetrics, exchange: Exchange, result: PipelineResult) -> None:
    for verdict in result.verdicts:
        shadow = str(verdict.shadow).lower()
        metrics.verdicts.labels(verdict.scanner, result.stage, verdict.action.value, shadow).inc()
        metrics.scanner_latency.labels(verdict.scanner, result.stage).observe(verdict.latency_ms / 1000)
        kinds: dict[str, int] = {}
        for finding in verdict.findings:
            kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
        exchange.verdicts.append(VerdictRecord(
            scanner=verdict.scanner, stage=result.stage, action=verdict.action.value, shadow=verdict.shadow,
            reason=verdict.reason, findings=kinds, latency_ms=round(verdict.latency_ms, 3),
        ))
        if verdict.action is Action.REDACT and not verdict.shadow:
            for kind, count in kinds.items():
                exchange.redactions[kind] = exchange.redactions.get(kind, 0) + count
    for error in result.errors:
        metrics.scanner_errors.labels(error.scanner, result.stage).inc()
        exchange.verdicts.append(VerdictRecord(scanner=error.scanner, stage=result.stage, error=error.error))
