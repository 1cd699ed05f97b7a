"""System-prompt leakage: the answer repeats a run of the system prompt's words.

The system prompt is cut into overlapping 6-word shingles once; an answer leaks when it contains
enough of them, in any order. Score = the share of the system prompt's shingles present (so
threshold 0.5 means half the prompt came back); any run of 3 consecutive shingles (8 words
verbatim) scores at least 0.6 so a quoted sentence of a long prompt still counts.
"""

from __future__ import annotations

import itertools
import re
import time

from services.gateway.scanners.base import Action, Finding, Stage, Verdict
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.findings import verdict_from_findings

__all__ = ["SystemPromptLeakageScanner"]

SHINGLE_WORDS = 6
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[re.Match[str]]:
    return list(_WORD.finditer(text.lower()))


class SystemPromptLeakageScanner:
    name = "system_prompt_leakage"

    def __init__(self, stage: Stage, settings: ScannerSettings, system_prompt: str):
        self.stage: Stage = stage
        self.settings = settings
        words = [match.group() for match in _words(system_prompt)]
        self._shingles = {tuple(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}

    def scan(self, text: str) -> Verdict:
        started = time.perf_counter()
        if not self._shingles:
            return Verdict(self.name, Action.ALLOW, "no system prompt configured", (), None, 0.0)
        matches = _words(text)
        words = [match.group() for match in matches]
        hits = [
            i for i in range(len(words) - SHINGLE_WORDS + 1) if tuple(words[i : i + SHINGLE_WORDS]) in self._shingles
        ]
        if not hits:
            return verdict_from_findings(self.name, self.settings, text, [], started)
        share = len({tuple(words[i : i + SHINGLE_WORDS]) for i in hits}) / len(self._shingles)
        longest_run = _longest_consecutive_run(hits)
        score = max(share, 0.6 if longest_run >= 3 else 0.0)
        start = matches[hits[0]].start()
        end = matches[hits[-1] + SHINGLE_WORDS - 1].end()
        finding = Finding("system_prompt", start, end, round(min(1.0, score), 4))
        return verdict_from_findings(self.name, self.settings, text, [finding], started)


def _longest_consecutive_run(positions: list[int]) -> int:
    longest = current = 1
    for previous, position in itertools.pairwise(positions):
        current = current + 1 if position == previous + 1 else 1
        longest = max(longest, current)
    return longest
