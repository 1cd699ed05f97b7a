"""Evaluation gates: run the suites eval/gates.yaml names, write a report, exit non-zero below a threshold.

    python -m tools.eval_suites SUITE|all [--gates eval/gates.yaml] [--report-dir DIR] [--skip-needs-data]
                                          [--candidate MODEL_VERSION]

A suite is either a command (one of the project's gate tools, which exits non-zero below its own
thresholds file) or an `exported` set from `make export-eval`, checked here: enough rows and labelled rows,
a bad-answer rate under the bound, and no personal data or secret the gateway's redactors still find.

The JSON report (`<report_dir>/<suite>.json`) carries a `score`: the share of the suites run that passed.
Run for a model version about to be rolled out (`--candidate`), it is what `make promote ... EVAL_REPORT=`
starts the rollout with (the promotion's `min_eval_score` gate).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from platform_facts.project import PROJECT_NAME, env_var
from services.gateway.config import format_validation_error, load_gateway_config

__all__ = ["CANDIDATE_VARIABLE", "EvalReport", "ExportedSet", "Gates", "SuiteResult", "check_exported", "main"]

ROOT = Path(__file__).resolve().parents[1]
CANDIDATE_VARIABLE = env_var("EVAL_CANDIDATE")
"""Set for a suite's command when the run is for a candidate: suites that judge a model judge that one."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExportedSet(_Strict):
    path: Path
    min_rows: int = Field(default=1, ge=0)
    min_labelled: int = Field(default=0, ge=0)
    max_bad_rate: float = Field(default=1.0, ge=0, le=1)
    """Of the labelled rows, the share labelled bad."""
    redactors_from: str = "local"
    """Whose gateway config's secrets and PII scanners look for leftovers (an environment name)."""


class Suite(_Strict):
    command: tuple[str, ...] | None = None
    """A Python module and its arguments (`python -m <module> <args>`), run from the repository root."""
    exported: ExportedSet | None = None
    needs_eval_data: bool = False
    """The suite reads evaluation sets kept outside the repository (RAMPART_EVAL_DIR)."""

    @model_validator(mode="after")
    def _one_kind(self) -> Suite:
        if (self.command is None) == (self.exported is None):
            raise ValueError("give exactly one of command or exported")
        return self


class Gates(_Strict):
    report_dir: Path
    suites: dict[str, Suite]


class SuiteResult(BaseModel):
    suite: str
    passed: bool
    skipped: bool = False
    seconds: float
    summary: str
    """The lines that say why: the gate tool's output, or the exported set's numbers."""
    numbers: dict[str, Any] = Field(default_factory=dict)


class EvalReport(BaseModel):
    """What `make eval` writes as JSON, and what a promotion reads its evaluation score from."""

    suite: str
    """The suite asked for (`all` or one name)."""
    candidate: str | None = None
    """The model version the run was for, when one was named."""
    created: float
    score: float = Field(ge=0, le=1)
    """Passed suites over the suites run (skipped ones do not count); 0 when none ran."""
    results: list[SuiteResult]

    @classmethod
    def of(cls, suite: str, candidate: str | None, results: list[SuiteResult]) -> EvalReport:
        run = [result for result in results if not result.skipped]
        score = sum(result.passed for result in run) / len(run) if run else 0.0
        return cls(suite=suite, candidate=candidate, created=time.time(), score=round(score, 4), results=results)


def load_gates(path: Path) -> Gates:
    try:
        return Gates.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as error:
        raise SystemExit(format_validation_error(path.name, error)) from None


def check_exported(name: str, spec: ExportedSet) -> SuiteResult:
    from tools.export_eval import redactor

    started = time.monotonic()
    path = spec.path if spec.path.is_absolute() else ROOT / spec.path
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    labelled = [row for row in rows if row.get("label")]
    bad = [row for row in labelled if row["label"]["rating"] == "bad"]
    redact = redactor(load_gateway_config(spec.redactors_from))
    leaks = [row["request_id"] for row in rows
             for text in [*row.get("prompt", []), *row.get("answer", []), (row.get("label") or {}).get("correction")]
             if text and redact.scan_output(text).text != text]
    bad_rate = len(bad) / len(labelled) if labelled else 0.0
    numbers = {"rows": len(rows), "labelled": len(labelled), "bad_rate": round(bad_rate, 4),
               "good_rate": round(sum(r["label"]["rating"] == "good" for r in labelled) / len(labelled), 4)
               if labelled else 0.0, "leaks": len(leaks)}
    failures = []
    if len(rows) < spec.min_rows:
        failures.append(f"{len(rows)} rows, fewer than {spec.min_rows}")
    if len(labelled) < spec.min_labelled:
        failures.append(f"{len(labelled)} labelled rows, fewer than {spec.min_labelled}")
    if bad_rate > spec.max_bad_rate:
        failures.append(f"bad-answer rate {bad_rate:.3f} over {spec.max_bad_rate}")
    if leaks:
        failures.append(f"personal data or secrets left in {len(set(leaks))} rows: {sorted(set(leaks))[:5]}")
    summary = "; ".join(failures) or (f"{len(rows)} rows, {len(labelled)} labelled, bad rate {bad_rate:.3f}, "
                                      "no leftovers")
    return SuiteResult(suite=name, passed=not failures, seconds=round(time.monotonic() - started, 2),
                       summary=summary, numbers=numbers)


