"""Measure the scanners on labelled JSONL: detection rate, false-positive rate, precision, F1.

    python -m tools.scanner_eval --dataset PATH [--scanner NAME ...] [--any] [--split report]

Each row needs `text` (or `value`) and `is_positive` (or `expected_valid`); rows with
`expected_spans` and `entity_types` (Presidio's format) also get a span-level PII score on the
entity types the PII scanner supports. `--split` keeps the deterministic half of the rows that
`train.py` never tunes on ("report") or the half it does ("tune"). `--any` adds a line for "any of
the named scanners fired": how the gateway treats a text several scanners see (a tool result meets
`prompt_injection` and then `indirect_injection`).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from services.gateway.scanners.base import Action, Finding, Scanner, Stage
from services.gateway.scanners.config import ScannersConfig, ScannerSettings
from services.gateway.scanners.pipeline import build_scanner
from tools.confusion import ConfusionMatrix
from tools.jsonl import jsonl_objects

__all__ = [
    "EVALUATED_SCANNERS",
    "PRESIDIO_TYPES",
    "LabelledRow",
    "labelled_row",
    "load_rows",
    "main",
    "split_of",
]

Split = Literal["tune", "report"]

# Scanners that judge a text on its own (system-prompt leakage needs a system prompt).
EVALUATED_SCANNERS = (
    "oversize",
    "invisible_unicode",
    "secrets",
    "pii",
    "prompt_injection",
    "indirect_injection",
    "toxicity",
)

# The PII scanner's kinds, by the entity type Presidio's test cases use for them.
PRESIDIO_TYPES = {
    "person": "PERSON",
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "credit_card": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "ip_address": "IP_ADDRESS",
    "us_ssn": "US_SSN",
    "uk_nhs": "UK_NHS",
    "es_nif": "ES_NIF",
    "es_nie": "ES_NIE",
    "it_fiscal_code": "IT_FISCAL_CODE",
    "fi_personal_id": "FI_PERSONAL_IDENTITY_CODE",
    "pl_pesel": "PL_PESEL",
    "tr_national_id": "TR_NATIONAL_ID",
    "in_aadhaar": "IN_AADHAAR",
    "ca_sin": "CA_SIN",
    "se_personnummer": "SE_PERSONNUMMER",
}


def split_of(row_id: str) -> Split:
    """The half a row belongs to, from a hash of its id: stable across runs and machines."""
    return "tune" if hashlib.sha256(row_id.encode()).digest()[0] % 2 == 0 else "report"


@dataclass(frozen=True)
class LabelledRow:
    id: str
    text: str
    is_positive: bool
    category: str
    entity_types: tuple[str, ...] = ()
    expected_spans: tuple[tuple[int, int], ...] | None = None


def load_rows(path: Path) -> list[LabelledRow]:
    """Rows of a labelled JSONL file; a row without text or label is an error naming its line."""
    return [labelled_row(data, where) for where, data in jsonl_objects(path)]


def labelled_row(data: dict[str, object], where: str) -> LabelledRow:
    """One labelled row from its JSON object; `where` (`path:line`) names it in errors."""
    text = data.get("text", data.get("value"))
    label = data.get("is_positive", data.get("expected_valid"))
    if not isinstance(text, str):
        raise ValueError(f"{where}: field 'text' must be a string")
    if not isinstance(label, bool):
        raise ValueError(f"{where}: field 'is_positive' must be true or false")
    spans = data.get("expected_spans")
    entity_types = data.get("entity_types") or ()
    category = data.get("category") or data.get("label") or ""
    return LabelledRow(
        id=str(data.get("id", where)),
        text=text,
        is_positive=label,
        category=str(category),
        entity_types=tuple(str(t) for t in entity_types) if isinstance(entity_types, list) else (),
        expected_spans=(tuple((int(s[0]), int(s[1])) for s in spans) if isinstance(spans, list) else None),
    )


@dataclass
class SpanCounts(ConfusionMatrix):
    """Span matches: no true negatives exist, so recall is the true-positive rate."""

    by_type: dict[str, ConfusionMatrix] = field(default_factory=lambda: defaultdict(ConfusionMatrix))

    @property
    def recall(self) -> float | None:
        return self.tpr


def score_spans(row: LabelledRow, findings: Iterable[Finding], counts: SpanCounts) -> None:
    """Match predicted spans of the row's entity types to expected spans (overlap, one-to-one)."""
    assert row.expected_spans is not None
    wanted = set(row.entity_types)
    predicted = [f for f in findings if PRESIDIO_TYPES.get(f.kind) in wanted]
    unmatched = list(row.expected_spans)
    entity = row.entity_types[0] if row.entity_types else "?"
    for finding in predicted:
        match = next((s for s in unmatched if finding.start < s[1] and s[0] < finding.end), None)
        if match is None:
            counts.fp += 1
            counts.by_type[entity].fp += 1
        else:
            unmatched.remove(match)
            counts.tp += 1
            counts.by_type[entity].tp += 1
    counts.fn += len(unmatched)
    counts.by_type[entity].fn += len(unmatched)


