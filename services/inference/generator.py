"""Chat-completion engines (no Ray here): chosen by `generator.engine` in the Serve config.

- `ExtractiveAnswerer`: answers only with retrieved passages, cites them, and says so plainly
  when nothing relevant is indexed. Deterministic; the local default.
- `TransformersChat`: a local Hugging Face causal LM directory, generated with transformers,
  concurrent requests continuously batched (services/inference/continuous_batching.py).
- `UpstreamChat`: forwards to an OpenAI-compatible server (vLLM in production) over httpx.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from services.data.index_store import PassageFilter
from services.inference.errors import InvalidRequest, UpstreamUnavailable
from services.inference.model_store import resolve_model_dir
from services.inference.schemas import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    ChunkToolCall,
    Citation,
    FunctionCall,
    Passage,
    ToolCall,
    Usage,
)
from services.inference.settings import GeneratorSettings

if TYPE_CHECKING:
    from services.inference.continuous_batching import Generation

__all__ = [
    "NOTHING_RELEVANT",
    "ChatEngine",
    "ExtractiveAnswerer",
    "Retrieve",
    "TransformersChat",
    "UpstreamChat",
    "make_chat_engine",
    "whitespace_tokens",
]

Retrieve = Callable[[str, int, PassageFilter | None], Awaitable[list[Passage]]]
"""(query, k, passage_filter): the `k` passages closest to the query that the filter admits."""

NOTHING_RELEVANT = (
    "I found nothing relevant to this question in the indexed documents, so I cannot answer it from them."
)


class ChatEngine(Protocol):
    """What the Generator deployment (and `bentoml serve`) calls."""

    async def complete(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> ChatCompletion:
        """The whole answer at once. `passage_filter`: the caller's (services/inference/caller.py);
        an engine that grounds its answer in retrieved passages uses only those it admits."""
        ...

    def stream(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> AsyncIterator[ChatCompletionChunk]:
        """The answer as ordered chunks: a role chunk, content chunks, then a finish chunk."""
        ...


def whitespace_tokens(text: str) -> int:
    """Token count used in `usage` by engines without a tokenizer."""
    return len(text.split())


def _prompt_tokens(request: ChatCompletionRequest) -> int:
    return sum(whitespace_tokens(m.text) for m in request.messages)


async def _chunks(
    model: str, pieces: AsyncIterator[str | list[ChunkToolCall]], finish: Callable[[], str],
    citations: list[Citation] | None = None,
) -> AsyncIterator[ChatCompletionChunk]:
    """OpenAI chunks from text pieces (and, from an upstream server, pieces of tool calls); the finish
    chunk carries the `citations`, as a whole answer's body does."""
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

    def chunk(delta: ChatDelta, finish_reason: str | None = None) -> ChatCompletionChunk:
        choice = ChatChunkChoice(delta=delta, finish_reason=finish_reason)
        return ChatCompletionChunk(id=completion_id, created=created, model=model, choices=[choice])

    yield chunk(ChatDelta(role="assistant", content=""))
    async for piece in pieces:
        if isinstance(piece, list):
            yield chunk(ChatDelta(tool_calls=piece))
        elif piece:
            yield chunk(ChatDelta(content=piece))
    yield chunk(ChatDelta(), finish()).model_copy(update={"citations": citations or []})


