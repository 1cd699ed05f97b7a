"""The guardrail evaluation gate: every check in eval/guardrail-thresholds.yaml, non-zero exit below any.

    python -m tools.guardrail_gate [--thresholds eval/guardrail-thresholds.yaml] [--only NAME]

Scanners are built from the `scanners:` block of the configuration the thresholds file names
(production's), so the gate measures what production does. A check reads one labelled file
under the evaluation folder (`RAMPART_EVAL_DIR`, else the file's `eval_dir`) and keeps the rows
of one split: `report` (the half `tools.scanner_eval.split_of` never tunes on), `all` (sets
nothing was tuned on), or `test_groups` (train-safety rows whose template group the semantic
heads never saw). A row is caught when the scanner's verdict is anything but allow. The scanner
`input` is the whole input stage as production runs it, and a row counts only when it is blocked:
what a user sees refused. The scanner `tool_content` is production's input and third-party stages
on `tool` messages (`tools.indirect_eval`): the file's attack rows (report half) each planted into
a report-half benign document (the check's `documents`: installed distributions' descriptions, or
the project's e-mails and code answers) are caught when blocked or cut, and the benign documents
themselves count as false positives when blocked or a sentence is cut.
Prompt embeddings are cached under .rampart/cache, like the training run's, so a rerun is quick.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from platform_facts.project import STATE_DIR_NAME, env_var
from services.gateway.config import load_scanners_config
from services.gateway.errors import ConfigError
from services.gateway.scanners.base import Action, Stage, Verdict
from services.gateway.scanners.config import ScannersConfig, ScannerSettings
from services.gateway.scanners.embedding import default_model_dir, weights_sha256
from services.gateway.scanners.pipeline import ScannerPipeline, build_scanner
from services.gateway.scanners.semantic import load_semantic_models
from tools.confusion import ConfusionMatrix
from tools.indirect_eval import CORPORA, caught, changed, evaluation_attacks, planted_documents
from tools.jsonl import jsonl_objects
from tools.scanner_eval import PRESIDIO_TYPES, LabelledRow, SpanCounts, labelled_row, score_spans, split_of
from tools.semantic_train import cached_embeddings, group_of, split_of_group

__all__ = ["Check", "Outcome", "Thresholds", "main", "run_check"]

EVAL_DIR_VARIABLE = env_var("EVAL_DIR")
CACHE_DIR = Path(STATE_DIR_NAME) / "cache"
INPUT_STAGE = "input"
TOOL_CONTENT = "tool_content"


class Check(BaseModel):
    """One measured number (or a few) and the bounds it must stay within."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    file: str
    """Labelled JSONL under the evaluation folder."""
    scanner: str
    """One scanner's name; `input`: the whole input stage, counting only blocks; `tool_content`: the
    file's attacks planted in benign documents, through the input and third-party stages."""
    split: Literal["report", "all", "test_groups"]
    labels: tuple[str, ...] = ()
    """Keep only rows with these `label`s (benign rows always stay); empty keeps every row."""
    min_recall: float | None = Field(default=None, ge=0, le=1)
    max_fpr: float | None = Field(default=None, ge=0, le=1)
    min_span_recall: float | None = Field(default=None, ge=0, le=1)
    min_span_precision: float | None = Field(default=None, ge=0, le=1)
    min_rows: int = Field(default=1, ge=1)
    """Fewer rows than this means the data changed under the check: a failure, not a pass."""
    documents: Literal["packages", "correspondence"] = "packages"
    """`tool_content` only: the benign documents the attacks are planted in (`tools.indirect_eval --corpus`)."""

    @model_validator(mode="after")
    def _tool_content_reads_the_report_half(self) -> Check:
        if self.scanner == TOOL_CONTENT and self.split != "report":
            raise ValueError(f"{self.name}.split: tool_content plants the report half only, not {self.split!r}")
        return self


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    eval_dir: str
    scanners_from: str
    """A gateway config file whose `scanners:` block the scanners are built from."""
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Outcome:
    check: Check
    rows: int
    counts: ConfusionMatrix
    spans: SpanCounts | None
    failures: tuple[str, ...]


def _rows(check: Check, eval_dir: Path) -> list[LabelledRow]:
    kept = []
    for where, data in jsonl_objects(eval_dir / check.file):  # one read: the row and the fields it drops
        row = labelled_row(data, where)
        if check.split == "report" and split_of(row.id) != "report":
            continue
        if check.split == "test_groups" and split_of_group(group_of(data)) != "test":
            continue
        if check.labels and row.is_positive and data.get("label") not in check.labels:
            continue
        kept.append(row)
    return kept


def _scan_for(check: Check, config: ScannersConfig) -> Callable[[str], Verdict | None]:
    """The check's scanner as a function of the text: its verdict, or for `input` the whole stage's
    blocking verdict (None when nothing blocks)."""
    if check.scanner == INPUT_STAGE:
        pipeline = ScannerPipeline.from_config(config)

        def blocking(text: str) -> Verdict | None:
            result = pipeline.scan_input(text)
            return next(v for v in result.verdicts if v.scanner == result.blocked_by) if result.blocked else None

        return blocking
    stages: dict[Stage, dict[str, ScannerSettings]] = {
        "input": config.input, "third_party": config.third_party, "output": config.output,
    }
    stage = next((s for s, names in stages.items() if check.scanner in names), None)
    if stage is None:
        raise ValueError(f"{check.name}.scanner: {check.scanner} is not enabled in the configuration")
    return build_scanner(check.scanner, stage, stages[stage][check.scanner], config).scan


