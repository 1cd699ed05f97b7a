"""The model interface the HTTP layer (and the safety gateway) calls.

`Models` is the whole contract: the BentoML service never knows whether the models run in
other Ray Serve replicas (`services.app.ServeModels`, over DeploymentHandles) or in its own
process (`InProcessModels`, used by plain `bentoml serve` and the benchmarks' baselines). A
gateway that needs fallbacks or canary routing wraps or swaps a `Models`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Protocol

import numpy as np
import numpy.typing as npt

from services.data.index_store import PassageFilter
from services.inference.embedder import SentenceEmbedder
from services.inference.generator import ChatEngine, make_chat_engine
from services.inference.retriever import DocumentIndex
from services.inference.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ModelCard,
    Passage,
    ReindexResult,
)
from services.inference.settings import AppArgs

__all__ = ["InProcessModels", "Models", "model_cards"]


class Models(Protocol):
    """Model work behind the public API."""

    def cards(self) -> list[ModelCard]:
        """The models served, as `GET /v1/models` lists them."""
        ...

    async def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Unit-length embeddings, one row per text, in order."""
        ...

    async def retrieve(self, query: str, k: int, passage_filter: PassageFilter | None = None) -> list[Passage]:
        """The `k` indexed passages closest to `query` that `passage_filter` admits (the caller's:
        services/inference/caller.py), best first."""
        ...

    async def reindex(self) -> ReindexResult:
        """Rebuild the document index from the configured corpus, without a restart."""
        ...

    async def generate(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> ChatCompletion:
        """A whole chat completion, grounded only in passages `passage_filter` admits."""
        ...

    def generate_stream(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> AsyncIterator[ChatCompletionChunk]:
        """A chat completion as ordered chunks, grounded only in passages `passage_filter` admits."""
        ...


def model_cards(args: AppArgs) -> list[ModelCard]:
    """The models an application built from `args` serves."""
    return [
        ModelCard(id=args.embedder.model_name, kind="embedding"),
        # Only an upstream OpenAI-compatible server (vLLM) can answer with tool calls.
        *(ModelCard(id=chat.model_name, kind="chat", tools=chat.engine == "openai") for chat in args.generators),
    ]


class InProcessModels:
    """Every model in this process, loaded on first use (for `bentoml serve` and baselines)."""

    def __init__(self, args: AppArgs) -> None:
        self.args = args
        self._index: DocumentIndex | None = None
        self._index_lock = asyncio.Lock()

    def cards(self) -> list[ModelCard]:
        return model_cards(self.args)

    @cached_property
    def embedder(self) -> SentenceEmbedder:
        return SentenceEmbedder.from_settings(self.args.embedder)

    @cached_property
    def chat_engines(self) -> dict[str, ChatEngine]:
        """One engine per served chat model, by the name clients pass as `model`."""
        return {settings.model_name: make_chat_engine(settings, self.retrieve) for settings in self.args.generators}

    async def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return await asyncio.to_thread(self.embedder.encode, texts)

    async def _opened_index(self) -> DocumentIndex:
        async with self._index_lock:
            if self._index is None:
                self._index, _ = await DocumentIndex.open(self.args.retriever, self.embed)
        return self._index

    async def reindex(self) -> ReindexResult:
        return await (await self._opened_index()).reindex()

    async def retrieve(self, query: str, k: int, passage_filter: PassageFilter | None = None) -> list[Passage]:
        vector = (await self.embed([query]))[0]
        return await (await self._opened_index()).search(vector, k, passage_filter)

    async def generate(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> ChatCompletion:
        return await self.chat_engines[request.model].complete(request, passage_filter)

    async def generate_stream(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> AsyncIterator[ChatCompletionChunk]:
        async for chunk in self.chat_engines[request.model].stream(request, passage_filter):
            yield chunk