class ExtractiveAnswerer:
    """Grounded answers assembled from retrieved passages, with `[n]` citations; no invented text."""

    def __init__(self, settings: GeneratorSettings, retrieve: Retrieve) -> None:
        self.settings = settings
        self.retrieve = retrieve

    async def answer(self, question: str, passage_filter: PassageFilter | None = None) -> tuple[str, list[Citation]]:
        """The answer text and the passages it cites (only passages `passage_filter` admits)."""
        passages = await self.retrieve(question, self.settings.extractive.passages, passage_filter)
        relevant = [p for p in passages if p.score >= self.settings.extractive.min_score]
        if not relevant:
            return NOTHING_RELEVANT, []
        body = "\n\n".join(f"{p.text} [{n}]" for n, p in enumerate(relevant, start=1))
        sources = "\n".join(f"[{n}] {p.source}" for n, p in enumerate(relevant, start=1))
        citations = [
            Citation(index=n, source=p.source, score=p.score, passage_id=p.id, content_sha256=p.content_sha256,
                     index_version=p.index_version)
            for n, p in enumerate(relevant, start=1)
        ]
        return f"From the indexed documents:\n\n{body}\n\nSources:\n{sources}", citations

    async def complete(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> ChatCompletion:
        text, citations = await self.answer(request.question(), passage_filter)
        prompt, completion = _prompt_tokens(request), whitespace_tokens(text)
        return ChatCompletion(
            model=self.settings.model_name,
            choices=[ChatChoice(message={"role": "assistant", "content": text}, finish_reason="stop")],
            usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
            citations=citations,
        )

    async def stream(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None
    ) -> AsyncIterator[ChatCompletionChunk]:
        text, citations = await self.answer(request.question(), passage_filter)

        async def words() -> AsyncIterator[str]:
            for word in re.findall(r"\S+\s*|\s+", text):
                yield word

        async for chunk in _chunks(self.settings.model_name, words(), lambda: "stop", citations):
            yield chunk


class TransformersChat:
    """A causal LM loaded from a local (or downloaded and verified) Hugging Face directory.

    Concurrent requests share decode steps through a `ContinuousBatcher` (one background thread
    owns the model); a full queue answers `Overloaded` (503 + Retry-After), and a stream whose
    client goes away leaves the batch before the next step."""

    def __init__(self, settings: GeneratorSettings, model_dir: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from services.inference.continuous_batching import ContinuousBatcher, TokenPicker

        self.settings = settings
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
        # transformers wraps `Module.to` with functools.wraps, which mypy cannot bind to the instance.
        model.to(settings.device).eval()  # type: ignore[arg-type]
        eos = model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        self.context_length: int | None = getattr(model.config, "max_position_embeddings", None)
        self.batcher = ContinuousBatcher(
            model,
            picker=TokenPicker.from_generation_config(model.generation_config),
            eos_token_ids=[] if eos is None else [eos] if isinstance(eos, int) else eos,
            max_batch_size=settings.max_batch_size,
            max_queue=settings.max_queue,
            retry_after_s=settings.retry_after_s,
        )

    @classmethod
    def from_settings(cls, settings: GeneratorSettings) -> TransformersChat:
        assert settings.source is not None  # GeneratorSettings requires it for this engine
        return cls(settings, resolve_model_dir(settings.source))

    def prompt_ids(self, request: ChatCompletionRequest) -> list[int]:
        """The conversation as token ids, in the model's chat template when it has one."""
        messages = [{"role": m.role, "content": m.text} for m in request.messages]
        if getattr(self.tokenizer, "chat_template", None):
            prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            prompt = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
        ids: list[int] = self.tokenizer(prompt)["input_ids"]
        return ids

    def _submit(self, request: ChatCompletionRequest) -> Generation:
        """Queue the request, or raise `InvalidRequest` / `Overloaded` before any work starts."""
        from services.inference.continuous_batching import Sampling

        limit = request.token_limit() or self.settings.max_new_tokens
        if limit > self.settings.max_new_tokens:
            ceiling = self.settings.max_new_tokens
            raise InvalidRequest(f"max_tokens: at most {ceiling} for this model", field="max_tokens")
        prompt = self.prompt_ids(request)
        if self.context_length is not None and len(prompt) + limit > self.context_length:
            raise InvalidRequest(
                f"messages: {len(prompt)} prompt tokens plus max_tokens {limit} exceed this model's context of "
                f"{self.context_length} tokens",
                field="messages",
            )
        return self.batcher.submit(prompt, Sampling(limit, temperature=request.temperature, top_p=request.top_p))

    async def complete(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None  # retrieves nothing
    ) -> ChatCompletion:
        generation = self._submit(request)
        new_tokens = [token async for token in generation.tokens()]
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        prompt, completion = len(generation.prompt_ids), len(new_tokens)
        return ChatCompletion(
            model=self.settings.model_name,
            choices=[
                ChatChoice(message={"role": "assistant", "content": text}, finish_reason=generation.finish_reason)
            ],
            usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
        )

    async def stream(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None  # retrieves nothing
    ) -> AsyncIterator[ChatCompletionChunk]:
        # Submitted before the first chunk: the HTTP edge awaits that chunk before answering 200,
        # so a refused request still gets its own status (400, 503).
        generation = self._submit(request)
        text = _TextPieces(self.tokenizer)

        async def pieces() -> AsyncIterator[str]:
            async for token in generation.tokens():
                yield text.push(token)
            yield text.flush()

        try:
            async for chunk in _chunks(self.settings.model_name, pieces(), lambda: generation.finish_reason or "stop"):
                yield chunk
        finally:
            # A consumer that stops early (client gone) frees the slot now, not when this is collected.
            if generation.finish_reason is None:
                self.batcher.cancel(generation)


class _TextPieces:
    """A growing token list as text, piece by piece: never half a character, and the pieces join to
    what decoding the whole list gives (tokenizers that fold a leading space into a word included),
    at the cost of two decodes of a few tokens per token."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._start = self._read = 0

    def push(self, token: int) -> str:
        self.ids.append(token)
        return self._advance(final=False)

    def flush(self) -> str:
        return self._advance(final=True)

    def _advance(self, *, final: bool) -> str:
        before = self.tokenizer.decode(self.ids[self._start : self._read], skip_special_tokens=True)
        after = self.tokenizer.decode(self.ids[self._start :], skip_special_tokens=True)
        if len(after) <= len(before) or (after.endswith("\ufffd") and not final):
            return ""
        self._start, self._read = self._read, len(self.ids)
        return str(after[len(before) :])


class UpstreamChat:
    """Forwards to an OpenAI-compatible `/chat/completions`; failures are 502/504, never the client's."""

    def __init__(self, settings: GeneratorSettings) -> None:
        import httpx

        assert settings.upstream is not None  # GeneratorSettings requires it for this engine
        self.settings = settings
        self.upstream = settings.upstream
        headers = {}
        if self.upstream.api_key_env:
            key = os.environ.get(self.upstream.api_key_env)
            if not key:
                raise ValueError(f"generator.upstream.api_key_env: ${self.upstream.api_key_env} is not set")
            headers["Authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(self.upstream.timeout_s, connect=self.upstream.connect_timeout_s)
        base_url = self.upstream.base_url.rstrip("/") + "/"
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers)

    def _payload(self, request: ChatCompletionRequest, stream: bool) -> dict[str, Any]:
        payload = request.model_dump(exclude_none=True, exclude={"model", "stream", "max_completion_tokens"})
        if request.token_limit() is not None:
            payload["max_tokens"] = request.token_limit()
        return {**payload, "model": self.upstream.model, "stream": stream}

    def _failure(self, error: Exception) -> UpstreamUnavailable:
        import httpx

        timed_out = isinstance(error, httpx.TimeoutException)
        what = "timed out" if timed_out else f"failed: {error}"
        return UpstreamUnavailable(f"upstream {self.upstream.base_url} {what}", timed_out=timed_out)

    @staticmethod
    def _client_error(status: int, body: bytes) -> InvalidRequest:
        try:
            error = json.loads(body).get("error", {})
            message, field = str(error.get("message", "")), error.get("param")
        except (ValueError, AttributeError):
            message, field = body.decode(errors="replace")[:500], None
        return InvalidRequest(f"{field or 'request'}: upstream rejected the request ({status}): {message}", field=field)

    async def complete(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None  # retrieves nothing
    ) -> ChatCompletion:
        import httpx

        try:
            response = await self.client.post("chat/completions", json=self._payload(request, stream=False))
        except httpx.HTTPError as error:
            raise self._failure(error) from error
        if 400 <= response.status_code < 500:
            raise self._client_error(response.status_code, response.content)
        if response.status_code >= 500:
            raise UpstreamUnavailable(f"upstream answered {response.status_code}", timed_out=False)
        data = response.json()
        choice = data["choices"][0]
        message = choice.get("message") or {}
        tool_calls = [_tool_call(call) for call in message.get("tool_calls") or []]
        usage = data.get("usage") or {}
        prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        if tool_calls:
            reply = {"role": "assistant", "content": message.get("content"), "tool_calls": tool_calls}
            finish_reason = "tool_calls"
        else:
            reply = {"role": "assistant", "content": message.get("content") or ""}
            finish_reason = "length" if choice.get("finish_reason") == "length" else "stop"
        return ChatCompletion(
            model=self.settings.model_name,
            choices=[ChatChoice.model_validate({"message": reply, "finish_reason": finish_reason})],
            usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
        )

    async def stream(
        self, request: ChatCompletionRequest, passage_filter: PassageFilter | None = None  # retrieves nothing
    ) -> AsyncIterator[ChatCompletionChunk]:
        import httpx

        finish_reason = "stop"

        async def pieces() -> AsyncIterator[str | list[ChunkToolCall]]:
            nonlocal finish_reason
            try:
                payload = self._payload(request, stream=True)
                async with self.client.stream("POST", "chat/completions", json=payload) as response:
                    if 400 <= response.status_code < 500:
                        raise self._client_error(response.status_code, await response.aread())
                    if response.status_code >= 500:
                        raise UpstreamUnavailable(f"upstream answered {response.status_code}", timed_out=False)
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line.removeprefix("data:").strip()
                        if data == "[DONE]":
                            return
                        for choice in json.loads(data).get("choices", []):
                            if choice.get("finish_reason") in ("length", "tool_calls"):
                                finish_reason = choice["finish_reason"]
                            delta = choice.get("delta") or {}
                            if content := delta.get("content"):
                                yield content
                            if calls := delta.get("tool_calls"):
                                yield [_chunk_tool_call(call) for call in calls]
            except httpx.HTTPError as error:
                raise self._failure(error) from error

        async for chunk in _chunks(self.settings.model_name, pieces(), lambda: finish_reason):
            yield chunk


def _tool_call(call: dict[str, Any]) -> ToolCall:
    """A tool call of an upstream answer, kept to OpenAI's fields."""
    function = call.get("function") or {}
    return ToolCall(id=str(call["id"]), function=FunctionCall(name=str(function.get("name", "")),
                                                             arguments=str(function.get("arguments", ""))))


def _chunk_tool_call(call: dict[str, Any]) -> ChunkToolCall:
    """A streamed piece of an upstream tool call: the first has id and name, later ones add arguments."""
    function = call.get("function") or {}
    return ChunkToolCall(
        index=int(call.get("index", 0)), id=call.get("id"), type=call.get("type"),
        function={key: str(value) for key, value in function.items() if value is not None} or None,
    )


def make_chat_engine(settings: GeneratorSettings, retrieve: Retrieve) -> ChatEngine:
    """The engine named by `settings.engine`."""
    if settings.engine == "extractive":
        return ExtractiveAnswerer(settings, retrieve)
    if settings.engine == "transformers":
        return TransformersChat.from_settings(settings)
    if settings.engine == "openai":
        return UpstreamChat(settings)
    raise ValueError(f"generator.engine: unknown engine {settings.engine!r}")
