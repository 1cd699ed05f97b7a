"""Toxicity: a linear model over word and character n-grams (slurs, insults, threats).

Character n-grams catch the usual obfuscations ("f*cking", "idi0t") that a word list misses.
Trained by `train.py`; scores the whole text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

from services.gateway.scanners.base import Finding, Stage, Verdict
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.findings import verdict_from_findings
from services.gateway.scanners.semantic import TextContext
from services.gateway.scanners.textmodel import LinearTextModel, features

__all__ = ["TOXICITY_MODEL_PATH", "ToxicityScanner", "toxicity_patterns"]

TOXICITY_MODEL_PATH = Path(__file__).parent / "models" / "toxicity.json"


_INSULT = (
    r"idiot|moron|imbecile|stupid|dumb(?:ass)?|retard(?:ed)?|loser|worthless|pathetic|scum|trash|garbage|bitch|bastard"
    r"|asshole|jerk|dickhead|dick|prick|cunt|whore|slut|twat|wanker|fool|clown|freak|pig|dog|vermin|parasite"
)
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))  # matched against lower-cased text
    for name, pattern in (
        ("insult_word", rf"\b(?:{_INSULT})s?\b"),
        (
            "insult_addressed",
            rf"\b(?:you(?:'re| are)?|ur|u r)\s+(?:a |an |such an? |so |the )?(?:\w+ ){{0,2}}(?:{_INSULT})s?\b",
        ),
        ("profanity", r"\b(?:f+u+c+k+\w*|f[*@#]+k\w*|sh[i!1*]t\w*|crap|damn|piss\w*|wtf|stfu|bullshit)\b"),
        (
            "threat",
            r"\b(?:kill|hurt|beat|shoot|stab|destroy|rape)\s+(?:you|u|him|her|them|yourself)\b|\bi(?:'ll| will) (?:find|kill|hurt) you\b|\bkys\b",
        ),
        (
            "dehumanise",
            r"\b(?:should (?:all )?(?:be|get) (?:killed|shot|deported|locked up|gassed|exterminated)|go back to (?:your|their) (?:country|cave))\b",
        ),
        ("shut_up", r"\bshut (?:the \w+ )?up\b"),
    )
)


def toxicity_patterns(text: str) -> Iterator[str]:
    """Names of insult, profanity and threat patterns in `text` (model features, not verdicts)."""
    lowered = text.lower()
    for name, pattern in _PATTERNS:
        if pattern.search(lowered):
            yield name


class ToxicityScanner:
    name = "toxicity"

    def __init__(self, stage: Stage, settings: ScannerSettings, model_path: Path = TOXICITY_MODEL_PATH):
        self.stage: Stage = stage
        self.settings = settings
        self.model = LinearTextModel.load(model_path)

    def score(self, text: str) -> float:
        return self.model.probability(features(text, toxicity_patterns))

    def scan_in(self, context: TextContext) -> Verdict:
        """Scores the text as the pipeline's other classifiers read it, without the redactors' marks
        (`[PERSON]`): they are not the writer's words, and the n-gram vector is then the one
        `prompt_injection` already computed for the same request."""
        started = time.perf_counter()
        finding = Finding("toxicity", 0, len(context.text), round(self.score(context.text), 4))
        return verdict_from_findings(self.name, self.settings, context.text, [finding], started)

    def scan(self, text: str) -> Verdict:
        return self.scan_in(TextContext(text))
