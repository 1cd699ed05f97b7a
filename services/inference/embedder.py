"""Sentence embeddings from a sentence-transformers model directory (no Ray here)."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.inference.model_store import resolve_model_dir
from services.inference.settings import EmbedderSettings

__all__ = ["SentenceEmbedder"]

logger = logging.getLogger(__name__)

# Inputs the trace is recorded on and checked against: padded batches of different shapes (a
# trace taken on an unpadded batch would drop the attention mask), plus a lone sentence.
_TRACE_EXAMPLE = ["The embedder traces the model once", "on a padded batch, so masks are recorded in the graph"]
_TRACE_PROBES = (
    ["a lone sentence"],
    ["three sentences of", "quite different lengths, so the batch is padded to the longest of them", "ok"],
)


class SentenceEmbedder:
    """Unit-length sentence embeddings; `encode` takes a whole batch at once."""

    def __init__(self, model_dir: Path, *, device: str = "cpu", trace: bool = False) -> None:
        from sentence_transformers import SentenceTransformer

        started = time.perf_counter()
        self.model = SentenceTransformer(str(model_dir), device=device, local_files_only=True).eval()
        dimensions = self.model.get_embedding_dimension()
        if dimensions is None:
            raise ValueError(f"{model_dir}: the model does not declare its embedding dimension")
        self.dimensions: int = dimensions
        self.traced: Any = self._verified_trace() if trace else None
        self.load_seconds = time.perf_counter() - started

    @classmethod
    def from_settings(cls, settings: EmbedderSettings) -> SentenceEmbedder:
        """Resolve (download, verify) the configured model and load it."""
        return cls(resolve_model_dir(settings.source), device=settings.device, trace=settings.trace)

    def _features(self, texts: list[str]) -> dict[str, Any]:
        """Tokenized `texts` as the model's tensors (sentence-transformers adds non-tensor keys)."""
        import torch

        features = self.model.preprocess(texts)
        return {key: value.to(self.model.device) for key, value in features.items() if isinstance(value, torch.Tensor)}

    def _verified_trace(self) -> Any:
        """The whole sentence-transformers pipeline (transformer, pooling, ...) as one TorchScript
        graph, or None when it cannot be traced faithfully.

        Why: eager PyTorch dispatches a few hundred small ops per batch from Python, taking and
        releasing the GIL around each, and in a replica whose event loop is busy with HTTP and the
        safety gateway every re-acquisition waits (measured: a batch of 16 took 8x longer beside a
        busy Python thread eager, 2x traced). The traced graph runs those ops in C++ with the GIL
        released. The trace is checked against eager on batches of other shapes before it is used.
        """
        import torch

        try:
            with torch.inference_mode(), warnings.catch_warnings():
                # torch marks jit.trace deprecated in favour of torch.export/compile, which need a C++
                # toolchain and minutes of compilation at load; tracer warnings are what the probes check.
                warnings.simplefilter("ignore")
                traced = torch.jit.freeze(
                    torch.jit.trace(self.model, (self._features(_TRACE_EXAMPLE),), strict=False, check_trace=False)
                )
                for probe in _TRACE_PROBES:
                    features = self._features(probe)
                    expected = self.model(dict(features))["sentence_embedding"]
                    got = traced(features)["sentence_embedding"]
                    if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-4, rtol=1e-3):
                        raise ValueError(f"traced output differs from eager on a batch of {len(probe)}")
        except Exception as error:
            logger.warning("embedder: serving the model eagerly, tracing failed: %s", error)
            return None
        return traced

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embeddings of `texts`, shape (len(texts), dimensions), rows of unit length."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if self.traced is not None:
            import torch

            with torch.inference_mode():
                embeddings = self.traced(self._features(texts))["sentence_embedding"]
                normalized: npt.NDArray[np.float32] = (
                    torch.nn.functional.normalize(embeddings, dim=-1).float().cpu().numpy()
                )
                return normalized
        vectors = self.model.encode(
            texts,
            batch_size=max(len(texts), 1),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
