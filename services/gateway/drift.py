"""Input drift: how far today's prompts are from a baseline, as two numbers the dashboards plot.

- length shift: |current mean length − baseline mean length| / baseline mean length;
- centroid shift: cosine distance between the current mean embedding and the baseline's.

Current statistics are exponential moving averages over about `window` inputs. Embeddings are
not computed for drift's sake (that would double the model load): the gateway feeds the vectors
the `/v1/embeddings` route returns anyway. The baseline comes from a JSON file
(`{"mean_length": float, "centroid": [float, ...]}`, written by `write_baseline`) or, without one,
from the first `warmup` inputs seen.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.gateway.errors import ConfigError

__all__ = ["Baseline", "DriftTracker", "load_baseline", "write_baseline"]


@dataclass(frozen=True)
class Baseline:
    mean_length: float
    centroid: tuple[float, ...] | None


def load_baseline(path: Path) -> Baseline:
    try:
        raw = json.loads(path.read_text())
        centroid = raw.get("centroid")
        return Baseline(float(raw["mean_length"]), tuple(float(x) for x in centroid) if centroid else None)
    except FileNotFoundError:
        raise ConfigError(f"drift.baseline: no such file {path}") from None
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"drift.baseline: {path.name} is not a drift baseline: {error}") from None


def write_baseline(path: Path, lengths: Sequence[int], embeddings: Sequence[Sequence[float]]) -> Baseline:
    centroid = _mean_vector(embeddings) if embeddings else None
    baseline = Baseline(sum(lengths) / max(len(lengths), 1), centroid)
    path.write_text(json.dumps({"mean_length": baseline.mean_length, "centroid": list(centroid or [])}))
    return baseline


def _mean_vector(vectors: Sequence[Sequence[float]]) -> tuple[float, ...]:
    dimensions = len(vectors[0])
    return tuple(sum(vector[i] for vector in vectors) / len(vectors) for i in range(dimensions))


def _cosine_distance(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 1.0 - dot / norm if norm else 0.0


class DriftTracker:
    def __init__(self, baseline: Baseline | None, window: int, warmup: int) -> None:
        self._alpha = 2.0 / (window + 1)
        self._warmup = warmup
        self._baseline_length = baseline.mean_length if baseline else None
        self._baseline_centroid = list(baseline.centroid) if baseline and baseline.centroid else None
        self._length_sum = 0.0
        self._lengths_seen = 0
        self._centroid_sum: list[float] | None = None
        self._vectors_seen = 0
        self.mean_length: float | None = None
        self.centroid: list[float] | None = None

    def observe_text(self, length: int) -> None:
        self.mean_length = length if self.mean_length is None else (
            self.mean_length + self._alpha * (length - self.mean_length)
        )
        if self._baseline_length is None:
            self._length_sum += length
            self._lengths_seen += 1
            if self._lengths_seen >= self._warmup:
                self._baseline_length = self._length_sum / self._lengths_seen

    def observe_embedding(self, vector: Sequence[float]) -> None:
        if self.centroid is None or len(self.centroid) != len(vector):
            self.centroid = list(vector)
        else:
            self.centroid = [c + self._alpha * (v - c) for c, v in zip(self.centroid, vector, strict=True)]
        if self._baseline_centroid is None:
            self._centroid_sum = (
                list(vector) if self._centroid_sum is None
                else [s + v for s, v in zip(self._centroid_sum, vector, strict=True)]
            )
            self._vectors_seen += 1
            if self._vectors_seen >= self._warmup:
                self._baseline_centroid = [s / self._vectors_seen for s in self._centroid_sum]

    @property
    def length_shift(self) -> float:
        if self._baseline_length is None or self.mean_length is None or self._baseline_length == 0:
            return 0.0
        return abs(self.mean_length - self._baseline_length) / self._baseline_length

    @property
    def centroid_shift(self) -> float:
        if self._baseline_centroid is None or self.centroid is None:
            return 0.0
        if len(self._baseline_centroid) != len(self.centroid):
            return 1.0
        return _cosine_distance(self.centroid, self._baseline_centroid)