def run_command(name: str, command: tuple[str, ...], candidate: str | None = None) -> SuiteResult:
    started = time.monotonic()
    environment = {**os.environ, **({CANDIDATE_VARIABLE: candidate} if candidate else {})}
    finished = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True,
                              check=False, env=environment)
    output = (finished.stdout + finished.stderr).strip().splitlines()
    return SuiteResult(suite=name, passed=finished.returncode == 0, seconds=round(time.monotonic() - started, 2),
                       summary="\n".join(output[-40:]),
                       numbers={"exit_status": finished.returncode,
                                "result": next(iter(finished.stdout.strip().splitlines()[-1:]), "")})


def report_markdown(report: EvalReport) -> str:
    lines = [f"<!-- {PROJECT_NAME}-eval -->", "## Evaluation gates", ""]
    if report.candidate:
        lines += [f"Candidate `{report.candidate}`: score {report.score:g}", ""]
    lines += ["| suite | result | seconds |", "|---|---|---|"]
    results = report.results
    for result in results:
        verdict = "skipped (no evaluation data)" if result.skipped else ("pass" if result.passed else "**FAIL**")
        lines.append(f"| {result.suite} | {verdict} | {result.seconds} |")
    for result in results:
        if not result.skipped:
            lines += ["", f"### {result.suite}", "", "```", result.summary, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make eval", description=__doc__.splitlines()[0])
    parser.add_argument("suite", help="a suite of the gates file, or all")
    parser.add_argument("--gates", type=Path, default=ROOT / "eval" / "gates.yaml")
    parser.add_argument("--report-dir", type=Path, help="where the report goes (default: the gates file's)")
    parser.add_argument("--skip-needs-data", action="store_true",
                        help="skip suites that need evaluation sets from outside the repository (CI without them)")
    parser.add_argument("--candidate", help="the model version this run evaluates (recorded in the report for "
                                            "`make promote ... EVAL_REPORT=`)")
    options = parser.parse_args(argv)
    gates = load_gates(options.gates)
    names = list(gates.suites) if options.suite == "all" else [options.suite]
    unknown = [name for name in names if name not in gates.suites]
    if unknown:
        print(f"error: SUITE: unknown suite {unknown[0]!r} (known: {', '.join(gates.suites)}, all)", file=sys.stderr)
        return 2
    results = []
    for name in names:
        suite = gates.suites[name]
        if suite.needs_eval_data and options.skip_needs_data:
            results.append(SuiteResult(suite=name, passed=True, skipped=True, seconds=0.0, summary=""))
        elif suite.exported is not None:
            results.append(check_exported(name, suite.exported))
        else:
            assert suite.command is not None
            results.append(run_command(name, suite.command, options.candidate))
        print(f"{name}: {'skipped' if results[-1].skipped else 'pass' if results[-1].passed else 'FAIL'}"
              f" ({results[-1].seconds}s)", flush=True)
        if not results[-1].passed:
            print(results[-1].summary, file=sys.stderr, flush=True)  # why, in the log as well as the report
        elif results[-1].numbers.get("result"):
            print(f"  {results[-1].numbers['result']}", flush=True)  # the numbers it passed with
    report_dir = options.report_dir or (ROOT / gates.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    stem = "all" if options.suite == "all" else options.suite
    report = EvalReport.of(options.suite, options.candidate, results)
    (report_dir / f"{stem}.md").write_text(report_markdown(report))
    (report_dir / f"{stem}.json").write_text(report.model_dump_json(indent=2))
    print(f"report: {report_dir / f'{stem}.md'}")
    return 0 if all(result.passed for result in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
