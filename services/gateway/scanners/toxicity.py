"""Toxicity: a linear model over word and character n-grams (slurs, insults, threats).

Character n-grams catch the usual obfuscations ("f*cking", "idi0t") that a word list misses.
Trained by `train.py`; scores the whole text.
"""

from __future__ import annotations

import time
from pathlib import Path

from services.gateway.scanners.base import Finding, Stage, Verdict
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.findings import verdict_from_findings
from services.gateway.scanners.textmodel import LinearTextModel, features

__all__ = ["TOXICITY_MODEL_PATH", "ToxicityScanner"]

TOXICITY_MODEL_PATH = Path(__file__).parent / "models" / "toxicity.json"


class ToxicityScanner:
    name = "toxicity"

    def __init__(self, stage: Stage, settings: ScannerSettings, model_path: Path = TOXICITY_MODEL_PATH):
        self.stage: Stage = stage
        self.settings = settings
        self.model = LinearTextModel.load(model_path)

    def score(self, text: str) -> float:
        return self.model.probability(features(text))

    def scan(self, text: str) -> Verdict:
        started = time.perf_counter()
        finding = Finding("toxicity", 0, len(text), round(self.score(text), 4))
        return verdict_from_findings(self.name, self.settings, text, [finding], started)
