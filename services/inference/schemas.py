"""Request and response schemas of the inference API (OpenAI-compatible where OpenAI defines one).

Unknown fields are ignored on OpenAI requests, as OpenAI clients send optional extras (`user`,
`stream_options`); every field we act on is validated and a bad value is a 400 naming the field.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ChatChoice",
    "ChatChunkChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatDelta",
    "ChatMessage",
    "Citation",
    "EmbeddingData",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "ErrorBody",
    "ErrorResponse",
    "ModelCard",
    "ModelList",
    "Passage",
    "RagQuery",
    "RagResult",
    "ReindexResult",
    "Usage",
]

MAX_EMBEDDING_INPUTS = 256
MAX_INPUT_CHARS = 32_000


class _OpenAIRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


NonEmptyText = Annotated[str, Field(min_length=1, max_length=MAX_INPUT_CHARS)]


class EmbeddingRequest(_OpenAIRequest):
    """`POST /v1/embeddings`."""

    model: str = Field(min_length=1)
    """Name of an embedding model from `GET /v1/models`."""
    input: Annotated[list[NonEmptyText], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    """One text or a list of up to 256 texts (a single string is read as a list of one)."""
    encoding_format: Literal["float", "base64"] = "float"
    """`float` returns lists of numbers; `base64` little-endian float32 bytes (the openai client's default)."""

    @field_validator("input", mode="before")
    @classmethod
    def _one_text_is_a_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class EmbeddingData(_Response):
    """One embedding, in input order."""

    object: Literal["embedding"] = "embedding"
    index: int
    """Position of the input this embedding belongs to."""
    embedding: list[float] | str
    """Unit-length vector, or base64 float32 bytes when requested."""


class Usage(_Response):
    """Token counts (whitespace tokens for the built-in models)."""

    prompt_tokens: int
    """Tokens in the request."""
    completion_tokens: int = 0
    """Tokens generated."""
    total_tokens: int
    """Sum of the two."""


class EmbeddingResponse(_Response):
    """Response of `POST /v1/embeddings`."""

    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: Usage


class ChatMessage(_OpenAIRequest):
    """One message of a conversation."""

    role: Literal["system", "user", "assistant", "tool", "developer"]
    """Who said it."""
    content: str = Field(max_length=MAX_INPUT_CHARS)
    """The text (structured content parts are not supported)."""

    @field_validator("content", mode="before")
    @classmethod
    def _join_text_parts(cls, value: object) -> object:
        # OpenAI clients may send [{"type": "text", "text": ...}]; text parts are joined.
        if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
            return "".join(str(p.get("text", "")) for p in value)
        return value


class ChatCompletionRequest(_OpenAIRequest):
    """`POST /v1/chat/completions`."""

    model: str = Field(min_length=1)
    """Name of a chat model from `GET /v1/models`."""
    messages: list[ChatMessage] = Field(min_length=1, max_length=256)
    """The conversation so far; the last user message is the question."""
    stream: bool = False
    """Send the answer as server-sent events (`chat.completion.chunk` objects, then `[DONE]`)."""
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    """Upper bound on generated tokens (`max_completion_tokens` is accepted as an alias)."""
    max_completion_tokens: int | None = Field(default=None, ge=1, le=8192)
    """Newer OpenAI name for `max_tokens`."""
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    """Sampling temperature; 0 is greedy (the extractive engine is always deterministic)."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    n: Literal[1] = 1
    """Only one choice is generated."""

    def token_limit(self) -> int | None:
        """The effective generation limit requested, if any."""
        return self.max_completion_tokens or self.max_tokens

    def question(self) -> str:
        """The last user message (what the extractive engine answers)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return self.messages[-1].content


class Citation(_Response):
    """A passage an extractive answer quotes."""

    index: int
    """The `[n]` marker used in the answer text."""
    source: str
    """Document path and heading."""
    score: float
    """Cosine similarity to the question."""


class ChatDelta(_Response):
    """Incremental message content of a streamed chunk."""

    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChoice(_Response):
    """The generated message."""

    index: int = 0
    message: dict[str, str]
    """`{"role": "assistant", "content": ...}`."""
    finish_reason: Literal["stop", "length"]


class ChatChunkChoice(_Response):
    """One streamed piece of the generated message."""

    index: int = 0
    delta: ChatDelta
    finish_reason: Literal["stop", "length"] | None = None


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


class ChatCompletion(_Response):
    """Response of `POST /v1/chat/completions` without streaming."""

    id: str = Field(default_factory=_completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[ChatChoice]
    usage: Usage
    citations: list[Citation] = []
    """Passages the answer is grounded in (extractive engine); empty for free generation."""


class ChatCompletionChunk(_Response):
    """One server-sent event of a streamed chat completion."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]


class ModelCard(_Response):
    """One entry of `GET /v1/models`."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "rampart"
    kind: Literal["embedding", "chat"]
    """What the model serves: `/v1/embeddings` or `/v1/chat/completions`."""


class ModelList(_Response):
    """Response of `GET /v1/models`."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class RagQuery(BaseModel):
    """`POST /v1/rag/query`."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_INPUT_CHARS)
    """The question or search text."""
    k: int = Field(default=4, ge=1, le=50)
    """How many passages to return."""


class Passage(_Response):
    """A ranked chunk of an indexed document."""

    source: str
    """Document path relative to its corpus root, with the heading it sits under (`serving.md#Config`)."""
    text: str
    """The passage text."""
    score: float
    """Cosine similarity to the query, in [-1, 1]; higher is closer."""


class RagResult(_Response):
    """Response of `POST /v1/rag/query`."""

    query: str
    passages: list[Passage]
    """Best first."""


class ReindexResult(_Response):
    """Response of `POST /v1/rag/reindex`."""

    documents: int
    """Files indexed."""
    passages: int
    """Chunks in the new index."""
    seconds: float
    """Time the rebuild took."""


class ErrorBody(_Response):
    """OpenAI-style error object."""

    message: str
    type: Literal["invalid_request_error", "not_found_error", "upstream_error"]
    param: str | None
    """The request field at fault, when there is one."""
    code: str | None = None


class ErrorResponse(_Response):
    """Every 4xx/5xx the OpenAI routes return."""

    error: ErrorBody
