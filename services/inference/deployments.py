"""Ray Serve deployments doing the model work. Options here are defaults; the Serve config file
(services/config/serve-<env>.yaml) overrides replicas, autoscaling, resources and `user_config`.

The Generator records a GenAI span per call (services/telemetry.py) when the application is
deployed with tracing on, continuing the trace of the request that called it (`trace`, the W3C
context handed over with the call); it never starts a trace of its own."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import numpy.typing as npt
from opentelemetry.trace import Span
from ray import serve
from ray.serve.handle import DeploymentHandle

from platform_facts.project import PROJECT_NAME
from services.inference.embedder import SentenceEmbedder
from services.inference.generator import make_chat_engine, whitespace_tokens
from services.inference.metrics import batch_size_histogram, record_model_load
from services.inference.model_queue import MergingModelQueue
from services.inference.retriever import DocumentIndex, PassageFilter
from services.inference.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Passage,
    ReindexResult,
    Usage,
)
from services.inference.settings import BatchingSettings, EmbedderSettings, GeneratorSettings, RetrieverSettings
from services.telemetry import (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OPERATION_NAME,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    PROVIDER,
    Telemetry,
    TraceCarrier,
    TracingConfig,
    messages_attribute,
)

__all__ = ["BatchedEmbedder", "Embedder", "Generator", "Retriever"]


# What a deployment without `user_config` batches with (and the decorator's defaults).
DEFAULT_BATCHING = BatchingSettings()


def _sentences(requests: list[list[str]]) -> int:
    return sum(len(texts) for texts in requests)


class BatchedEmbedder:
    """The embedding model behind `@serve.batch`: concurrent requests share one model call.

    Used by the Embedder deployment and, when `embedder.in_ingress` is set, inside the Ingress
    replica itself (saving a replica hop per request on the hot embeddings path).
    """

    def __init__(self, settings: EmbedderSettings) -> None:
        started = time.perf_counter()
        self.model = SentenceEmbedder.from_settings(settings)
        record_model_load(settings.model_name, time.perf_counter() - started)
        self.batch_sizes = batch_size_histogram()
        self.max_batch_size = DEFAULT_BATCHING.max_batch_size
        self.model_queue = MergingModelQueue(self._observed_encode)
        self.bulk_queue = MergingModelQueue(self._observed_encode, max_texts=0)

    def configure(self, batching: BatchingSettings) -> None:
        self.max_batch_size = batching.max_batch_size
        # `@serve.batch` adds these setters to the method at run time; its annotations do not say so.
        self.embed_batch.set_max_batch_size(batching.max_batch_size)  # type: ignore[attr-defined]
        self.embed_batch.set_batch_wait_timeout_s(batching.batch_wait_timeout_s)  # type: ignore[attr-defined]
        self.model_queue.reconfigure(threads=batching.torch_threads, max_texts=batching.max_merged_batch_size)
        bulk_threads = batching.bulk_torch_threads or batching.torch_threads
        self.bulk_queue.reconfigure(threads=bulk_threads, max_texts=0)

    async def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embeddings of one request's texts (batched with other requests)."""
        if len(texts) >= self.max_batch_size:
            # A batch on its own (@serve.batch refuses oversize items): indexing a corpus, mostly,
            # which may use more threads than the request path without slowing it.
            return (await self._encode([texts], self.bulk_queue))[0]
        return await self.embed_batch(texts)

    # Up to 8 closed batches at once: they wait in the model queue, which merges them into one call.
    @serve.batch(
        max_batch_size=DEFAULT_BATCHING.max_batch_size,
        batch_wait_timeout_s=DEFAULT_BATCHING.batch_wait_timeout_s,
        max_concurrent_batches=8,
        batch_size_fn=_sentences,
    )
    async def embed_batch(self, requests: list[list[str]]) -> list[npt.NDArray[np.float32]]:
        return await self._encode(requests, self.model_queue)

    def _observed_encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.batch_sizes.observe(len(texts))
        return self.model.encode(texts)

    async def _encode(self, requests: list[list[str]], queue: MergingModelQueue) -> list[npt.NDArray[np.float32]]:
        flat = [text for texts in requests for text in texts]
        vectors = await queue.encode(flat)
        bounds = np.cumsum([0, *(len(texts) for texts in requests)])
        return [vectors[start:end] for start, end in itertools.pairwise(bounds)]


@serve.deployment(name="Embedder", max_ongoing_requests=512, ray_actor_options={"num_cpus": 0})
class Embedder:
    """Sentence embeddings for the Retriever (and for the API unless the Ingress embeds itself)."""

    def __init__(self, settings: EmbedderSettings) -> None:
        self.embedder = BatchedEmbedder(settings)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Serve hands the deployment's `user_config` over as a dict: validated here, by field."""
        self.embedder.configure(BatchingSettings.model_validate(user_config))

    async def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embeddings of one request's texts (batched with other requests)."""
        return await self.embedder.embed(texts)


@serve.deployment(name="Retriever", max_ongoing_requests=128, ray_actor_options={"num_cpus": 0})
class Retriever:
    """The document index; embeds queries and passages through the Embedder deployment."""

    # Serve awaits an async constructor: the replica is ready only once the index is open.
    async def __init__(self, settings: RetrieverSettings, embedder: DeploymentHandle[Any]) -> None:  # type: ignore[misc]
        self.settings = settings
        self.embedder = embedder
        self.index, self.last_build = await DocumentIndex.open(settings, self._embed)

    async def _embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        vectors: npt.NDArray[np.float32] = await self.embedder.embed.remote(texts)
        return vectors

    async def retrieve(self, query: str, k: int, passage_filter: PassageFilter | None = None) -> list[Passage]:
        """The `k` passages closest to `query` that `passage_filter` admits, best first."""
        vector = (await self._embed([query]))[0]
        return await self.index.search(vector, k, passage_filter)

    async def reindex(self) -> ReindexResult:
        """Ingest the corpus into a new index version and serve it; the old version serves until then."""
        self.last_build = await self.index.reindex()
        return self.last_build

    async def rollback(self, version: int) -> ReindexResult:
        """Serve an earlier index version again."""
        return await self.index.rollback(version)


