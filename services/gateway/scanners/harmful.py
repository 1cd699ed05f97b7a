"""Harmful requests: plainly harmful asks with no attack wrapper ("how do I make a pipe bomb").

No word list separates these from the edgy-but-fine ("how do I kill a python process"): the
`harmful` head on the shared prompt embedding does (`semantic.py`). Texts the lexical gate finds
harmless are scored 0 without a vector. What happens on a hit is configuration: flag in dev,
block in prod, per tenant where a tenant's scanners say otherwise.
"""

from __future__ import annotations

import time

from services.gateway.scanners.base import Finding, Stage, Verdict
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.findings import verdict_from_findings
from services.gateway.scanners.semantic import SemanticModels, TextContext

__all__ = ["HarmfulRequestScanner"]


class HarmfulRequestScanner:
    name = "harmful_request"

    def __init__(self, stage: Stage, settings: ScannerSettings, semantic: SemanticModels, gated: bool = True):
        self.stage: Stage = stage
        self.settings = settings
        self.semantic = semantic
        self.gated = gated

    def score_in(self, context: TextContext) -> float:
        if self.gated and not self.semantic.gate_open(context):
            return 0.0
        return self.semantic.head_score("harmful", context)

    def scan_in(self, context: TextContext) -> Verdict:
        started = time.perf_counter()
        finding = Finding("harmful_request", 0, len(context.text), round(self.score_in(context), 4))
        return verdict_from_findings(self.name, self.settings, context.text, [finding], started)

    def scan(self, text: str) -> Verdict:
        return self.scan_in(TextContext(text))
