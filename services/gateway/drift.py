"""Input drift: how far today's prompts are from a baseline, as two numbers the dashboards plot.

- length shift: |current mean length − baseline mean length| / baseline mean length;
- centroid shift: cosine distance between the current mean embedding and the baseline's.

Current statistics are exponential moving averages over about `window` inputs. Embeddings are
not computed for drift's sake (that would double the model load): the gateway feeds the vectors
the `/v1/embeddings` route returns anyway, and the prompt embedding the semantic scanners
computed for a request (`PipelineResult.embedding`: one vector per text, shared). With the
scanners' lexical gate on (`scanners.semantic.gate`), only texts the gate found risky are
embedded, so the centroid then describes those texts; turn the gate off where drift must see
every prompt. The baseline comes from a JSON file (`{"mean_length": float, "centroid":
[float, ...]}`, written by `write_baseline`) or, without one, from the first `warmup` inputs seen.

A centroid means something only within one model's vector space, and the two sources can be two
models (a deployment may serve a larger embedding model than the scanners' MiniLM): the baseline's
size, or else the first vector's, fixes the space, and vectors of another size are left out of it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

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
    return tuple(float(x) for x in np.asarray(vectors, dtype=np.float64).mean(axis=0))


def _cosine_distance(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 1.0 - float(a @ b) / norm if norm else 0.0


class DriftTracker:
    def __init__(self, baseline: Baseline | None, window: int, warmup: int) -> None:
        self._alpha = 2.0 / (window + 1)
        self._warmup = warmup
        self._baseline_length = baseline.mean_length if baseline else None
        self._baseline_centroid = (
            np.asarray(baseline.centroid, dtype=np.float64) if baseline and baseline.centroid else None
        )
        self._length_sum = 0.0
        self._lengths_seen = 0
        self._centroid_sum: npt.NDArray[np.float64] | None = None
        self._vectors_seen = 0
        self.mean_length: float | None = None
        self.centroid: npt.NDArray[np.float64] | None = None

    def observe_text(self, length: int) -> None:
        self.mean_length = length if self.mean_length is None else (
            self.mean_length + self._alpha * (length - self.mean_length)
        )
        if self._baseline_length is None:
            self._length_sum += length
            self._lengths_seen += 1
            if self._lengths_seen >= self._warmup:
                self._baseline_length = self._length_sum / self._lengths_seen

    def observe_embedding(self, vector: Sequence[float] | npt.NDArray[np.float64]) -> None:
        current = np.asarray(vector, dtype=np.float64)
        space = self._baseline_centroid if self._baseline_centroid is not None else self.centroid
        if space is not None and space.shape != current.shape:
            return  # another model's vector: see the module docstring
        if self.centroid is None:
            self.centroid = current.copy()
        else:
            self.centroid += self._alpha * (current - self.centroid)
        if self._baseline_centroid is None:
            self._centroid_sum = current.copy() if self._centroid_sum is None else self._centroid_sum + current
            self._vectors_seen += 1
            if self._vectors_seen >= self._warmup:
                self._baseline_centroid = self._centroid_sum / self._vectors_seen

    @property
    def length_shift(self) -> float:
        if self._baseline_length is None or self.mean_length is None or self._baseline_length == 0:
            return 0.0
        return abs(self.mean_length - self._baseline_length) / self._baseline_length

    @property
    def centroid_shift(self) -> float:
        if self._baseline_centroid is None or self.centroid is None:
            return 0.0
        return _cosine_distance(self.centroid, self._baseline_centroid)
