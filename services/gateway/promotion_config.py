"""The promotion controller's settings: the gateway config's `promotion:` block."""

from __future__ import annotations

from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["PromotionConfig", "PromotionGates"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromotionGates(_Strict):
    """What a candidate must hold, against the stable version over the same window, to move on."""

    min_requests: int = Field(default=20, ge=1)
    """Candidate requests the window needs before any verdict but a rollback on a hard failure."""
    max_error_rate_increase: float = Field(default=0.02, ge=0, le=1)
    """Candidate error rate may exceed stable's by at most this (absolute, 0.02 = 2 points)."""
    p99_latency_slo_ms: float = Field(default=5000.0, gt=0)
    """The candidate's p99 latency must stay under the SLO."""
    max_flag_rate_increase: float = Field(default=0.05, ge=0, le=1)
    """Safety blocks and flags on the candidate's answers may exceed stable's rate by at most this."""
    max_feedback_drop: float = Field(default=0.5, ge=0, le=2)
    """The candidate's mean feedback rating (-1..+1) may be at most this much below stable's."""
    min_shadow_agreement: float = Field(default=0.0, ge=0, le=1)
    """When the candidate was shadowed: the share of comparisons that agreed must be at least this."""
    min_eval_score: float = Field(default=0.0, ge=0, le=1)
    """The candidate's evaluation-suite score given at start must be at least this."""


class PromotionConfig(_Strict):
    steps: tuple[float, ...] = (5.0, 25.0, 50.0, 100.0)
    """The candidate's share of traffic at each step, in percent, ending at 100."""
    window_s: float = Field(default=60.0, gt=0)
    """Each step lasts at least this long; its gates are measured over this window."""
    check_interval_s: float = Field(default=5.0, gt=0)
    """How often the leader looks at the gates (a broken gate rolls back at the next look)."""
    lease_ttl_s: float = Field(default=15.0, gt=0)
    """The leader's lease; another replica takes over this long after the leader stops renewing it."""
    gates: PromotionGates = PromotionGates()

    @field_validator("steps")
    @classmethod
    def _increasing_to_100(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if not steps or steps[-1] != 100 or any(b <= a for a, b in pairwise(steps)):
            raise ValueError("must rise step by step and end at 100")
        if steps[0] <= 0:
            raise ValueError("must start above 0")
        return steps
