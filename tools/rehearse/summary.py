"""Check results and the table a rehearsal ends with."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["CheckResult", "ClusterReport", "failed_checks", "format_table", "percentile"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ClusterReport:
    environment: str
    cluster: str
    checks: list[CheckResult] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    """Wall time of each smoke call."""
    ready_s: float | None = None

    def record(self, name: str, ok: bool, detail: str = "") -> CheckResult:
        result = CheckResult(name, ok, detail)
        self.checks.append(result)
        mark = "ok  " if ok else "FAIL"
        print(f"  {mark} [{self.environment}/{self.cluster}] {name}{': ' + detail if detail else ''}", flush=True)
        return result

    def check(self, name: str, run: Callable[[], str]) -> str:
        """Run one check (it returns what is wrong, or "") and record it; an exception fails this check only."""
        try:
            problem = run()
        except Exception as error:  # each check reports its own failure; the run goes on
            problem = f"{type(error).__name__}: {str(error)[:400]}"
        self.record(name, not problem, problem)
        return problem

    @property
    def passed(self) -> int:
        return sum(check.ok for check in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.ok]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (`fraction` in (0, 1]); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def format_table(reports: Sequence[ClusterReport]) -> str:
    header = ("environment", "cluster", "passed", "failed", "p50", "p99", "ready in")
    rows = [
        (
            report.environment,
            report.cluster,
            str(report.passed),
            str(len(report.failed)),
            _ms(percentile(report.latencies_s, 0.5)),
            _ms(percentile(report.latencies_s, 0.99)),
            "-" if report.ready_s is None else f"{report.ready_s:.0f} s",
        )
        for report in reports
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), separator, *(line(row) for row in rows)])


def failed_checks(reports: Sequence[ClusterReport]) -> list[str]:
    """`env/cluster: check: detail` for every failed check."""
    return [
        f"{report.environment}/{report.cluster}: {check.name}" + (f": {check.detail}" if check.detail else "")
        for report in reports
        for check in report.failed
    ]
