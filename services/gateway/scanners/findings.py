"""Turning findings into a verdict and a redacted text: the part every span scanner shares."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from services.gateway.scanners.base import Action, Finding, Stage, Verdict
from services.gateway.scanners.config import ScannerSettings

__all__ = ["SpanScanner", "merge_spans", "placeholder", "redact", "verdict_from_findings"]


def placeholder(finding: Finding, original: str) -> str:
    """The default replacement: the finding's kind, so a reader still knows what was there."""
    return f"[{finding.kind.upper()}]"


def merge_spans(findings: Iterable[Finding]) -> list[Finding]:
    """Findings sorted by start with overlaps folded into the earliest (its kind wins)."""
    merged: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.start, -f.end)):
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            if finding.end > last.end:
                merged[-1] = Finding(last.kind, last.start, finding.end, max(last.score, finding.score))
            continue
        merged.append(finding)
    return merged


def redact(
    text: str,
    findings: Iterable[Finding],
    replacement: Callable[[Finding, str], str] = placeholder,
) -> str:
    """`text` with every finding's span replaced; overlapping spans are replaced once."""
    parts: list[str] = []
    position = 0
    for finding in merge_spans(findings):
        parts.append(text[position : finding.start])
        parts.append(replacement(finding, text[finding.start : finding.end]))
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)


def verdict_from_findings(
    scanner: str,
    settings: ScannerSettings,
    text: str,
    findings: Iterable[Finding],
    started: float,
    replacement: Callable[[Finding, str], str] = placeholder,
) -> Verdict:
    """The verdict for the findings at or above the threshold, with the configured action (a block
    when a finding reaches `block_threshold`)."""
    kept = tuple(f for f in findings if f.score >= settings.threshold)
    if not kept:
        return Verdict(scanner, Action.ALLOW, "nothing found", (), None, _elapsed_ms(started))
    kinds = ", ".join(sorted({f.kind for f in kept}))
    sure = settings.block_threshold is not None and any(f.score >= settings.block_threshold for f in kept)
    action = Action.BLOCK if sure else settings.action
    redacted = redact(text, kept, replacement) if action is Action.REDACT else None
    return Verdict(scanner, action, f"found {kinds}", kept, redacted, _elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class SpanScanner:
    """Base for scanners whose work is finding spans: subclasses implement `find`."""

    name = "span"

    def __init__(self, stage: Stage, settings: ScannerSettings):
        self.stage: Stage = stage
        self.settings = settings

    def find(self, text: str) -> list[Finding]:
        raise NotImplementedError

    def replacement(self, finding: Finding, original: str) -> str:
        return placeholder(finding, original)

    def scan(self, text: str) -> Verdict:
        started = time.perf_counter()
        return verdict_from_findings(self.name, self.settings, text, self.find(text), started, self.replacement)
