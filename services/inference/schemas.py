"""Request and response schemas of the inference API (OpenAI-compatible where OpenAI defines one).

Unknown fields are ignored on OpenAI requests, as OpenAI clients send optional extras (`user`,
`stream_options`); every field we act on is validated and a bad value is a 400 naming the field.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from platform_facts.project import PROJECT_NAME

__all__ = [
    "AssistantMessage",
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
    "ModelCard",
    "ModelList",
    "Passage",
    "RagQuery",
    "RagResult",
    "ReindexResult",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "ToolChoice",
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
    dimensions: int | None = Field(default=None, ge=1)
    """Length of the vectors; a model that cannot produce that length answers 400 (never a silent mismatch)."""

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


class FunctionCall(_Response):
    """The function a model asks to call, with its arguments as a JSON string."""

    name: str
    arguments: str


class ToolCall(_Response):
    """One call an assistant turn asks the application to make."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_OpenAIRequest):
    """One message of a conversation."""

    role: Literal["system", "user", "assistant", "tool", "developer"]
    """Who said it."""
    content: str | None = Field(default=None, max_length=MAX_INPUT_CHARS)
    """The text (text parts are joined); null only on an assistant turn that calls tools."""
    tool_calls: list[ToolCall] | None = None
    """On an assistant turn: the tool calls it made (what the openai client sends back)."""
    tool_call_id: str | None = Field(default=None, min_length=1)
    """On a tool message: the id of the call it answers."""
    name: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _join_text_parts(cls, value: object) -> object:
        # OpenAI clients may send [{"type": "text", "text": ...}]; text parts are joined.
        if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
            return "".join(str(p.get("text", "")) for p in value)
        return value

    @model_validator(mode="after")
    def _roles_carry_their_fields(self) -> ChatMessage:
        if self.role == "tool" and self.tool_call_id is None:
            raise ValueError("tool_call_id: required on a tool message (the id of the call it answers)")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content: required (null only on an assistant turn with tool_calls)")
        return self

    @property
    def text(self) -> str:
        return self.content or ""


class FunctionDefinition(_OpenAIRequest):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    """What the model calls it by."""
    description: str | None = None
    parameters: dict[str, Any] | None = None
    """A JSON Schema object for the arguments."""
    strict: bool | None = None


class Tool(_OpenAIRequest):
    """A function the model may ask the application to call."""

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(_OpenAIRequest):
    name: str


class NamedToolChoice(_OpenAIRequest):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class StreamOptions(_OpenAIRequest):
    include_usage: bool = False
    """Send one more chunk before `[DONE]` with `usage` and no choices."""


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
    tools: list[Tool] | None = Field(default=None, max_length=128)
    """Functions the model may call; engines that cannot call tools answer in text."""
    tool_choice: ToolChoice | None = None
    """`auto` (default with tools), `none`, `required` or a named function; the last two need an
    engine that can call tools (400 otherwise)."""
    parallel_tool_calls: bool | None = None
    stream_options: StreamOptions | None = None
    """With `stream`: `include_usage` adds a usage chunk at the end."""

    @model_validator(mode="after")
    def _tool_choice_names_a_tool(self) -> ChatCompletionRequest:
        if isinstance(self.tool_choice, NamedToolChoice):
            names = {tool.function.name for tool in self.tools or []}
            if self.tool_choice.function.name not in names:
                raise ValueError(f"tool_choice: {self.tool_choice.function.name!r} is not one of the request's tools")
        if self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice: 'required' needs at least one tool")
        return self

    def demands_tool_call(self) -> bool:
        """True when the client requires a tool call (an engine that cannot make one must refuse)."""
        return self.tool_choice == "required" or isinstance(self.tool_choice, NamedToolChoice)

    def include_usage(self) -> bool:
        return self.stream and self.stream_options is not None and self.stream_options.include_usage

    def token_limit(self) -> int | None:
        """The effective generation limit requested, if any."""
        return self.max_completion_tokens or self.max_tokens

    def question(self) -> str:
        """The last user message (what the extractive engine answers)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text
        return self.messages[-1].text


class Citation(_Response):
    """A passage an extractive answer quotes."""

    index: int
    """The `[n]` marker used in the answer text."""
    source: str
    """Document path and heading."""
    score: float
    """Cosine similarity to the question."""
    passage_id: str | None = None
    """The cited passage's id in the index (lineage)."""
    content_sha256: str | None = None
    """SHA-256 of the cited passage's text."""
    index_version: int | None = None
    """The index version the passage came from."""


class ChunkToolCall(_Response):
    """A piece of a tool call in a stream: the first piece has id, type and name; later ones add arguments."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: dict[str, str] | None = None


class ChatDelta(_Response):
    """Incremental message content of a streamed chunk."""

    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ChunkToolCall] | None = Field(default=None, exclude_if=lambda value: value is None)


FinishReason = Literal["stop", "length", "tool_calls"]


class AssistantMessage(_Response):
    """The generated message: text, or the tool calls the model asks for."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | None = Field(default=None, exclude_if=lambda value: value is None)


class ChatChoice(_Response):
    """The generated message."""

    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason


class ChatChunkChoice(_Response):
    """One streamed piece of the generated message."""

    index: int = 0
    delta: ChatDelta
    finish_reason: FinishReason | None = None


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
    citations: list[Citation] = Field(default=[], exclude_if=lambda citations: not citations)
    """On the finish chunk: the passages the answer is grounded in (extractive engine); left out elsewhere."""
    """Empty on the usage chunk (`stream_options.include_usage`)."""
    usage: Usage | None = Field(default=None, exclude_if=lambda value: value is None)


class ModelCard(_Response):
    """One entry of `GET /v1/models`."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = PROJECT_NAME
    kind: Literal["embedding", "chat"]
    """What the model serves: `/v1/embeddings` or `/v1/chat/completions`."""
    tools: bool = False
    """Whether the model can call tools (needed for `tool_choice: required` or a named function)."""


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
    id: str | None = None
    """The passage's id in the index (lineage: `make lineage`)."""
    content_sha256: str | None = None
    """SHA-256 of `text` as indexed."""
    index_version: int | None = None
    """The index version the passage was served from."""


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
    version: int | None = None
    """The index version now served."""
    run_id: str | None = None
    """The ingestion run that wrote it (lineage)."""