def _build(name: str, threshold: float | None) -> Scanner:
    config = ScannersConfig()
    stages: dict[Stage, dict[str, ScannerSettings]] = {
        "input": config.input,
        "third_party": config.third_party,
        "output": config.output,
    }
    stage = next(stage for stage, scanners in stages.items() if name in scanners)
    settings = stages[stage][name]
    if threshold is not None:
        settings = ScannerSettings(action=settings.action, threshold=threshold)
    return build_scanner(name, stage, settings, config)


ANY = "any"


def evaluate(
    rows: Sequence[LabelledRow],
    scanners: Sequence[str],
    threshold: float | None,
    by_category: bool,
    any_line: bool = False,
) -> str:
    built = {name: _build(name, threshold) for name in scanners}
    reported = [*scanners, ANY] if any_line else list(scanners)
    totals = {name: ConfusionMatrix() for name in reported}
    categories: dict[tuple[str, str], ConfusionMatrix] = defaultdict(ConfusionMatrix)
    spans = SpanCounts()
    supported = set(PRESIDIO_TYPES.values())
    for index, row in enumerate(rows, start=1):
        fired_any = False
        for name, scanner in built.items():
            verdict = scanner.scan(row.text)
            if name == "pii" and row.entity_types:
                if not set(row.entity_types) <= supported:
                    continue
                if row.expected_spans is not None:
                    score_spans(row, verdict.findings, spans)
            fired = verdict.action is not Action.ALLOW
            fired_any = fired_any or fired
            totals[name].add(predicted=fired, actual=row.is_positive)
            categories[(name, row.category)].add(predicted=fired, actual=row.is_positive)
        if any_line:
            totals[ANY].add(predicted=fired_any, actual=row.is_positive)
            categories[(ANY, row.category)].add(predicted=fired_any, actual=row.is_positive)
        if index % 1000 == 0:
            print(f"  scanned {index}/{len(rows)} rows", file=sys.stderr)
    lines = [f"{'scanner':<18} {'n':>6} {'pos':>5} {'neg':>5} {'TPR':>6} {'FPR':>6} {'prec':>6} {'F1':>6}"]
    for name in reported:
        lines.append(_metrics_line(name, totals[name]))
    if spans.tp + spans.fp + spans.fn:
        lines.append("")
        lines.append(
            f"pii spans (supported Presidio types, overlap match): TP {spans.tp} FP {spans.fp} FN {spans.fn}"
            f" precision {_fmt(spans.precision)} recall {_fmt(spans.recall)} F1 {_fmt(spans.f1)}"
        )
        for entity, counts in sorted(spans.by_type.items()):
            lines.append(f"  {entity:<26} TP {counts.tp:>4} FP {counts.fp:>4} FN {counts.fn:>4} F1 {_fmt(counts.f1)}")
    if by_category:
        lines.append("")
        lines.append("by category:")
        for (name, category), counts in sorted(categories.items()):
            lines.append(_metrics_line(f"{name}/{category}"[:60], counts, width=60))
    return "\n".join(lines)


def _metrics_line(name: str, counts: ConfusionMatrix, width: int = 18) -> str:
    positives = counts.tp + counts.fn
    negatives = counts.fp + counts.tn
    return (
        f"{name:<{width}} {counts.total:>6} {positives:>5} {negatives:>5} {_fmt(counts.tpr):>6} "
        f"{_fmt(counts.fpr):>6} {_fmt(counts.precision):>6} {_fmt(counts.f1):>6}"
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.scanner_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="labelled JSONL file")
    parser.add_argument(
        "--scanner",
        choices=EVALUATED_SCANNERS,
        action="append",
        help="only this scanner; repeat for several (default: all)",
    )
    parser.add_argument("--any", action="store_true", help='also report "any of the scanners fired"')
    parser.add_argument(
        "--all-benign",
        action="store_true",
        help="count every row as benign, whatever its label: the false-positive rate of a scanner on text "
        "known to be free of what it looks for (tweets labelled for toxicity carry no prompt injection)",
    )
    parser.add_argument("--split", choices=("all", "tune", "report"), default="all", help="rows to use (default: all)")
    parser.add_argument("--threshold", type=float, help="override the scanner's configured threshold")
    parser.add_argument("--by-category", action="store_true", help="also print rates per category")
    args = parser.parse_args(argv)
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        parser.error("--threshold: must be between 0 and 1")
    try:
        rows = load_rows(args.dataset)
    except OSError as error:
        parser.error(f"--dataset: cannot read {args.dataset}: {error.strerror}")
    except ValueError as error:
        parser.error(f"--dataset: {error}")
    if args.split != "all":
        rows = [row for row in rows if split_of(row.id) == args.split]
    if args.all_benign:
        rows = [replace(row, is_positive=False) for row in rows]
    if not rows:
        parser.error(f"--dataset: no rows in {args.dataset} (split {args.split})")
    scanners = tuple(dict.fromkeys(args.scanner)) if args.scanner else EVALUATED_SCANNERS
    print(f"dataset {args.dataset}  rows {len(rows)}  split {args.split}")
    print(evaluate(rows, scanners, args.threshold, args.by_category, args.any))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
