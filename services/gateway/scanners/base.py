"""The types every scanner and the gateway share: actions, findings, verdicts, pipeline results.

A scanner looks at one piece of text (a prompt on the way in, a model answer on the way out)
and returns a `Verdict`: what it would do (`Action`), why, where in the text it saw something
(`Finding` spans, in the coordinates of the text it was given) and, for redacting scanners, the
text with those spans replaced. The pipeline (`pipeline.py`) decides what actually happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

__all__ = [
    "Action",
    "Finding",
    "PipelineResult",
    "Scanner",
    "ScannerError",
    "Stage",
    "Verdict",
]

# "third_party": content the client relays but did not write (tool results), scanned as input too.
Stage = Literal["input", "third_party", "output"]


class Action(StrEnum):
    """What a verdict asks for. Ordered by severity: BLOCK > REDACT > FLAG > ALLOW."""

    ALLOW = "allow"
    BLOCK = "block"
    REDACT = "redact"
    FLAG = "flag"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Action.ALLOW: 0, Action.FLAG: 1, Action.REDACT: 2, Action.BLOCK: 3}


@dataclass(frozen=True)
class Finding:
    """One thing a scanner found: its kind ("email", "aws_access_key", "injection") and where.

    `start`/`end` are character offsets into the text the scanner was given (end exclusive);
    a finding about the whole text (a toxicity score) spans all of it. `score` is in [0, 1].
    """

    kind: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Verdict:
    """One scanner's answer for one text.

    `action` is what the scanner asks for (ALLOW when it found nothing). `redacted_text` is set
    only when the action is REDACT. `shadow` verdicts are recorded but never enforced.
    """

    scanner: str
    action: Action
    reason: str
    findings: tuple[Finding, ...]
    redacted_text: str | None
    latency_ms: float
    shadow: bool = False


class Scanner(Protocol):
    """A scanner: a name, the stage it runs at, and a pure `scan` (no I/O, no shared state)."""

    name: str
    stage: Stage

    def scan(self, text: str) -> Verdict: ...


@dataclass(frozen=True)
class ScannerError:
    """A scanner that raised: its name and the error, as recorded (never the text scanned)."""

    scanner: str
    error: str


@dataclass(frozen=True)
class PipelineResult:
    """What the pipeline decided for one text (or, when streaming, for the text so far).

    `action` is the most severe enforced action (shadow verdicts never count); `text` is the
    text to pass on, with every enforced redaction applied. `blocked_by` names the scanner
    that blocked (or failed closed). When streaming, `text` only ever grows: it is the redacted
    text that is final so far, and `new_text` is what this call added to it.
    """

    stage: Stage
    action: Action
    text: str
    verdicts: tuple[Verdict, ...]
    blocked_by: str | None = None
    errors: tuple[ScannerError, ...] = ()
    new_text: str = ""
    embedding: Sequence[float] | None = field(default=None, compare=False, repr=False)
    """The prompt embedding a semantic scanner computed for this text, if one did (drift monitoring reuses it)."""

    @property
    def blocked(self) -> bool:
        return self.action is Action.BLOCK

    @property
    def flagged_by(self) -> list[str]:
        """The scanners whose enforced (not shadow) verdict is a flag: what goes to human review."""
        return [verdict.scanner for verdict in self.verdicts if verdict.action is Action.FLAG and not verdict.shadow]

    @property
    def reason(self) -> str:
        """The blocking verdict's reason, or "" when nothing blocked."""
        for verdict in self.verdicts:
            if verdict.scanner == self.blocked_by and verdict.action is Action.BLOCK:
                return verdict.reason
        return ""

    @property
    def latency_ms(self) -> float:
        return sum(verdict.latency_ms for verdict in self.verdicts)
