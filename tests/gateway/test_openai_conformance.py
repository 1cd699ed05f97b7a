"""OpenAI conformance: the `openai` client (sync and async, streaming and not) against the gateway
in front of the real application on Ray Serve (the session's gated application).

Each test drives one part of OpenAI's contract a client relies on: the model list and one model,
embeddings and their `dimensions`, chat with tools and tool-call turns, `stream_options.include_usage`,
and the error object (`{"error": {"message", "type", "param", "code"}}`, 400 for invalid requests).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest

from services.gateway import local_api_key
from tests.fixtures.serve import Gated

pytestmark = pytest.mark.serve

QUESTION = [{"role": "user", "content": "How is the serving layer configured?"}]
FETCH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "fetch", "description": "Fetch a page.", "parameters": {"type": "object", "properties": {}}},
}


def sync_client(gated: Gated, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gated.base_url}/v1", api_key=key or local_api_key(), max_retries=0, timeout=60)


def async_client(gated: Gated) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gated.base_url}/v1", api_key=local_api_key(), max_retries=0, timeout=60)


def error_of(error: openai.APIStatusError) -> dict[str, Any]:
    body: dict[str, Any] = error.response.json()["error"]
    assert set(body) >= {"message", "type", "param", "code"}, body
    return body


def test_models_are_listed_and_retrieved_one_by_one(gated: Gated) -> None:
    api = sync_client(gated)
    listed = {model.id for model in api.models.list()}
    assert {gated.chat_model, gated.embed_model} <= listed
    assert api.models.retrieve(gated.embed_model).id == gated.embed_model
    with pytest.raises(openai.NotFoundError) as missing:
        api.models.retrieve("no-such-model")
    assert error_of(missing.value)["code"] == "model_not_found"


def test_embeddings_honour_dimensions_or_refuse_them(gated: Gated) -> None:
    api = sync_client(gated)
    native = api.embeddings.create(model=gated.embed_model, input="one sentence", dimensions=384)
    assert len(native.data[0].embedding) == 384
    with pytest.raises(openai.BadRequestError) as refused:
        api.embeddings.create(model=gated.embed_model, input="one sentence", dimensions=64)
    error = error_of(refused.value)
    assert error["param"] == "dimensions" and error["type"] == "invalid_request_error" and "384" in error["message"]


def test_chat_with_tools_and_a_tool_call_turn(gated: Gated) -> None:
    api = sync_client(gated)
    # The extractive engine cannot call tools: with `auto` it answers in text, as OpenAI allows.
    answer = api.chat.completions.create(model=gated.chat_model, messages=QUESTION, tools=[FETCH_TOOL], tool_choice="auto")
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "stop"
    # What the SDK sends back after a tool call: an assistant turn with content null, then the result.
    turn = api.chat.completions.create(
        model=gated.chat_model,
        messages=[
            *QUESTION,
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "call-1", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call-1", "content": "The serve config is the single source of truth."},
        ],
        tools=[FETCH_TOOL],
    )
    assert turn.choices[0].message.content


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"tool_choice": "required", "tools": [FETCH_TOOL]}, "tool_choice"),
        ({"extra_body": {"tools": "notalist"}}, "tools"),
        ({"messages": [*QUESTION, {"role": "tool", "content": "a result without its call id"}]}, "messages.1.tool_call_id"),
        ({"messages": [{"role": "user", "content": None}]}, "messages.0.content"),
    ],
    ids=["tool_choice required without a tool-calling model", "tools not a list", "tool message without tool_call_id",
         "user message without content"],
)
def test_invalid_chat_requests_are_400_naming_the_param(gated: Gated, change: dict[str, Any], param: str) -> None:
    request: dict[str, Any] = {"model": gated.chat_model, "messages": QUESTION, **change}
    with pytest.raises(openai.BadRequestError) as refused:
        sync_client(gated).chat.completions.create(**request)
    error = error_of(refused.value)
    assert refused.value.status_code == 400 and error["type"] == "invalid_request_error"
    assert error["param"] == param, error


def test_streaming_with_include_usage_ends_with_a_usage_chunk(gated: Gated) -> None:
    stream = sync_client(gated).chat.completions.create(
        model=gated.chat_model, messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text.strip()
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == len(text.split())
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_streaming_without_include_usage_sends_no_usage_chunk(gated: Gated) -> None:
    chunks = list(sync_client(gated).chat.completions.create(model=gated.chat_model, messages=QUESTION, stream=True))
    assert chunks and all(chunk.choices for chunk in chunks)


def test_the_async_client_streams_and_embeds(gated: Gated) -> None:
    async def run() -> tuple[str, str, int]:
        api = async_client(gated)
        whole = await api.chat.completions.create(model=gated.chat_model, messages=QUESTION)
        stream = await api.chat.completions.create(model=gated.chat_model, messages=QUESTION, stream=True)
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        vectors = await api.embeddings.create(model=gated.embed_model, input=["a", "b", "c"])
        await api.close()
        return whole.choices[0].message.content or "", "".join(pieces), len(vectors.data)

    whole, streamed, count = asyncio.run(run())
    assert whole.strip() and streamed.strip() and count == 3


def test_errors_have_openai_types_on_every_route(gated: Gated) -> None:
    with pytest.raises(openai.AuthenticationError) as unauthenticated:
        sync_client(gated, "rk-wrong").models.list()
    assert error_of(unauthenticated.value)["type"] == "authentication_error"
    with pytest.raises(openai.BadRequestError) as invalid:
        sync_client(gated).embeddings.create(model=gated.embed_model, input=[])
    assert error_of(invalid.value)["type"] == "invalid_request_error"
    # The RAG route (BentoML-native) answers the same shape, whether the gateway or the service refuses.
    headers = {"Authorization": f"Bearer {local_api_key()}"}
    for body, param in (({"query": 3}, "query"), ({"query": "serving", "k": 0}, "k")):
        response = httpx.post(f"{gated.base_url}/v1/rag/query", json=body, headers=headers, timeout=60)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param, error
