"""Input drift: how far today's prompts are from a baseline, as numbers the dashboards plot.

- length shift: |current mean length − baseline mean length| / baseline mean length;
- centroid shift, per vector space: cosine distance between the current mean embedding and the
  baseline's.

Current statistics are exponential moving averages over about `window` inputs. Embeddings are
not computed for drift's sake (that would double the model load): the gateway feeds the embedding
the semantic scanners computed for an input text (`PipelineResult.embedding`: one vector per text,
shared), and the vectors the `/v1/embeddings` route returns anyway. Each population of texts has
its own space, centroid and baseline: `input:<route kind>` for what users send (`input:chat`,
`input:rag`, `input:embeddings`: the passages an application embeds are scanned too),
`tool_content:<route kind>` for third-party documents in tool messages, and `model:<model>` for an
embedding model's answers. A centroid means something only within one model's vectors and one
population: with one centroid for all, a busier embeddings route or longer tool results would read
as prompt drift. With the scanners' lexical gate on (`scanners.semantic.gate`), only texts the gate
found risky are embedded, so the input centroids then describe those texts; turn the gate off where
drift must see every prompt. The baseline comes from a JSON file (`{"mean_length": float,
"centroids": {space: [float, ...]}}`, written by `write_baseline`) or, for a space it does not name,
from the first `warmup` vectors seen there. A vector of another size than its space's first (or its
baseline's) is left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.gateway.errors import ConfigError

__all__ = ["Baseline", "DriftTracker", "input_space", "load_baseline", "model_space", "write_baseline"]


def input_space(route_kind: str, *, third_party: bool = False) -> str:
    """The space of the scanners' vectors of one route kind's input texts (`input:chat`), or of the
    third-party documents in its tool messages (`tool_content:chat`)."""
    return f"{'tool_content' if third_party else 'input'}:{route_kind}"


def model_space(model: str) -> str:
    """The space of the vectors an embedding model returned (`model:minilm`)."""
    return f"model:{model}"


@dataclass(frozen=True)
class Baseline:
    mean_length: float
    centroids: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    """Space → the baseline's mean vector there."""


def load_baseline(path: Path) -> Baseline:
    try:
        raw = json.loads(path.read_text())
        centroids = raw.get("centroids") or {}
        if not isinstance(centroids, dict):
            raise TypeError(f"centroids must map a space to a vector, not {type(centroids).__name__}")
        return Baseline(
            float(raw["mean_length"]),
            {str(space): tuple(float(x) for x in vector) for space, vector in centroids.items() if vector},
        )
    except FileNotFoundError:
        raise ConfigError(f"drift.baseline: no such file {path}") from None
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"drift.baseline: {path.name} is not a drift baseline: {error}") from None


def write_baseline(
    path: Path, lengths: Sequence[int], embeddings: Mapping[str, Sequence[Sequence[float]]]
) -> Baseline:
    """Write the baseline of `lengths` and, per space, of its `embeddings`."""
    centroids = {space: _mean_vector(vectors) for space, vectors in embeddings.items() if vectors}
    baseline = Baseline(sum(lengths) / max(len(lengths), 1), centroids)
    path.write_text(json.dumps({
        "mean_length": baseline.mean_length,
        "centroids": {space: list(vector) for space, vector in centroids.items()},
    }))
    return baseline


def _mean_vector(vectors: Sequence[Sequence[float]]) -> tuple[float, ...]:
    return tuple(float(x) for x in np.asarray(vectors, dtype=np.float64).mean(axis=0))


def _cosine_distance(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 1.0 - float(a @ b) / norm if norm else 0.0


class _MovingMean:
    """A moving mean of values of one shape (a length, or one space's vectors) and its baseline:
    given, or the mean of the first `warmup` values."""

    def __init__(self, baseline: npt.NDArray[np.float64] | None, alpha: float, warmup: int) -> None:
        self._alpha = alpha
        self._warmup = warmup
        self.baseline = baseline
        self.current: npt.NDArray[np.float64] | None = None
        self._sum: npt.NDArray[np.float64] | None = None
        self._seen = 0

    def observe(self, value: npt.NDArray[np.float64]) -> None:
        shape = self.baseline if self.baseline is not None else self.current
        if shape is not None and shape.shape != value.shape:
            return  # another space's vector: see the module docstring
        if self.current is None:
            self.current = value.copy()
        else:
            self.current += self._alpha * (value - self.current)
        if self.baseline is None:
            self._sum = value.copy() if self._sum is None else self._sum + value
            self._seen += 1
            if self._seen >= self._warmup:
                self.baseline = self._sum / self._seen


class DriftTracker:
    def __init__(self, baseline: Baseline | None, window: int, warmup: int) -> None:
        self._alpha = 2.0 / (window + 1)
        self._warmup = warmup
        self._length = self._moving_mean(baseline.mean_length if baseline else None)
        self._baseline_centroids = dict(baseline.centroids) if baseline else {}
        self._centroids: dict[str, _MovingMean] = {}

    def _moving_mean(self, baseline: float | Sequence[float] | None) -> _MovingMean:
        given = None if baseline is None else np.asarray(baseline, dtype=np.float64)
        return _MovingMean(given, self._alpha, self._warmup)

    def observe_text(self, length: int) -> None:
        self._length.observe(np.asarray(float(length)))

    def observe_embedding(self, vector: Sequence[float] | npt.NDArray[np.float64], space: str) -> None:
        """Move `space`'s centroid towards `vector`."""
        centroid = self._centroids.get(space)
        if centroid is None:
            centroid = self._centroids[space] = self._moving_mean(self._baseline_centroids.get(space))
        centroid.observe(np.asarray(vector, dtype=np.float64))

    def centroid(self, space: str) -> npt.NDArray[np.float64] | None:
        """`space`'s current moving centroid (None before its first vector)."""
        found = self._centroids.get(space)
        return found.current if found else None

    def centroid_shift(self, space: str) -> float:
        found = self._centroids.get(space)
        if found is None or found.baseline is None or found.current is None:
            return 0.0
        return _cosine_distance(found.current, found.baseline)

    @property
    def mean_length(self) -> float | None:
        return None if self._length.current is None else float(self._length.current)

    @property
    def length_shift(self) -> float:
        baseline, current = self._length.baseline, self._length.current
        if baseline is None or current is None or baseline == 0:
            return 0.0
        return float(abs(current - baseline) / baseline)
