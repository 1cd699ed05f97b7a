"""Train the prompt-injection and toxicity models from the labelled eval data (offline tool).

    python -m tools.scanner_train --eval-dir ../shared/eval

Only rows in the "tune" half (`eval.split_of`) are used, so every "report" row stays unseen.
The decision threshold is chosen on out-of-fold predictions within the tune half and folded
into the bias, so a probability of 0.5 is the tuned cut-off. Runs are deterministic: the same
data gives the same weights file. Sources and licences are written into each model file.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.gateway.scanners.injection import INJECTION_MODEL_PATH, injection_patterns
from services.gateway.scanners.textmodel import LinearTextModel, features, train_logistic_regression
from services.gateway.scanners.toxicity import TOXICITY_MODEL_PATH, toxicity_patterns
from tools.scanner_eval import LabelledRow, load_rows, split_of

__all__ = ["ModelSpec", "main", "train"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    files: tuple[tuple[str, str], ...]  # (path under the eval dir, licence)
    extra_features: Callable[[str], Iterable[str]] | None
    max_fpr: float | None  # pick the threshold with the best recall under this FPR, else best F1
    output: Path
    exclude_categories: frozenset[str] = frozenset()
    exclude_category_prefixes: tuple[str, ...] = ()


INJECTION = ModelSpec(
    name="prompt_injection",
    files=(
        ("injecguard-notinject/normalized.jsonl", "MIT (InjecGuard, BIPIA); WildGuardTest ODC-BY-1.0"),
        ("injecguard-notinject/valid_mixed.jsonl", "MIT (InjecGuard); its Lakera PINT rows are not used"),
        ("llm-guard-tests/prompt_injection.jsonl", "MIT (protectai/llm-guard)"),
    ),
    extra_features=injection_patterns,
    max_fpr=0.02,
    output=INJECTION_MODEL_PATH,
    # BIPIA's "task" attacks are ordinary requests ("Recommend a good book") that are attacks
    # only when planted in a document the user did not write. From the text alone they are
    # benign prompts; training on them as attacks teaches the model to block everyday requests.
    exclude_categories=frozenset(
        f"BIPIA-text/{task}"
        for task in (
            "Task Automation",
            "Business Intelligence",
            "Conversational Agent",
            "Research Assistance",
            "Sentiment Analysis",
        )
    ),
    # Lakera's PINT set is access-restricted; its sample rows are not ours to train on.
    exclude_category_prefixes=("PINT",),
)

TOXICITY = ModelSpec(
    name="toxicity",
    files=(
        ("davidson-hate-offensive/sample_stratified.jsonl", "MIT (t-davidson/hate-speech-and-offensive-language)"),
        ("toxigen-demonstrations/normalized.jsonl", "MIT (microsoft/TOXIGEN)"),
    ),
    extra_features=toxicity_patterns,
    max_fpr=0.10,
    output=TOXICITY_MODEL_PATH,
)

FOLDS = 5


def train(spec: ModelSpec, eval_dir: Path) -> LinearTextModel:
    rows: list[LabelledRow] = []
    held_out: set[str] = set()
    for relative, _ in spec.files:
        for row in load_rows(eval_dir / relative):
            if split_of(row.id) == "tune":
                rows.append(row)
            else:
                held_out.add(row.text.strip())
    # The same text can sit in two files under two ids: never train on a text that is reported.
    rows = [
        row
        for row in rows
        if row.text.strip() not in held_out
        and row.category not in spec.exclude_categories
        and not row.category.startswith(spec.exclude_category_prefixes)
    ]
    print(f"{spec.name}: {len(rows)} tune rows ({sum(r.is_positive for r in rows)} positive)", file=sys.stderr)
    vectors = [features(row.text, spec.extra_features) for row in rows]
    labels = [row.is_positive for row in rows]

    out_of_fold = [0.0] * len(rows)
    for fold in range(FOLDS):
        train_index = [i for i in range(len(rows)) if i % FOLDS != fold]
        weights, bias = train_logistic_regression([vectors[i] for i in train_index], [labels[i] for i in train_index])
        model = LinearTextModel.from_sparse(weights, bias, {})
        for i in range(fold, len(rows), FOLDS):
            out_of_fold[i] = model.probability(vectors[i])
        print(f"  fold {fold + 1}/{FOLDS} done", file=sys.stderr)
    threshold, recall, fpr = _choose_threshold(out_of_fold, labels, spec.max_fpr)
    print(f"  threshold {threshold:.3f}: out-of-fold recall {recall:.3f}, FPR {fpr:.3f}", file=sys.stderr)

    weights, bias = train_logistic_regression(vectors, labels)
    calibrated_bias = bias - math.log(threshold / (1.0 - threshold))
    metadata: dict[str, object] = {
        "model": spec.name,
        "trained_by": "python -m tools.scanner_train",
        "sources": [{"file": relative, "licence": licence} for relative, licence in spec.files],
        "rows": "tune half only: sha256(id)[0] is even (tools.scanner_eval.split_of)",
        "tune_rows": len(rows),
        "tune_positives": sum(labels),
        "threshold_on_raw_probability": round(threshold, 4),
        "out_of_fold_recall": round(recall, 4),
        "out_of_fold_fpr": round(fpr, 4),
    }
    return LinearTextModel.from_sparse(weights, calibrated_bias, metadata)


def _choose_threshold(
    scores: Sequence[float], labels: Sequence[bool], max_fpr: float | None
) -> tuple[float, float, float]:
    positives = sum(labels)
    negatives = len(labels) - positives
    best: tuple[float, float, float, float] | None = None  # (objective, threshold, recall, fpr)
    for step in range(5, 96):
        threshold = step / 100
        tp = sum(1 for s, y in zip(scores, labels, strict=True) if y and s >= threshold)
        fp = sum(1 for s, y in zip(scores, labels, strict=True) if not y and s >= threshold)
        recall, fpr = tp / positives, fp / negatives
        if max_fpr is not None:
            if fpr > max_fpr:
                continue
            objective = recall
        else:
            objective = 2 * tp / (2 * tp + fp + (positives - tp)) if tp else 0.0
        if best is None or objective > best[0]:
            best = (objective, threshold, recall, fpr)
    if best is None:
        raise ValueError("no threshold meets the false-positive limit")
    return best[1], best[2], best[3]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.scanner_train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--eval-dir", type=Path, required=True, help="the shared labelled eval data (../shared/eval)")
    parser.add_argument("--model", choices=("prompt_injection", "toxicity"), help="only this model (default: both)")
    args = parser.parse_args(argv)
    if not args.eval_dir.is_dir():
        parser.error(f"--eval-dir: {args.eval_dir} is not a directory")
    for spec in (INJECTION, TOXICITY):
        if args.model in (None, spec.name):
            model = train(spec, args.eval_dir)
            model.save(spec.output)
            print(f"wrote {spec.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
