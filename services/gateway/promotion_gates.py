"""The promotion gates: what the candidate and the stable version did over the same window, and whether
the candidate may move on (an analysis run, in Argo Rollouts' and Flagger's terms).

`measure` reads the shared store (every replica's responses, feedback and shadow comparisons);
`judge` is a pure function of those numbers and the gates, so each verdict can be tested and replayed
from the numbers the audit record keeps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from services.gateway.promotion_config import PromotionGates
from services.state import ResponseRow, StateStore

__all__ = ["Verdict", "VersionWindow", "WindowMeasurements", "judge", "measure"]


@dataclass(frozen=True)
class VersionWindow:
    """One version's requests in the window: those routing chose it for, whoever finally answered."""

    requests: int
    errors: int
    """Failed, or answered by a fallback because this version failed."""
    flagged: int
    """Answers an output scanner blocked or flagged."""
    p99_ms: float
    feedback_count: int
    feedback_mean: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def flag_rate(self) -> float:
        return self.flagged / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class WindowMeasurements:
    since: float
    until: float
    stable: VersionWindow
    candidate: VersionWindow
    shadow_comparisons: int
    shadow_agreement: float

    def as_record(self) -> dict[str, Any]:
        """The numbers as the audit record and the decision row keep them."""
        record = asdict(self)
        for side in ("stable", "candidate"):
            window = getattr(self, side)
            record[side].update(error_rate=round(window.error_rate, 4), flag_rate=round(window.flag_rate, 4))
        return record


@dataclass(frozen=True)
class Verdict:
    outcome: Literal["pass", "fail", "wait"]
    """`wait`: too few candidate requests yet to judge."""
    reason: str


def _version_window(rows: list[ResponseRow], version: str, feedback: tuple[int, float]) -> VersionWindow:
    mine = [row for row in rows if row.routed_version == version]
    latencies = sorted(row.latency_ms for row in mine)
    p99 = latencies[max(0, math.ceil(0.99 * len(latencies)) - 1)] if latencies else 0.0
    errors = sum(1 for row in mine if row.status >= 500 or row.model_version != version)
    flagged = sum(1 for row in mine if row.flagged or row.blocked)
    return VersionWindow(len(mine), errors, flagged, p99, feedback[0], feedback[1])


def measure(store: StateStore, route_path: str, stable: str, candidate: str, since: float,
            until: float) -> WindowMeasurements:
    rows = store.responses.window(since, until, route=route_path)
    scores = {score.model_version: (score.count, score.mean_rating)
              for score in store.responses.feedback_scores(since, until)}
    shadow = store.shadow.agreement(candidate, since)
    return WindowMeasurements(
        since=since, until=until,
        stable=_version_window(rows, stable, scores.get(stable, (0, 0.0))),
        candidate=_version_window(rows, candidate, scores.get(candidate, (0, 0.0))),
        shadow_comparisons=shadow.count, shadow_agreement=round(shadow.rate, 4),
    )


def judge(numbers: WindowMeasurements, gates: PromotionGates) -> Verdict:
    """The first gate the candidate breaks, or pass; wait while it has too few requests to judge."""
    candidate, stable = numbers.candidate, numbers.stable
    if candidate.requests < gates.min_requests:
        return Verdict("wait", f"{candidate.requests} of {gates.min_requests} candidate requests in the window")
    if candidate.error_rate - stable.error_rate > gates.max_error_rate_increase:
        return Verdict("fail", f"error rate {candidate.error_rate:.3f} vs stable {stable.error_rate:.3f} "
                               f"(allowed +{gates.max_error_rate_increase})")
    if candidate.p99_ms > gates.p99_latency_slo_ms:
        return Verdict("fail", f"p99 latency {candidate.p99_ms:.0f} ms over the SLO {gates.p99_latency_slo_ms:.0f} ms")
    if candidate.flag_rate - stable.flag_rate > gates.max_flag_rate_increase:
        return Verdict("fail", f"safety block/flag rate {candidate.flag_rate:.3f} vs stable {stable.flag_rate:.3f} "
                               f"(allowed +{gates.max_flag_rate_increase})")
    if candidate.feedback_count:
        baseline = stable.feedback_mean if stable.feedback_count else 0.0
        if baseline - candidate.feedback_mean > gates.max_feedback_drop:
            return Verdict("fail", f"feedback score {candidate.feedback_mean:.2f} vs stable {baseline:.2f} "
                                   f"(allowed drop {gates.max_feedback_drop})")
    if numbers.shadow_comparisons and numbers.shadow_agreement < gates.min_shadow_agreement:
        return Verdict("fail", f"shadow agreement {numbers.shadow_agreement:.2f} under "
                               f"{gates.min_shadow_agreement}")
    return Verdict("pass", "every gate held")
