"""The public HTTP API: one BentoML service over the `Models` it is given.

- OpenAI-compatible routes (`GET /v1/models`, `POST /v1/embeddings`, `POST /v1/chat/completions`
  with server-sent events) are a small Starlette app mounted into the service, because OpenAI's
  wire format (SSE or JSON on one route, `{"error": {...}}` bodies) is not BentoML's.
- Native BentoML APIs (`/v1/rag/query`, `/v1/rag/reindex`, `/embed`) are what the BentoML client
  calls.

`build_inference_service` is called once per process with the models to use: Ray Serve's
ingress passes DeploymentHandle-backed ones, `services/inference/dev.py` in-process ones.
Client mistakes become 4xx here, at the edge, and nowhere else.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

import bentoml
import numpy as np
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from platform_facts.project import PROJECT_NAME
from services.inference.caller import passage_filter_for
from services.inference.error_shape import ErrorBody, ErrorResponse, OpenAIErrorShape
from services.inference.errors import InvalidRequest, Overloaded, RequestError, UnknownModel, UpstreamUnavailable
from services.inference.generator import whitespace_tokens
from services.inference.models import Models
from services.inference.schemas import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    EmbeddingData,
    EmbeddingRequest,
    EmbeddingResponse,
    ModelList,
    RagResult,
    ReindexResult,
    Usage,
)
from services.telemetry import continued_trace

__all__ = ["SERVICE_NAME", "build_inference_service", "build_openai_app", "error_response"]

SERVICE_NAME = f"{PROJECT_NAME}-inference"
ModelT = TypeVar("ModelT", bound=BaseModel)


def error_response(
    status: int, message: str, field: str | None, code: str = "invalid_request", headers: dict[str, str] | None = None
) -> JSONResponse:
    """OpenAI's error body; `param` names the field at fault, `code` the precise reason."""
    kind: Literal["invalid_request_error", "server_error"] = "invalid_request_error" if status < 500 else "server_error"
    body = ErrorResponse(error=ErrorBody(message=message, type=kind, param=field, code=code))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# A model validator's message names the field it is about ("tool_call_id: required ..."): it joins the path.
_NAMED_FIELD = re.compile(r"^([a-z_]+): (.*)$", re.DOTALL)


def _validation_error(error: ValidationError) -> JSONResponse:
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if named := _NAMED_FIELD.match(message):
        field = f"{field}.{named.group(1)}" if field else named.group(1)
        message = named.group(2)
    field = field or "body"
    return error_response(400, f"{field}: {message}", field)


