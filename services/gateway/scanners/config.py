"""Typed scanner configuration, as it appears under `scanners:` in the gateway's YAML.

Each stage (`input`, `third_party`, `output`) is an ordered mapping from scanner name to its
settings; the pipeline runs the enabled ones in that order. Third-party content (`tool` messages)
goes through the input scanners and then the `third_party` ones. Leaving a stage out keeps the defaults below;
writing it replaces them, so a stage lists exactly the scanners it runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.gateway.scanners.base import Action

__all__ = [
    "INPUT_SCANNERS",
    "OUTPUT_SCANNERS",
    "THIRD_PARTY_SCANNERS",
    "ScannerSettings",
    "ScannersConfig",
    "SemanticSettings",
]

INPUT_SCANNERS = ("oversize", "invisible_unicode", "secrets", "pii", "prompt_injection", "harmful_request", "toxicity")
THIRD_PARTY_SCANNERS = ("indirect_injection",)
OUTPUT_SCANNERS = ("secrets", "pii", "toxicity", "system_prompt_leakage")


class ScannerSettings(BaseModel):
    """How one scanner is enforced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """A disabled scanner does not run at all."""
    action: Action
    """What happens when the scanner fires: block, redact (scanners with spans only) or flag."""
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """Score at or above which the scanner fires. Meaning per scanner: docs/safety.md."""
    block_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """Score at or above which a flag or redaction becomes a block: the sure cases are refused and
    the uncertain band between `threshold` and this gets `action` (a flag goes to human review)."""
    shadow: bool = False
    """A shadow scanner runs and records its verdict but never blocks or redacts."""

    @field_validator("action")
    @classmethod
    def _action_is_enforceable(cls, action: Action) -> Action:
        if action is Action.ALLOW:
            raise ValueError("action: must be block, redact or flag (disable the scanner instead)")
        return action

    @model_validator(mode="after")
    def _block_threshold_above_threshold(self) -> ScannerSettings:
        if self.block_threshold is None:
            return self
        if self.action is Action.BLOCK:
            raise ValueError("block_threshold: only for action flag or redact (action block already blocks)")
        if self.block_threshold < self.threshold:
            raise ValueError(f"block_threshold: {self.block_threshold} is below threshold {self.threshold}")
        return self


def _default_input() -> dict[str, ScannerSettings]:
    return {
        "oversize": ScannerSettings(action=Action.BLOCK),
        "invisible_unicode": ScannerSettings(action=Action.REDACT),
        "secrets": ScannerSettings(action=Action.REDACT),
        "pii": ScannerSettings(action=Action.REDACT),
        "prompt_injection": ScannerSettings(action=Action.BLOCK),
    }


def _default_third_party() -> dict[str, ScannerSettings]:
    # Redact, not block: a request in a document is cut out and the rest of it still reaches the model.
    return {"indirect_injection": ScannerSettings(action=Action.REDACT)}


def _default_output() -> dict[str, ScannerSettings]:
    return {
        "secrets": ScannerSettings(action=Action.REDACT),
        "pii": ScannerSettings(action=Action.REDACT),
        "toxicity": ScannerSettings(action=Action.FLAG),
        "system_prompt_leakage": ScannerSettings(action=Action.BLOCK),
    }


class SemanticSettings(BaseModel):
    """The embedding-based part of the scanners (models/MODEL_CARD.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """`prompt_injection` also consults the attack head on the MiniLM embedding; `harmful_request` needs this."""
    gate: bool = True
    """Embed only texts the lexical pre-check (`prompt_risk`) finds risky; off: embed every text
    (every input then feeds drift monitoring, at tens of milliseconds per text on one core)."""


class ScannersConfig(BaseModel):
    """All scanner settings for one environment (or tenant)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_error: Literal["fail_closed", "fail_open"] = "fail_closed"
    """A scanner that raises blocks the request (fail_closed) or is skipped and recorded (fail_open)."""
    max_chars: int = Field(default=32_000, gt=0)
    """The oversize scanner blocks input longer than this many characters."""
    system_prompt: str = ""
    """The system prompt whose verbatim leakage the output scanner looks for ("" disables it)."""
    semantic: SemanticSettings = SemanticSettings()
    """Semantic scoring on the shared prompt embedding."""
    input: dict[str, ScannerSettings] = Field(default_factory=_default_input)
    """Input scanners in the order they run."""
    third_party: dict[str, ScannerSettings] = Field(default_factory=_default_third_party)
    """Scanners that run, after the input ones, on content the client relays: `tool` messages."""
    output: dict[str, ScannerSettings] = Field(default_factory=_default_output)
    """Output scanners in the order they run."""

    @field_validator("input")
    @classmethod
    def _known_input_scanners(cls, scanners: dict[str, ScannerSettings]) -> dict[str, ScannerSettings]:
        return _check_names("input", scanners, INPUT_SCANNERS)

    @model_validator(mode="after")
    def _semantic_scanners_need_embeddings(self) -> ScannersConfig:
        if not self.semantic.enabled and "harmful_request" in self.input and self.input["harmful_request"].enabled:
            raise ValueError("input.harmful_request: needs semantic.enabled (it scores the prompt embedding)")
        return self

    @field_validator("third_party")
    @classmethod
    def _known_third_party_scanners(cls, scanners: dict[str, ScannerSettings]) -> dict[str, ScannerSettings]:
        return _check_names("third_party", scanners, THIRD_PARTY_SCANNERS)

    @field_validator("output")
    @classmethod
    def _known_output_scanners(cls, scanners: dict[str, ScannerSettings]) -> dict[str, ScannerSettings]:
        return _check_names("output", scanners, OUTPUT_SCANNERS)


def _check_names(
    stage: str, scanners: dict[str, ScannerSettings], known: tuple[str, ...]
) -> dict[str, ScannerSettings]:
    for name in scanners:
        if name not in known:
            raise ValueError(f"{stage}.{name}: unknown scanner; known {stage} scanners: {', '.join(known)}")
    return scanners
