"""Fixture evaluation: run the packaged pack over externally labelled cases and measure agreement.

    make policy-eval                                   # every dev fixture set, gated by eval/policy-thresholds.yaml
    make policy-eval FILE=../shared/eval/k8s-policy-fixtures/cases.jsonl ARGS=--disagreements

Each upstream policy maps to the pack rule(s) that judge the same thing (`tools/policy_upstream.py`);
a case counts as "fail" when any of those rules reports a violation (resource or stack level; the
case's resources form the stack). Upstream policies the pack has no rule for are counted, not guessed.
Prints a confusion matrix per rule and overall agreement; with `--disagreements` each case the pack
judges differently. With `--thresholds`, every set the file lists is evaluated and the exit status is
1 when a set, or all of them together, agree less than the file's minimum (2 when the sets are missing).
The pack runs as a subprocess over gRPC, as in `make policy`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from platform_facts.project import env_var
from stacks.plan import PlanGraph, PlannedResource
from tools.confusion import ConfusionMatrix
from tools.policy_cases import Case, load_cases
from tools.policy_check import REPO_ROOT, Analyzer, PolicyCheckError

__all__ = ["Evaluation", "FixtureSet", "Thresholds", "load_thresholds", "main", "run_cases"]

DEFAULT_THRESHOLDS = REPO_ROOT / "eval" / "policy-thresholds.yaml"
EVAL_DIR_VARIABLE = env_var("EVAL_DIR")


def _graph(case: Case) -> PlanGraph:
    """The case's resources as a one-stack plan; bucket settings depend on the case's buckets."""
    resources: list[PlannedResource] = []
    buckets = [
        f"urn:pulumi:eval::eval::{t}::r{i}" for i, (t, _) in enumerate(case.resources) if t == "aws:s3/bucket:Bucket"
    ]
    for index, (type_token, props) in enumerate(case.resources):
        urn = f"urn:pulumi:eval::eval::{type_token}::r{index}"
        dependencies = buckets if type_token.startswith("aws:s3/bucket") and urn not in buckets else []
        resources.append(PlannedResource(urn, type_token, f"r{index}", "", "", dependencies, True, False, props, props))
    return PlanGraph("eval", resources)


@dataclass
class Evaluation:
    by_rule: dict[str, ConfusionMatrix]
    overall: ConfusionMatrix
    disagreements: list[tuple[Case, bool]]


def run_cases(cases: list[Case], analyzer: Analyzer) -> Evaluation:
    """Every case through the pack, all rules mandatory, each upstream policy's settings applied."""
    by_rule: dict[str, ConfusionMatrix] = defaultdict(ConfusionMatrix)
    overall = ConfusionMatrix()
    disagreements: list[tuple[Case, bool]] = []
    configured: str | None = None
    for case in sorted(cases, key=lambda c: (json.dumps(c.settings, sort_keys=True), c.id)):
        key = json.dumps(case.settings, sort_keys=True)
        if key != configured:
            analyzer.configure({"all": "mandatory", **case.settings})
            configured = key
        rules = case.rules
        found = {v.policy for v in analyzer.analyze(_graph(case)) if "during preview" not in v.message}
        predicted_fail = bool(found & set(rules))
        expected_fail = case.expected == "fail"
        by_rule[" + ".join(rules)].add(actual=expected_fail, predicted=predicted_fail)
        overall.add(actual=expected_fail, predicted=predicted_fail)
        if predicted_fail != expected_fail:
            disagreements.append((case, predicted_fail))
    return Evaluation(dict(by_rule), overall, disagreements)


def format_evaluation(evaluation: Evaluation, skipped: Counter[str]) -> Iterator[str]:
    width = max([len(rule) for rule in evaluation.by_rule] + [7])
    yield f"{'RULE'.ljust(width)}  {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4}  AGREEMENT"
    for rule, matrix in sorted(evaluation.by_rule.items()):
        yield (
            f"{rule.ljust(width)}  {matrix.tp:>4} {matrix.fp:>4} {matrix.fn:>4} {matrix.tn:>4}  "
            f"{matrix.agreement or 0.0:6.1%} of {matrix.total}"
        )
    o = evaluation.overall
    yield f"{'overall'.ljust(width)}  {o.tp:>4} {o.fp:>4} {o.fn:>4} {o.tn:>4}  {o.agreement or 0.0:6.1%} of {o.total}"
    for reason, count in sorted(skipped.items()):
        yield f"not evaluated: {count} row(s): {reason}"


@dataclass(frozen=True)
class FixtureSet:
    """One labelled set the gate evaluates, and the least it must agree on."""

    name: str
    path: Path
    min_agreement: float
    min_cases: int


