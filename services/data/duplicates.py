"""Exact and near-duplicate detection over a run's documents.

Exact: SHA-256 of the whitespace-normalised text. Near: MinHash signatures of word 5-gram shingles,
bucketed by locality-sensitive hashing (bands of rows), confirmed by the signatures' estimated
Jaccard similarity; linear in the corpus, so it scales past what pairwise comparison can.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["DuplicateFinder", "DuplicateOf", "Fingerprint", "normalized_sha256"]

_PRIME = (1 << 61) - 1
_WORD = re.compile(r"\w+")


def normalized_sha256(text: str) -> str:
    """The hash two copies of a text share whatever their whitespace and case."""
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """A text's exact hash and MinHash signature (None for texts too short to shingle)."""

    exact: str
    signature: npt.NDArray[np.uint64] | None


@dataclass(frozen=True)
class DuplicateOf:
    """The earlier document a text repeats."""

    document_id: str
    exact: bool
    similarity: float


@dataclass
class DuplicateFinder:
    """Remembers the documents accepted so far; `check` says which earlier one a text repeats."""

    threshold: float = 0.9
    """Estimated Jaccard similarity of shingles at or above which a text is a near-duplicate."""
    permutations: int = 128
    bands: int = 32
    shingle_words: int = 5
    seed: int = 1
    _exact: dict[str, str] = field(default_factory=dict)
    _buckets: dict[tuple[int, bytes], list[int]] = field(default_factory=dict)
    _signatures: list[npt.NDArray[np.uint64]] = field(default_factory=list)
    _ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.permutations % self.bands:
            raise ValueError("permutations: must be a multiple of bands")
        rng = np.random.default_rng(self.seed)
        self._a = rng.integers(1, _PRIME, self.permutations, dtype=np.uint64)
        self._b = rng.integers(0, _PRIME, self.permutations, dtype=np.uint64)

    def _signature(self, text: str) -> npt.NDArray[np.uint64] | None:
        words = _WORD.findall(text.lower())
        if len(words) < self.shingle_words:
            return None  # too short to compare by shapes; the exact hash still applies
        shingles = {" ".join(words[i : i + self.shingle_words]) for i in range(len(words) - self.shingle_words + 1)}
        hashes = np.array(
            [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") >> 3 for s in shingles],
            dtype=np.uint64,
        )
        # (a*x + b) mod p on uint64 overflows; the wrapped value is still a fine hash family for this use.
        with np.errstate(over="ignore"):
            permuted = (hashes[:, None] * self._a[None, :] + self._b[None, :]) % np.uint64(_PRIME)
        signature: npt.NDArray[np.uint64] = permuted.min(axis=0)
        return signature

    def fingerprint(self, text: str) -> Fingerprint:
        """What `check_fingerprint` compares: computed anywhere (a Ray worker), compared in one place."""
        return Fingerprint(normalized_sha256(text), self._signature(text))

    def check(self, document_id: str, text: str) -> DuplicateOf | None:
        """The earlier document `text` duplicates, or None (then it is remembered)."""
        return self.check_fingerprint(document_id, self.fingerprint(text))

    def check_fingerprint(self, document_id: str, fingerprint: Fingerprint) -> DuplicateOf | None:
        """The earlier document with this fingerprint, or None (then it is remembered)."""
        exact, signature = fingerprint.exact, fingerprint.signature
        if exact in self._exact:
            return DuplicateOf(self._exact[exact], exact=True, similarity=1.0)
        if signature is not None:
            rows = self.permutations // self.bands
            keys = [(band, signature[band * rows : (band + 1) * rows].tobytes()) for band in range(self.bands)]
            candidates = {index for key in keys for index in self._buckets.get(key, [])}
            best = max(
                ((float(np.mean(self._signatures[i] == signature)), i) for i in candidates), default=(0.0, -1)
            )
            if best[0] >= self.threshold:
                return DuplicateOf(self._ids[best[1]], exact=False, similarity=round(best[0], 3))
            index = len(self._signatures)
            self._signatures.append(signature)
            self._ids.append(document_id)
            for key in keys:
                self._buckets.setdefault(key, []).append(index)
        self._exact[exact] = document_id
        return None
