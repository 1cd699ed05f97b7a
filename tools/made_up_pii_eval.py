"""Names and street addresses on the project's made-up PII: what the `pii` scanner finds.

    .venv/bin/python -m tools.made_up_pii_eval [--split tune|report] [--misses]

No evaluation set we hold labels names or addresses on their own, so they are measured on values
Faker invented, placed in this project's own sentences (`tests/gateway/scanners/data/`; its README
says what each file's tune split shaped). A value is found when a finding of its kind overlaps it,
and redacted whole when findings of its kind cover at least 90 % of its characters.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from services.gateway.scanners import Action, ScannersConfig, ScannerSettings
from services.gateway.scanners.base import Scanner
from services.gateway.scanners.pipeline import build_scanner
from tools.jsonl import jsonl_objects

__all__ = ["MADE_UP_FILES", "MadeUpScore", "made_up_rows", "main", "score"]

DATA = Path(__file__).resolve().parents[1] / "tests" / "gateway" / "scanners" / "data"
# Each file and the kinds of value it holds.
MADE_UP_FILES: dict[str, tuple[str, ...]] = {
    "synthetic_pii.jsonl": ("person", "street_address"),
    "names_in_sentences.jsonl": ("person",),
}
Split = Literal["tune", "report"]


@dataclass(frozen=True)
class MadeUpScore:
    rows: int
    found: int
    whole: int
    misses: tuple[str, ...]
    """The texts whose value no finding of its kind overlaps."""

    def line(self, label: str) -> str:
        found, whole = self.found / self.rows, self.whole / self.rows
        return f"{label:42s} rows {self.rows:4d}  found {found:.3f}  whole {whole:.3f}"


def made_up_rows(file: str, split: Split, kind: str) -> list[dict[str, Any]]:
    """One split's values of one kind ("person", "street_address"), each with its text and span."""
    if file not in MADE_UP_FILES:
        raise ValueError(f"file: {file} is not one of {', '.join(MADE_UP_FILES)}")
    rows = [row for _, row in jsonl_objects(DATA / file) if row["split"] == split and row["kind"] == kind]
    if not rows:
        raise ValueError(f"{file}: no {kind} rows in split {split}")
    return rows


def score(pii: Scanner, rows: list[dict[str, Any]]) -> MadeUpScore:
    found = whole = 0
    misses: list[str] = []
    for row in rows:
        start, end = row["span"]
        spans = [(f.start, f.end) for f in pii.scan(row["text"]).findings if f.kind == row["kind"]]
        covered = sum(max(0, min(end, e) - max(start, s)) for s, e in spans)
        found += covered > 0
        whole += covered >= 0.9 * (end - start)
        if not covered:
            misses.append(row["text"])
    return MadeUpScore(len(rows), found, whole, tuple(misses))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.made_up_pii_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("tune", "report"), action="append", help="default: both")
    parser.add_argument("--misses", action="store_true", help="print the texts whose value was not found")
    args = parser.parse_args(argv)
    pii = build_scanner("pii", "input", ScannerSettings(action=Action.REDACT), ScannersConfig())
    for file, kinds in MADE_UP_FILES.items():
        for kind in kinds:
            for split in args.split or ("tune", "report"):
                result = score(pii, made_up_rows(file, split, kind))
                print(result.line(f"{file} {split} {kind}"), flush=True)
                for text in result.misses if args.misses else ():
                    print(f"  miss: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
