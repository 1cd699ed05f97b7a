"""The prompt embedder's cache, on the real MiniLM model: several texts in one batch, recent ones
never embedded twice."""

from __future__ import annotations

import numpy as np
import pytest

from services.gateway.scanners.embedding import PromptEmbedder, default_model_dir, weights_sha256


@pytest.fixture(scope="module")
def embedder() -> PromptEmbedder:
    model_dir = default_model_dir()
    return PromptEmbedder(model_dir, weights_sha256(model_dir))


def test_embed_all_batches_only_the_texts_it_has_not_seen(
    embedder: PromptEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = embedder.embed("Could you pick them up on your way back?")
    batches: list[list[str]] = []
    real_batch = embedder.embed_batch

    def counting(texts: list[str], batch_size: int = 64) -> np.ndarray:
        batches.append(list(texts))
        return real_batch(texts, batch_size)

    monkeypatch.setattr(embedder, "embed_batch", counting)
    texts = ["Also, could you recommend a dentist?", "Could you pick them up on your way back?", "Write a limerick."]
    vectors = embedder.embed_all([*texts, texts[0]])
    assert batches == [["Also, could you recommend a dentist?", "Write a limerick."]]
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(vectors[1], seen)
    np.testing.assert_allclose(vectors[0], vectors[3])
    np.testing.assert_allclose(vectors[2], real_batch(["Write a limerick."])[0], atol=1e-5)
    embedder.embed_all(texts)
    assert len(batches) == 1  # all three are cached now
