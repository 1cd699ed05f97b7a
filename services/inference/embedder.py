"""Sentence embeddings from a sentence-transformers model directory (no Ray here)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.inference.model_store import resolve_model_dir
from services.inference.settings import EmbedderSettings

__all__ = ["SentenceEmbedder"]


class SentenceEmbedder:
    """Unit-length sentence embeddings; `encode` takes a whole batch at once."""

    def __init__(self, model_dir: Path, *, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        started = time.perf_counter()
        self.model = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        self.load_seconds = time.perf_counter() - started
        dimensions = self.model.get_embedding_dimension()
        if dimensions is None:
            raise ValueError(f"{model_dir}: the model does not declare its embedding dimension")
        self.dimensions: int = dimensions

    @classmethod
    def from_settings(cls, settings: EmbedderSettings) -> SentenceEmbedder:
        """Resolve (download, verify) the configured model and load it."""
        return cls(resolve_model_dir(settings.source), device=settings.device)

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embeddings of `texts`, shape (len(texts), dimensions), rows of unit length."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=max(len(texts), 1),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
