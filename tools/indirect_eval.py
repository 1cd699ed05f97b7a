"""Third-party content through production's scanners: what benign documents lose, what planted requests survive.

    python -m tools.indirect_eval [--half report|tune] [--corpus packages|correspondence] [--planted 800]
                                  [--documents N] [--train-data DIR] [--attacks-from NOTINJECT_JSONL]

A `tool` message meets the input scanners and then `indirect_injection` (docs/safety.md). This
measures both sides of that on text the scanners were not written against:

- benign documents: the long descriptions of the Python distributions installed beside Rampart
  (READMEs and changelogs written by their authors: install steps, "Use `x` instead", questions
  to their readers), four paragraphs of one distribution to a document. A document is blocked, or
  loses a sentence when `indirect_injection` cuts one.
  With `--corpus correspondence`, the benign documents are instead `eval/correspondence-documents.jsonl`:
  300 e-mails and programming Q&A answers written for this project (by three helper agents given
  the genre, never the scanner's rules nor each other's files) in the genre of the issue's own tool
  documents, full of requests to their human reader; split in halves by a hash of their id.
- planted requests: single-line injections, extraction attempts, harmful asks and off-topic tasks
  from train-safety, each inserted at a random sentence or paragraph boundary of a random
  document (a period added when the row has no end mark; appended after a signature, on a line of
  its own). A plant is caught when the document is
  blocked or the planted text no longer appears whole; one that is not, but that a scanner flags,
  reaches the model and goes to human review (counted apart).

With `--attacks-from ../shared/eval/injecguard-notinject/normalized.jsonl` the planted requests are
instead that evaluation set's attack strings (BIPIA's text and code attacks, externally written
for exactly this: instructions hidden in e-mails and code answers), its `report` half only, each
planted into a document of the chosen half. Nothing was ever written or tuned against them.

Each side is split in two halves that never mix: distributions by a hash of their name, planted
rows by train-safety's template groups (`report` = the test groups the semantic heads never saw).
The anchoring rules of `indirect_injection` were chosen on the `tune` half; figures in
docs/safety.md are the `report` half.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from services.gateway.config import load_scanners_config
from services.gateway.errors import ConfigError
from services.gateway.scanners.base import PipelineResult
from services.gateway.scanners.pipeline import ScannerPipeline
from tools.jsonl import jsonl_objects
from tools.scanner_eval import load_rows, split_of
from tools.semantic_train import group_of, split_of_group

__all__ = [
    "CORPORA",
    "Plant",
    "benign_documents",
    "caught",
    "changed",
    "correspondence_documents",
    "evaluation_attacks",
    "main",
    "plant",
    "planted_documents",
    "planted_rows",
]

Half = Literal["tune", "report"]
PARAGRAPHS_PER_DOCUMENT = 4
PLANTED_FILES = ("injection", "harmful", "benign")
# Benign train-safety rows that read as a task handed to the reader: what an off-topic planted
# instruction looks like. The rest of benign.jsonl (role-play, maths, chat turns) is left out.
OFF_TOPIC_TASKS = frozenset({"trivia-question", "instruction", "task-instruction"})
CORRESPONDENCE = Path(__file__).resolve().parents[1] / "eval" / "correspondence-documents.jsonl"
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n\n")


def _half_of(key: str) -> Half:
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
    return "tune" if bucket < 0.5 else "report"


def _prose_paragraphs(description: str) -> list[str]:
    """Paragraphs of running text: code blocks, tables, directives and very long blocks left out."""
    kept, in_code = [], False
    for paragraph in _PARAGRAPH_BREAK.split(description):
        if "```" in paragraph:
            in_code ^= paragraph.count("```") % 2 == 1
            continue
        text = paragraph.strip()
        if in_code or not 80 <= len(text) <= 2000 or text.count("\n") > 12:
            continue
        if text.startswith(("|", "    ", "..", ">>>", "$", "#")):
            continue
        kept.append(text)
    return kept


def benign_documents(half: Half) -> list[str]:
    """Documents from the installed distributions' descriptions, in a stable order. Distributions
    that ship the same text (a family of wheels) give one document, in the half of the first name."""
    by_name: dict[str, str] = {}
    for distribution in metadata.distributions():
        name = (distribution.metadata["Name"] or "").lower()
        body = distribution.metadata.get_payload() or distribution.metadata["Description"] or ""  # type: ignore[attr-defined]
        if name and isinstance(body, str):
            by_name.setdefault(name, body)
    first_name: dict[str, str] = {}
    for name in sorted(by_name):
        paragraphs = _prose_paragraphs(by_name[name])
        for start in range(0, len(paragraphs), PARAGRAPHS_PER_DOCUMENT):
            first_name.setdefault("\n\n".join(paragraphs[start : start + PARAGRAPHS_PER_DOCUMENT]), name)
    return [document for document, name in first_name.items() if _half_of(name) == half]


def correspondence_documents(half: Half, path: Path = CORRESPONDENCE) -> list[str]:
    """E-mails and programming Q&A answers written for this project (`eval/correspondence-documents.jsonl`),
    split in halves by a hash of their id: the genre the issue's own tool documents are."""
    return [str(row["text"]) for _, row in jsonl_objects(path) if _half_of(str(row["id"])) == half]


CORPORA: dict[str, Callable[[Half], list[str]]] = {
    "packages": benign_documents,
    "correspondence": correspondence_documents,
}
"""The benign documents by name (`--corpus`, and a gate check's `documents`)."""


@dataclass(frozen=True)
class Plant:
    family: str  # file:category, e.g. "harmful:advbench"
    text: str


