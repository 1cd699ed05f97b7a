"""Runs the configured scanners in order and decides what happens to the text.

Input and output are scanned the same way: each enabled scanner sees the text as the previous
ones left it (redactions chain), the first enforced BLOCK stops the run, shadow scanners only
record, and a scanner that raises is handled by `on_error`. Streamed output goes through
`StreamScanner`, which rescans a sliding window so that a secret split across chunks is caught
before any part of it is released.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeGuard

from services.gateway.scanners.addressee import load_request_addressee
from services.gateway.scanners.base import (
    Action,
    Finding,
    PipelineResult,
    Scanner,
    ScannerError,
    Stage,
    Verdict,
)
from services.gateway.scanners.config import ScannersConfig, ScannerSettings
from services.gateway.scanners.findings import placeholder, redact
from services.gateway.scanners.harm_in_content import HarmInContent
from services.gateway.scanners.harmful import HarmfulRequestScanner
from services.gateway.scanners.indirect import IndirectInjectionScanner
from services.gateway.scanners.injection import PromptInjectionScanner
from services.gateway.scanners.leakage import SystemPromptLeakageScanner
from services.gateway.scanners.pii import PiiScanner
from services.gateway.scanners.secrets import SecretsScanner
from services.gateway.scanners.semantic import ContextScanner, TextContext, load_semantic_models
from services.gateway.scanners.toxicity import ToxicityScanner
from services.gateway.scanners.unicode import InvisibleUnicodeScanner, OversizeScanner

__all__ = [
    "SCANNER_FACTORIES",
    "STREAM_HOLDBACK_CHARS",
    "STREAM_MIN_RELEASE_CHARS",
    "ScannerPipeline",
    "StreamScanner",
    "build_scanner",
    "run_scanner",
]

ScannerFactory = Callable[[Stage, ScannerSettings, ScannersConfig], Scanner]

# The one place a fork registers a scanner: its name (as used in config) and how to build it.
SCANNER_FACTORIES: dict[str, ScannerFactory] = {
    "oversize": lambda stage, settings, config: OversizeScanner(stage, settings, config.max_chars),
    "invisible_unicode": lambda stage, settings, config: InvisibleUnicodeScanner(stage, settings),
    "secrets": lambda stage, settings, config: SecretsScanner(stage, settings),
    "pii": lambda stage, settings, config: PiiScanner(stage, settings),
    "prompt_injection": lambda stage, settings, config: PromptInjectionScanner(
        stage,
        settings,
        semantic=load_semantic_models() if config.semantic.enabled else None,
        gated=config.semantic.gate,
    ),
    "harmful_request": lambda stage, settings, config: HarmfulRequestScanner(
        stage, settings, load_semantic_models(), gated=config.semantic.gate
    ),
    "indirect_injection": lambda stage, settings, config: IndirectInjectionScanner(
        stage,
        settings,
        load_request_addressee() if config.semantic.enabled else None,
        HarmInContent(load_semantic_models(), gated=config.semantic.gate) if config.semantic.enabled else None,
    ),
    "toxicity": lambda stage, settings, config: ToxicityScanner(stage, settings),
    "system_prompt_leakage": lambda stage, settings, config: SystemPromptLeakageScanner(
        stage, settings, config.system_prompt
    ),
}

# Streaming: text within this many characters of the end of what has arrived is held back,
# because a finding that starts there may not be complete (or recognisable) yet.
STREAM_HOLDBACK_CHARS = 256
# Rescanning costs the same for one new character as for a hundred: wait until this many
# characters could be released before scanning again (nothing is released unscanned).
STREAM_MIN_RELEASE_CHARS = 64


def build_scanner(name: str, stage: Stage, settings: ScannerSettings, config: ScannersConfig) -> Scanner:
    """Build one configured scanner by its registered name."""
    try:
        factory = SCANNER_FACTORIES[name]
    except KeyError:
        raise ValueError(f"{stage}.{name}: no scanner registered under this name") from None
    return factory(stage, settings, config)


@dataclass(frozen=True)
class _Configured:
    scanner: Scanner
    shadow: bool


class ScannerPipeline:
    """The input and output scanners of one configuration, ready to run."""

    def __init__(
        self,
        config: ScannersConfig,
        inputs: list[_Configured],
        third_party: list[_Configured],
        outputs: list[_Configured],
    ):
        self.config = config
        self._inputs = inputs
        self._third_party = third_party
        self._outputs = outputs

    @classmethod
    def from_config(cls, config: ScannersConfig) -> ScannerPipeline:
        def build(stage: Stage, scanners: dict[str, ScannerSettings]) -> list[_Configured]:
            return [
                _Configured(build_scanner(name, stage, settings, config), settings.shadow)
                for name, settings in scanners.items()
                if settings.enabled
            ]

        return cls(
            config,
            build("input", config.input),
            build("third_party", config.third_party),
            build("output", config.output),
        )

    @property
    def input_scanners(self) -> tuple[str, ...]:
        return tuple(entry.scanner.name for entry in self._inputs)

    def scan_input(self, text: str, *, third_party: bool = False) -> PipelineResult:
        """Scan a text the client sends; `third_party` content (a tool result) also meets the third-party scanners."""
        if third_party:
            return self._run("third_party", self._inputs + self._third_party, text)
        return self._run("input", self._inputs, text)

    def scan_output(self, text: str) -> PipelineResult:
        return self._run("output", self._outputs, text)

    def output_stream(self) -> StreamScanner:
        """A scanner for one streamed answer (one per response; not shared between requests)."""
        return StreamScanner(self._outputs, self.config.on_error)

    def _run(self, stage: Stage, scanners: list[_Configured], text: str) -> PipelineResult:
        verdicts: list[Verdict] = []
        errors: list[ScannerError] = []
        action = Action.ALLOW
        # One context per text as the scanners see it: the semantic scanners share its embedding. The
        # classifiers that read it judge the text without the marks this pipeline's redactors put in
        # (`[PERSON]`, `[EMAIL]`, ...): they were trained and are evaluated on text as people write it, and
        # the marks alone pushed plain prompts toward the attack models.
        marks: set[str] = set()
        third_party = stage == "third_party"
        context = TextContext(text, third_party=third_party)
        embedding: tuple[float, ...] | None = None
        for entry in scanners:
            judged = _without(text, marks)
            if context.text != judged:
                context = TextContext(judged, third_party=third_party)
            outcome = run_scanner(entry.scanner, entry.shadow, text, context)
            if context.embedding is not None:
                embedding = tuple(context.embedding.tolist())
            if isinstance(outcome, ScannerError):
                errors.append(outcome)
                if self.config.on_error == "fail_closed":
                    verdicts.append(_failed_closed(entry.scanner.name))
                    blocked_by = entry.scanner.name
                    return PipelineResult(
                        stage, Action.BLOCK, text, tuple(verdicts), blocked_by, tuple(errors), embedding=embedding
                    )
                continue
            verdicts.append(outcome)
            if outcome.shadow or outcome.action is Action.ALLOW:
                continue
            if outcome.action is Action.BLOCK:
                return PipelineResult(
                    stage, Action.BLOCK, text, tuple(verdicts), outcome.scanner, tuple(errors), embedding=embedding
                )
            if outcome.action is Action.REDACT and outcome.redacted_text is not None:
                text = outcome.redacted_text
                marks.update(placeholder(finding, "") for finding in outcome.findings)
            if outcome.action.severity > action.severity:
                action = outcome.action
        return PipelineResult(stage, action, text, tuple(verdicts), None, tuple(errors), embedding=embedding)


def _without(text: str, marks: set[str]) -> str:
    for mark in marks:
        text = text.replace(mark, "")
    return text


def run_scanner(
    scanner: Scanner, shadow: bool, text: str, context: TextContext | None = None
) -> Verdict | ScannerError:
    """One scanner's verdict (marked shadow when configured so), or the error it raised."""
    started = time.perf_counter()
    try:
        verdict = scanner.scan_in(context) if context is not None and _reads_context(scanner) else scanner.scan(text)
    except Exception as error:
        return ScannerError(scanner.name, f"{type(error).__name__}: {error}")
    latency_ms = verdict.latency_ms if verdict.latency_ms > 0.0 else (time.perf_counter() - started) * 1000.0
    return replace(verdict, shadow=shadow, latency_ms=latency_ms)