@serve.deployment(name="Generator", max_ongoing_requests=64, ray_actor_options={"num_cpus": 0})
class Generator:
    """Chat completions from the configured engine, each call a span when `tracing` is enabled."""

    def __init__(
        self, settings: GeneratorSettings, retriever: DeploymentHandle[Any], tracing: TracingConfig | None = None
    ) -> None:
        started = time.perf_counter()
        self.telemetry = Telemetry(tracing or TracingConfig(), f"{PROJECT_NAME}-generator", starts_traces=False)

        async def retrieve(query: str, k: int, passage_filter: PassageFilter | None) -> list[Passage]:
            passages: list[Passage] = await retriever.retrieve.remote(query, k, passage_filter)
            return passages

        self.engine = make_chat_engine(settings, retrieve)
        record_model_load(settings.model_name, time.perf_counter() - started)

    async def complete(
        self, request: ChatCompletionRequest, trace: TraceCarrier | None = None,
        passage_filter: PassageFilter | None = None,
    ) -> ChatCompletion:
        """The whole answer; `passage_filter` is the caller's (services/inference/caller.py)."""
        if not self.telemetry.enabled:
            return await self.engine.complete(request, passage_filter)
        with self._span(request, trace) as span:
            completion = await self.engine.complete(request, passage_filter)
            reasons = [choice.finish_reason for choice in completion.choices]
            span.set_attributes({
                GEN_AI_RESPONSE_MODEL: completion.model,
                GEN_AI_RESPONSE_ID: completion.id,
                GEN_AI_RESPONSE_FINISH_REASONS: reasons,
                GEN_AI_USAGE_INPUT_TOKENS: completion.usage.prompt_tokens,
                GEN_AI_USAGE_OUTPUT_TOKENS: completion.usage.completion_tokens,
            })
            if self.telemetry.capture_content:
                answer = [{"role": "assistant", "content": choice.message.content} for choice in completion.choices]
                span.set_attribute(GEN_AI_OUTPUT_MESSAGES, messages_attribute(answer, reasons[0] if reasons else None))
            return completion

    async def stream(
        self, request: ChatCompletionRequest, trace: TraceCarrier | None = None,
        passage_filter: PassageFilter | None = None,
    ) -> AsyncIterator[ChatCompletionChunk]:
        if not self.telemetry.enabled:
            async for chunk in self.engine.stream(request, passage_filter):
                yield chunk
            return
        with self._span(request, trace) as span:
            record = _StreamRecord()
            async for chunk in self.engine.stream(request, passage_filter):
                record.see(chunk)
                yield chunk
            span.set_attributes(record.attributes(self.telemetry.capture_content))

    def _span(self, request: ChatCompletionRequest, trace: TraceCarrier | None) -> AbstractContextManager[Span]:
        attributes = _request_attributes(request, self.telemetry.capture_content)
        return self.telemetry.continued_span(trace, f"chat {request.model}", attributes)


class _StreamRecord:
    """What a traced stream has produced so far, for its span."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first_chunk_s: float | None = None
        self.text: list[str] = []
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def see(self, chunk: ChatCompletionChunk) -> None:
        pieces = [choice.delta.content for choice in chunk.choices if choice.delta.content]
        if self.first_chunk_s is None and (pieces or any(choice.delta.tool_calls for choice in chunk.choices)):
            self.first_chunk_s = time.perf_counter() - self.started
        self.text.extend(pieces)
        self.model = chunk.model
        self.finish_reason = next((c.finish_reason for c in chunk.choices if c.finish_reason), self.finish_reason)
        self.usage = chunk.usage or self.usage

    def attributes(self, capture: bool) -> dict[str, Any]:
        answer = "".join(self.text)
        # Without a usage chunk (`stream_options.include_usage`) the output is counted as the engines count it.
        output_tokens = self.usage.completion_tokens if self.usage else whitespace_tokens(answer)
        attributes: dict[str, Any] = {GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens}
        if self.usage:
            attributes[GEN_AI_USAGE_INPUT_TOKENS] = self.usage.prompt_tokens
        if self.model:
            attributes[GEN_AI_RESPONSE_MODEL] = self.model
        if self.first_chunk_s is not None:
            attributes[GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self.first_chunk_s
        if self.finish_reason:
            attributes[GEN_AI_RESPONSE_FINISH_REASONS] = [self.finish_reason]
        if capture:
            message = {"role": "assistant", "content": answer}
            attributes[GEN_AI_OUTPUT_MESSAGES] = messages_attribute([message], self.finish_reason)
        return attributes


def _request_attributes(request: ChatCompletionRequest, capture: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        GEN_AI_OPERATION_NAME: "chat",
        GEN_AI_PROVIDER_NAME: PROVIDER,
        GEN_AI_REQUEST_MODEL: request.model,
        GEN_AI_REQUEST_STREAM: request.stream,
        GEN_AI_REQUEST_TEMPERATURE: request.temperature,
    }
    if request.token_limit() is not None:
        attributes[GEN_AI_REQUEST_MAX_TOKENS] = request.token_limit()
    if capture:
        messages = [{"role": message.role, "content": message.text} for message in request.messages]
        attributes[GEN_AI_INPUT_MESSAGES] = messages_attribute(messages)
    return attributes