@dataclass(frozen=True)
class Thresholds:
    sets: tuple[FixtureSet, ...]
    overall: float


def load_thresholds(path: Path, fixtures_dir: Path | None = None) -> Thresholds:
    """The gate's file; a missing or malformed key is named. `fixtures_dir` overrides the file's `fixtures`."""
    document = yaml.safe_load(path.read_text())
    try:
        root = fixtures_dir or (REPO_ROOT / str(document["fixtures"])).resolve()
        sets = tuple(
            FixtureSet(
                name=str(name),
                path=root / str(entry["file"]),
                min_agreement=float(entry["min_agreement"]),
                min_cases=int(entry["min_cases"]),
            )
            for name, entry in document["sets"].items()
        )
        return Thresholds(sets, float(document["overall"]))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path.name}: malformed thresholds ({error!r})") from None


def _print_evaluation(evaluation: Evaluation, skipped: Counter[str], disagreements: bool) -> None:
    for line in format_evaluation(evaluation, skipped):
        print(line)
    if disagreements:
        for case, predicted_fail in evaluation.disagreements:
            verdict = "fail" if predicted_fail else "pass"
            print(f"disagree: {case.id}: upstream {case.expected}, pack {verdict}")


def _gate(thresholds: Thresholds, analyzer: Analyzer, disagreements: bool) -> int:
    """Evaluate every set; 1 when a set or the total falls below its minimum."""
    total = ConfusionMatrix()
    failures: list[str] = []
    summary: list[str] = []
    for fixture in thresholds.sets:
        cases, skipped = load_cases(fixture.path)
        print(f"\n== {fixture.name} ({len(cases)} cases)")
        evaluation = run_cases(cases, analyzer)
        _print_evaluation(evaluation, skipped, disagreements)
        matrix = evaluation.overall
        for field in ("tp", "fp", "fn", "tn"):
            setattr(total, field, getattr(total, field) + getattr(matrix, field))
        agreement = matrix.agreement or 0.0
        verdict = "ok"
        if agreement < fixture.min_agreement or matrix.total < fixture.min_cases:
            verdict = "BELOW"
            failures.append(
                f"{fixture.name}: {agreement:.1%} of {matrix.total} cases "
                f"(needs {fixture.min_agreement:.1%} of at least {fixture.min_cases})"
            )
        minimum = f"(min {fixture.min_agreement:.1%})"
        summary.append(f"{fixture.name.ljust(34)} {agreement:6.1%} of {matrix.total:>4}  {minimum}  {verdict}")
    overall = total.agreement or 0.0
    summary.append(f"{'all sets'.ljust(34)} {overall:6.1%} of {total.total:>4}  (min {thresholds.overall:.1%})")
    if overall < thresholds.overall:
        failures.append(f"all sets: {overall:.1%} (needs {thresholds.overall:.1%})")
    print("\nAGREEMENT GATE\n" + "\n".join(summary))
    for failure in failures:
        print(f"error: agreement below threshold: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make policy-eval", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, nargs="?", help="JSON Lines of labelled cases (omit with --thresholds)")
    parser.add_argument("--thresholds", type=Path, help="evaluate every set this file lists and gate on its minimums")
    parser.add_argument("--disagreements", action="store_true", help="list every case the pack judges differently")
    options = parser.parse_args(argv)
    if (options.file is None) == (options.thresholds is None):
        parser.error("give a FILE or --thresholds, not both")
    try:
        if options.thresholds is not None:
            override = os.environ.get(EVAL_DIR_VARIABLE)
            thresholds = load_thresholds(options.thresholds, Path(override) if override else None)
            missing = [str(fixture.path) for fixture in thresholds.sets if not fixture.path.is_file()]
            if missing:
                print(f"error: fixture sets missing (set {EVAL_DIR_VARIABLE}): {', '.join(missing)}", file=sys.stderr)
                return 2
            with Analyzer("eval") as analyzer:
                return _gate(thresholds, analyzer, options.disagreements)
        if not options.file.is_file():
            print(f"error: FILE {options.file} does not exist", file=sys.stderr)
            return 2
        cases, skipped = load_cases(options.file)
        print(f"Evaluating {len(cases)} case(s) from {options.file}...", file=sys.stderr, flush=True)
        with Analyzer("eval") as analyzer:
            evaluation = run_cases(cases, analyzer)
    except (ValueError, KeyError, OSError, PolicyCheckError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_evaluation(evaluation, skipped, options.disagreements)
    return 0


if __name__ == "__main__":
    sys.exit(main())