# Whether each scanner class is a `ContextScanner`, asked once per class: `isinstance` against a
# runtime-checkable protocol walks the protocol's members on every call (Python 3.11), which cost
# about 0.3 ms per request across the pipeline's scanners.
_CONTEXT_SCANNER_CLASSES: dict[type, bool] = {}


def _reads_context(scanner: Scanner) -> TypeGuard[ContextScanner]:
    kind = type(scanner)
    if kind not in _CONTEXT_SCANNER_CLASSES:
        _CONTEXT_SCANNER_CLASSES[kind] = isinstance(scanner, ContextScanner)
    return _CONTEXT_SCANNER_CLASSES[kind]


def _failed_closed(scanner: str) -> Verdict:
    return Verdict(scanner, Action.BLOCK, f"scanner {scanner} failed", (), None, 0.0)


class StreamScanner:
    """Scans a streamed answer as chunks arrive and releases only text that is final.

    Every `feed` rescans the text not yet released (at most the hold-back window plus the new
    chunk) with each output scanner on the raw text, so a finding's span is in raw coordinates.
    Text is released up to `STREAM_HOLDBACK_CHARS` before the end of what has arrived, never
    inside a finding, with enforced redactions applied. Once a scanner blocks, the stream stays
    blocked: nothing more is released, and the caller ends the stream with a final event.
    """

    def __init__(self, scanners: list[_Configured], on_error: str):
        self._scanners = scanners
        self._on_error = on_error
        self._raw = ""
        self._released_upto = 0
        self._released: list[str] = []
        self._blocked: PipelineResult | None = None
        self._action = Action.ALLOW  # the most severe enforced action over the whole stream

    @property
    def text(self) -> str:
        """The redacted text released so far."""
        return "".join(self._released)

    def feed(self, chunk: str) -> PipelineResult:
        """Add a chunk; the result's `new_text` is what may be sent on now."""
        if self._blocked is not None:
            return self._blocked
        self._raw += chunk
        if len(self._raw) - self._released_upto < STREAM_HOLDBACK_CHARS + STREAM_MIN_RELEASE_CHARS:
            return PipelineResult("output", self._action, self.text, ())
        return self._scan(final=False)

    def finish(self) -> PipelineResult:
        """The stream has ended: scan and release everything still held back."""
        if self._blocked is not None:
            return self._blocked
        return self._scan(final=True)

    def _scan(self, final: bool) -> PipelineResult:
        window = self._raw[self._released_upto :]
        verdicts: list[Verdict] = []
        errors: list[ScannerError] = []
        redactions: list[Finding] = []
        action = Action.ALLOW
        for entry in self._scanners:
            outcome = run_scanner(entry.scanner, entry.shadow, window)
            if isinstance(outcome, ScannerError):
                errors.append(outcome)
                if self._on_error == "fail_closed":
                    verdicts.append(_failed_closed(entry.scanner.name))
                    return self._block(verdicts, entry.scanner.name, errors)
                continue
            verdicts.append(outcome)
            if outcome.shadow or outcome.action is Action.ALLOW:
                continue
            if outcome.action is Action.BLOCK:
                return self._block(verdicts, outcome.scanner, errors)
            if outcome.action is Action.REDACT:
                redactions += outcome.findings
            if outcome.action.severity > action.severity:
                action = outcome.action
        cut = len(window) if final else _safe_cut(window, redactions)
        released = redact(window[:cut], [f for f in redactions if f.end <= cut])
        self._released_upto += cut
        self._released.append(released)
        if action.severity > self._action.severity:
            self._action = action
        return PipelineResult("output", self._action, self.text, tuple(verdicts), None, tuple(errors), released)

    def _block(self, verdicts: list[Verdict], scanner: str, errors: list[ScannerError]) -> PipelineResult:
        self._blocked = PipelineResult("output", Action.BLOCK, self.text, tuple(verdicts), scanner, tuple(errors))
        return self._blocked


def _safe_cut(window: str, findings: list[Finding]) -> int:
    """The furthest point that is at least the hold-back before the end and inside no finding."""
    cut = max(0, len(window) - STREAM_HOLDBACK_CHARS)
    moved = True
    while moved:
        moved = False
        for finding in findings:
            if finding.start < cut < finding.end:
                cut = finding.start
                moved = True
    return cut
