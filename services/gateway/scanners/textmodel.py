"""A small linear text classifier: hashed word and character n-grams, logistic regression.

Fast enough to run on every request (a few hundred dictionary look-ups and one numpy dot
product for a 1 KB text), and trained reproducibly by `train.py`; the weights live in a small JSON
file next to this module.
"""

from __future__ import annotations

import array
import base64
import collections
import functools
import itertools
import json
import math
import random
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["LinearTextModel", "features", "train_logistic_regression"]

BUCKETS = 1 << 16
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[^\w\s]")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

FeatureHook = Callable[[str], Iterable[str]]


def features(text: str, extra: FeatureHook | None = None) -> dict[int, float]:
    """Hashed, L2-normalised counts of words, word pairs and character 4-grams, plus `extra` flags."""
    vector = dict(_ngram_vector(text))
    if extra is not None:
        # Named patterns are few and deliberate: each counts 1, outside the length
        # normalisation, so a short pattern in a long text is not drowned by it.
        for name in extra(text):
            bucket = _bucket(f"x:{name}")
            vector[bucket] = vector.get(bucket, 0.0) + 1.0
    return vector


# One request's text meets several linear models (prompt_injection, the semantic gate, input
# toxicity): the n-gram vector is computed once for them. Callers get a copy (`features`).
@functools.lru_cache(maxsize=8)
def _ngram_vector(text: str) -> Mapping[int, float]:
    normalised = unicodedata.normalize("NFKC", text).lower()
    words = _WORD.findall(normalised)
    buckets: list[int] = []
    for word in words:
        buckets.extend(_word_buckets(word))
    buckets += map(_pair_bucket, words, itertools.islice(words, 1, None))
    counts = collections.Counter(buckets)
    norm = math.sqrt(sum(value * value for value in counts.values())) or 1.0
    return {bucket: value / norm for bucket, value in counts.items()}


def _bucket(name: str) -> int:
    return zlib.crc32(name.encode()) % BUCKETS


@functools.lru_cache(maxsize=1 << 16)
def _pair_bucket(first: str, second: str) -> int:
    return _bucket(f"b:{first} {second}")


# Words repeat across requests far more than texts do: memoising a word's buckets (the word
# itself and its character n-grams) is what keeps `features` well under a millisecond per KB.
@functools.lru_cache(maxsize=1 << 16)
def _word_buckets(word: str) -> tuple[int, ...]:
    names = [f"w:{word}"]
    if not word.isascii() and _CJK.search(word):
        # Scripts written without spaces: character pairs stand in for words.
        names += [f"k:{word[i : i + 2]}" for i in range(len(word) - 1)]
    elif len(word) > 3:
        padded = f" {word} "
        names += [f"c:{padded[i : i + 4]}" for i in range(len(padded) - 3)]
    return tuple(_bucket(name) for name in names)


@dataclass(frozen=True)
class LinearTextModel:
    """Logistic regression over `features`; `probability` is calibrated so 0.5 is the tuned cut.

    Weights are dense (one per hash bucket) and stored as int8 with one scale factor: 64 KiB of
    weights, base64 in a JSON file, lose less than 1% of a weight's range to rounding.
    """

    weights: Sequence[float]
    bias: float
    metadata: Mapping[str, object]
    _dense: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A 1 KB text has several hundred features and meets three or four of these models per
        # request: one gather and one dot product in numpy cost a tenth of a Python loop over them.
        object.__setattr__(self, "_dense", np.asarray(self.weights, dtype=np.float64))

    def probability(self, vector: dict[int, float]) -> float:
        size = len(vector)
        buckets = np.fromiter(vector.keys(), dtype=np.intp, count=size)
        values = np.fromiter(vector.values(), dtype=np.float64, count=size)
        z = self.bias + float(self._dense[buckets] @ values)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def from_sparse(cls, weights: Mapping[int, float], bias: float, metadata: Mapping[str, object]) -> LinearTextModel:
        dense = [0.0] * BUCKETS
        for bucket, weight in weights.items():
            dense[bucket] = weight
        return cls(dense, bias, metadata)

    @classmethod
    def load(cls, path: Path) -> LinearTextModel:
        data = json.loads(path.read_text())
        quantised = array.array("b", base64.b64decode(data["weights_int8"]))
        if len(quantised) != BUCKETS:
            raise ValueError(f"{path}: weights_int8 holds {len(quantised)} weights, expected {BUCKETS}")
        scale = float(data["scale"])
        return cls([value * scale for value in quantised], float(data["bias"]), data["metadata"])

    def save(self, path: Path) -> None:
        scale = max(abs(weight) for weight in self.weights) / 127 or 1.0
        quantised = array.array("b", (round(weight / scale) for weight in self.weights))
        document = {
            "metadata": self.metadata,
            "bias": round(self.bias, 6),
            "scale": scale,
            "weights_int8": base64.b64encode(quantised.tobytes()).decode(),
        }
        path.write_text(json.dumps(document, indent=1) + "\n")


def train_logistic_regression(
    vectors: Sequence[dict[int, float]],
    labels: Sequence[bool],
    *,
    epochs: int = 30,
    learning_rate: float = 0.5,
    l2: float = 1e-4,
    seed: int = 0,
) -> tuple[dict[int, float], float]:
    """Class-balanced logistic regression by AdaGrad SGD; returns (weights, bias)."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("labels: training needs both positive and negative examples")
    class_weight = {True: len(labels) / (2 * positives), False: len(labels) / (2 * negatives)}
    weights: dict[int, float] = {}
    squared: dict[int, float] = {}
    bias, bias_squared = 0.0, 1e-8
    order = list(range(len(vectors)))
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(order)
        for index in order:
            vector, label = vectors[index], labels[index]
            z = bias + sum(weights.get(b, 0.0) * v for b, v in vector.items())
            prediction = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            error = (prediction - (1.0 if label else 0.0)) * class_weight[label]
            for bucket, value in vector.items():
                gradient = error * value + l2 * weights.get(bucket, 0.0)
                squared[bucket] = squared.get(bucket, 1e-8) + gradient * gradient
                weights[bucket] = weights.get(bucket, 0.0) - learning_rate * gradient / math.sqrt(squared[bucket])
            bias_squared += error * error
            bias -= learning_rate * error / math.sqrt(bias_squared)
    return weights, bias