def planted_rows(train_data: Path, half: Half) -> list[Plant]:
    rows = []
    for name in PLANTED_FILES:
        with (train_data / f"{name}.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line)
                category = str(row["category"]).split(":")[0]
                text = str(row["text"]).strip()
                if name == "benign" and category not in OFF_TOPIC_TASKS:
                    continue
                if len(text) > 300 or "\n" in text:
                    continue
                in_report = split_of_group(group_of(row)) == "test"
                if in_report == (half == "report"):
                    rows.append(Plant(f"{name}:{category}", text))
    return rows


def evaluation_attacks(path: Path) -> list[Plant]:
    """The attack rows of a labelled evaluation file, report half only (`tools.scanner_eval.split_of`)."""
    return [
        Plant(f"attack:{row.category.split('/')[0]}", row.text.strip())
        for row in load_rows(path)
        if row.is_positive and split_of(row.id) == "report"
    ]


def plant(document: str, text: str, rng: random.Random) -> str:
    """`document` with `text` inserted as a sentence at a random boundary."""
    if not text.endswith((".", "!", "?")):
        text += "."
    at = rng.choice([0, len(document), *(m.end() for m in _BOUNDARY.finditer(document))])
    before, after = document[:at], document[at:]
    lead = " " if before and not before.endswith((" ", "\n")) else ""
    if lead and not after and not before.endswith((".", "!", "?")):
        lead = "\n"  # appended after a signature ("Clare and Idris"): on a line of its own, as a person would
    tail = " " if after and not after.startswith((" ", "\n")) else ""
    return f"{before}{lead}{text}{tail}{after}"


def planted_documents(documents: list[str], plants: list[Plant], count: int, seed: int = 7) -> list[tuple[Plant, str]]:
    """`count` plants drawn from `plants`, each inserted into a document drawn from `documents`
    (the same draw for the same arguments)."""
    rng = random.Random(seed)
    return [(row, plant(rng.choice(documents), row.text, rng)) for row in rng.sample(plants, min(count, len(plants)))]


def _lost_a_sentence(result: PipelineResult) -> bool:
    return any(v.scanner == "indirect_injection" and v.findings for v in result.verdicts)


def changed(result: PipelineResult) -> bool:
    """Whether a benign document reaches the model changed: blocked whole, or a sentence cut."""
    return result.blocked or _lost_a_sentence(result)


def caught(result: PipelineResult, planted: str) -> bool:
    """Whether a planted request is kept from the model: its document blocked, or the request cut."""
    return result.blocked or planted.rstrip(".") not in result.text


def _flagged(result: PipelineResult) -> bool:
    """Sent on to the model and to human review (an enforced flag)."""
    return not result.blocked and bool(result.flagged_by)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.indirect_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--half", choices=["tune", "report"], default="report")
    parser.add_argument("--planted", type=int, default=800, help="how many planted documents (default 800)")
    parser.add_argument("--documents", type=int, help="use only the first N benign documents (a quick look)")
    parser.add_argument(
        "--corpus",
        choices=sorted(CORPORA),
        default="packages",
        help="benign documents: installed distributions' descriptions, or the project's e-mails and code answers",
    )
    parser.add_argument("--train-data", type=Path, default=Path("../shared/eval/train-safety"))
    parser.add_argument("--config", type=Path, default=Path("services/config/gateway-prod.yaml"))
    parser.add_argument(
        "--attacks-from", type=Path, help="plant the attack rows (report half) of this labelled JSONL file instead"
    )
    args = parser.parse_args(argv)
    if args.attacks_from is not None and not args.attacks_from.is_file():
        parser.error(f"--attacks-from: no file {args.attacks_from}")
    if args.attacks_from is None and not (args.train_data / "injection.jsonl").is_file():
        parser.error(f"--train-data: no injection.jsonl under {args.train_data}")
    try:
        pipeline = ScannerPipeline.from_config(load_scanners_config(args.config))
    except ConfigError as error:
        parser.error(f"--config: {error}")
    documents = CORPORA[args.corpus](args.half)[: args.documents]
    if not documents:
        parser.error(f"--corpus {args.corpus}: no benign documents in the {args.half} half")

    blocked = lost = flagged = 0
    for number, document in enumerate(documents, start=1):
        result = pipeline.scan_input(document, third_party=True)
        blocked += result.blocked
        lost += not result.blocked and _lost_a_sentence(result)
        flagged += _flagged(result)
        if number % 200 == 0:
            print(f"  benign documents: {number}/{len(documents)}", file=sys.stderr, flush=True)
    plants = evaluation_attacks(args.attacks_from) if args.attacks_from else planted_rows(args.train_data, args.half)
    if not plants:
        parser.error("nothing to plant: the file has no attack rows in its report half")
    kept_out: Counter[str] = Counter()
    to_review: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for row, document in planted_documents(documents, plants, args.planted):
        result = pipeline.scan_input(document, third_party=True)
        seen[row.family] += 1
        is_caught = caught(result, row.text)
        kept_out[row.family] += is_caught
        to_review[row.family] += not is_caught and _flagged(result)
    total = sum(seen.values())
    print(f"half: {args.half}; corpus: {args.corpus}; configuration: {args.config}")
    share = f"blocked {blocked / len(documents):.3f}; lost a sentence {lost / len(documents):.3f}"
    print(f"benign documents: {len(documents)}; {share}; flagged for review {flagged / len(documents):.3f}")
    print(f"planted requests caught: {sum(kept_out.values()) / total:.3f} of {total};"
          f" not caught but flagged for review {sum(to_review.values()) / total:.3f}")
    for family in sorted(seen):
        print(f"  {family}: {kept_out[family]}/{seen[family]} (+{to_review[family]} flagged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