def _cause(error: BaseException) -> BaseException:
    """The original error behind a Ray task error (duck-typed: this module does not need Ray)."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


async def _parse(request: Request, schema: type[ModelT]) -> ModelT | JSONResponse:
    body = await request.body()
    try:
        return schema.model_validate_json(body)
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors()):
            return error_response(400, "body: not valid JSON", "body")
        return _validation_error(error)


Endpoint = Callable[[Request], Awaitable[Response]]


def _at_edge(endpoint: Endpoint) -> Endpoint:
    """Client mistakes and upstream failures become status codes here; anything else is a bug."""

    async def guarded(request: Request) -> Response:
        try:
            with continued_trace(request.headers):  # the gateway's trace goes on to the model deployments
                return await endpoint(request)
        except Exception as error:
            cause = _cause(error)
            if isinstance(cause, RequestError):
                return error_response(cause.status, cause.message, cause.field, cause.code)
            if isinstance(cause, UpstreamUnavailable):
                return error_response(cause.status, str(cause), None, cause.code)
            if isinstance(cause, Overloaded):
                return error_response(cause.status, str(cause), None, cause.code, headers=cause.headers())
            raise

    return guarded


def build_openai_app(models: Models) -> Starlette:
    """The OpenAI-compatible routes over `models`."""
    cards = models.cards()
    embedding_models = {c.id for c in cards if c.kind == "embedding"}
    chat_models = {c.id for c in cards if c.kind == "chat"}
    tool_models = {c.id for c in cards if c.kind == "chat" and c.tools}

    def check_model(model: str, served: set[str]) -> None:
        if model not in served:
            raise UnknownModel(model, sorted(served))

    async def list_models(_: Request) -> Response:
        return Response(ModelList(data=cards).model_dump_json(), media_type="application/json")

    async def retrieve_model(request: Request) -> Response:
        model_id = request.path_params["model_id"]
        card = next((card for card in cards if card.id == model_id), None)
        if card is None:
            raise UnknownModel(model_id, [card.id for card in cards])
        return Response(card.model_dump_json(), media_type="application/json")

    async def embeddings(request: Request) -> Response:
        parsed = await _parse(request, EmbeddingRequest)
        if isinstance(parsed, JSONResponse):
            return parsed
        check_model(parsed.model, embedding_models)
        texts = parsed.input
        vectors = await models.embed(texts)
        if parsed.dimensions is not None and parsed.dimensions != vectors.shape[1]:
            raise InvalidRequest(
                f"dimensions: {parsed.model} produces {vectors.shape[1]}-dimensional embeddings and cannot "
                f"shorten them to {parsed.dimensions}",
                field="dimensions",
            )
        if parsed.encoding_format == "base64":
            encoded: list[list[float] | str] = [
                base64.b64encode(row.astype("<f4").tobytes()).decode() for row in vectors
            ]
        else:
            encoded = vectors.tolist()
        tokens = sum(whitespace_tokens(t) for t in texts)
        response = EmbeddingResponse(
            data=[EmbeddingData(index=i, embedding=e) for i, e in enumerate(encoded)],
            model=parsed.model,
            usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
        )
        return Response(response.model_dump_json(), media_type="application/json")

    async def chat_completions(request: Request) -> Response:
        parsed = await _parse(request, ChatCompletionRequest)
        if isinstance(parsed, JSONResponse):
            return parsed
        try:
            passage_filter = passage_filter_for(request.headers)
        except ValidationError as error:
            return _validation_error(error)
        check_model(parsed.model, chat_models)
        if parsed.demands_tool_call() and parsed.model not in tool_models:
            raise InvalidRequest(
                f"tool_choice: {parsed.model} cannot call tools; use 'auto' or 'none'", field="tool_choice"
            )
        if not parsed.stream:
            completion = await models.generate(parsed, passage_filter)
            return Response(completion.model_dump_json(), media_type="application/json")
        chunks = models.generate_stream(parsed, passage_filter).__aiter__()
        # Pull the first chunk before answering 200, so a bad request or a dead upstream
        # still gets a proper status instead of a broken stream.
        first = await anext(chunks)

        async def events() -> AsyncIterator[str]:
            generated: list[str] = []
            try:
                chunk = first
                while True:
                    generated.extend(choice.delta.content or "" for choice in chunk.choices)
                    yield f"data: {chunk.model_dump_json()}\n\n"
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                if parsed.include_usage():
                    yield f"data: {_usage_chunk(first, parsed, ''.join(generated)).model_dump_json()}\n\n"
            except Exception as error:  # the status line is gone: report in-band, as OpenAI does
                cause = _cause(error)
                message = cause.message if isinstance(cause, RequestError) else str(cause)
                in_band = {"error": {"message": message, "type": "server_error", "param": None,
                                     "code": "stream_failed"}}
                yield f"data: {json.dumps(in_band)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    routes = [
        Route("/v1/models", _at_edge(list_models), methods=["GET"]),
        Route("/v1/models/{model_id:path}", _at_edge(retrieve_model), methods=["GET"]),
        Route("/v1/embeddings", _at_edge(embeddings), methods=["POST"]),
        Route("/v1/chat/completions", _at_edge(chat_completions), methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _usage_chunk(first: ChatCompletionChunk, request: ChatCompletionRequest, generated: str) -> ChatCompletionChunk:
    """The last chunk `stream_options.include_usage` asks for: no choices, the usage of the whole answer."""
    prompt = sum(whitespace_tokens(message.text) for message in request.messages)
    completion = whitespace_tokens(generated)
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
    return ChatCompletionChunk(id=first.id, created=first.created, model=first.model, choices=[], usage=usage)


RagText = Annotated[str, Field(min_length=1, max_length=32_000, description="The question or search text.")]
RagK = Annotated[int, Field(ge=1, le=50, description="How many passages to return.")]
Texts = Annotated[
    list[Annotated[str, Field(min_length=1)]], Field(min_length=1, max_length=256, description="Texts to embed.")
]


def build_inference_service(
    models_factory: Callable[[], Models], *, bentoml_metrics: bool = False
) -> bentoml.Service[Any]:
    """A BentoML service class whose instances serve `models_factory()`.

    BentoML instantiates service classes itself, without arguments, so the models reach the
    instance through this closure rather than through `bentoml.depends` (which cannot carry a
    Ray DeploymentHandle without private attributes). Under Ray, BentoML's metrics stay off
    (they need `bentoml serve`'s multiprocess setup) and Ray Serve's are exported instead.
    """
    models = models_factory()

    @bentoml.service(name=SERVICE_NAME, metrics={"enabled": bentoml_metrics}, traffic={"timeout": 300})
    @bentoml.asgi_app(build_openai_app(models), path="/")
    class Inference:
        """Embeddings, retrieval and OpenAI-compatible chat over the configured models."""

        def __init__(self) -> None:
            self.models = models

        @bentoml.api(route="/v1/rag/query")
        async def rag_query(self, query: RagText, ctx: bentoml.Context, k: RagK = 4) -> RagResult:
            """Ranked passages from the indexed documents, each with its source and score; through the
            gateway, only passages for the caller's tenant cleared for its data class."""
            # A bad caller header raises pydantic's ValidationError: BentoML answers 400 naming it.
            passage_filter = passage_filter_for(ctx.request.headers)
            return RagResult(query=query, passages=await self.models.retrieve(query, k, passage_filter))

        @bentoml.api(route="/v1/rag/reindex")
        async def rag_reindex(self) -> ReindexResult:
            """Rebuild the document index from the configured corpus without restarting."""
            return await self.models.reindex()

        @bentoml.api(route="/embed")
        async def embed(self, texts: Texts) -> list[list[float]]:
            """Unit-length embeddings of `texts`, in order (BentoML-native form of /v1/embeddings)."""
            vectors: np.ndarray = await self.models.embed(texts)
            return vectors.tolist()  # type: ignore[no-any-return]

    service: bentoml.Service[Any] = Inference
    service.add_asgi_middleware(OpenAIErrorShape)
    return service