def _tool_content_counts(check: Check, config: ScannersConfig, eval_dir: Path) -> tuple[int, ConfusionMatrix]:
    pipeline = ScannerPipeline.from_config(config)
    documents = CORPORA[check.documents]("report")
    plants = evaluation_attacks(eval_dir / check.file)
    counts = ConfusionMatrix()
    for document in documents:
        counts.add(predicted=changed(pipeline.scan_input(document, third_party=True)), actual=False)
    for row, planted in planted_documents(documents, plants, len(plants)):
        counts.add(predicted=caught(pipeline.scan_input(planted, third_party=True), row.text), actual=True)
    return len(documents) + len(plants), counts


def run_check(check: Check, config: ScannersConfig, eval_dir: Path) -> Outcome:
    if check.scanner == TOOL_CONTENT:
        size, counts = _tool_content_counts(check, config, eval_dir)
        return _outcome(check, size, counts, SpanCounts())
    rows = _rows(check, eval_dir)
    scan = _scan_for(check, config)
    if check.scanner in ("prompt_injection", "harmful_request", INPUT_STAGE) and config.semantic.enabled:
        models = load_semantic_models()
        model_dir = default_model_dir()
        texts = [row.text for row in rows]
        vectors = cached_embeddings(texts, CACHE_DIR, model_dir, weights_sha256(model_dir))
        models.embedder().remember(texts, vectors)
    counts = ConfusionMatrix()
    spans = SpanCounts()
    supported = set(PRESIDIO_TYPES.values())
    for row in rows:
        verdict = scan(row.text)
        if check.scanner == "pii" and row.entity_types and verdict is not None:
            if not set(row.entity_types) <= supported:
                continue
            if row.expected_spans is not None:
                score_spans(row, verdict.findings, spans)
        counts.add(predicted=verdict is not None and verdict.action is not Action.ALLOW, actual=row.is_positive)
    return _outcome(check, len(rows), counts, spans)


def _outcome(check: Check, size: int, counts: ConfusionMatrix, spans: SpanCounts) -> Outcome:
    failures: list[str] = []
    if size < check.min_rows:
        failures.append(f"{size} rows < min_rows {check.min_rows}")
    bounds = (
        ("recall", counts.tpr, check.min_recall, True),
        ("false-positive rate", counts.fpr, check.max_fpr, False),
        ("span recall", spans.recall, check.min_span_recall, True),
        ("span precision", spans.precision, check.min_span_precision, True),
    )
    for label, value, bound, is_minimum in bounds:
        if bound is None:
            continue
        if value is None:
            failures.append(f"{label}: nothing to measure")
        elif (value < bound) if is_minimum else (value > bound):
            failures.append(f"{label} {value:.3f} {'<' if is_minimum else '>'} {bound}")
    return Outcome(check, size, counts, spans if spans.tp + spans.fp + spans.fn else None, tuple(failures))


def _line(outcome: Outcome) -> str:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    counts = outcome.counts
    text = f"{outcome.check.name:<34} rows {outcome.rows:>5}  recall {fmt(counts.tpr)}  fpr {fmt(counts.fpr)}"
    if outcome.spans is not None:
        text += f"  span recall {fmt(outcome.spans.recall)} precision {fmt(outcome.spans.precision)}"
    return text + ("  FAIL: " + "; ".join(outcome.failures) if outcome.failures else "  ok")


def load_thresholds(path: Path) -> Thresholds:
    try:
        return Thresholds.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as error:
        raise SystemExit(f"{path}: {error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.guardrail_gate", description=__doc__.split("\n")[0])
    parser.add_argument("--thresholds", type=Path, default=Path("eval/guardrail-thresholds.yaml"))
    parser.add_argument("--only", action="append", help="run only this check (repeatable)")
    args = parser.parse_args(argv)
    thresholds = load_thresholds(args.thresholds)
    eval_dir = Path(os.environ.get(EVAL_DIR_VARIABLE) or thresholds.eval_dir)
    if not eval_dir.is_dir():
        parser.error(f"no evaluation folder at {eval_dir} (set {EVAL_DIR_VARIABLE})")
    try:
        config = load_scanners_config(thresholds.scanners_from)
    except ConfigError as error:
        parser.error(f"{args.thresholds}: scanners_from: {error}")
    checks = [c for c in thresholds.checks if not args.only or c.name in args.only]
    if args.only and len(checks) != len(set(args.only)):
        parser.error(f"--only: unknown check; known: {', '.join(c.name for c in thresholds.checks)}")
    failed = 0
    for check in checks:
        outcome = run_check(check, config, eval_dir)
        print(_line(outcome), flush=True)
        failed += bool(outcome.failures)
    print(f"{len(checks) - failed}/{len(checks)} checks within thresholds ({args.thresholds})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
