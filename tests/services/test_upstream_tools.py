"""The upstream engine relays tools and tool calls, unary and streamed.

vLLM (the production upstream) cannot run here, so the upstream is a small OpenAI-compatible HTTP
server on a real loopback socket that answers with tool calls the way vLLM's OpenAI server does;
what is tested is Rampart's engine: what it forwards and what it hands back.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.inference.generator import UpstreamChat
from services.inference.schemas import ChatCompletionRequest
from services.inference.settings import GeneratorSettings, UpstreamSettings
from tests.fixtures.ports import free_loopback_port

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}


class ToolCallingUpstream:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            body = await request.json()
            self.received.append(body)
            if not body.get("stream"):
                return JSONResponse({
                    "id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "tool_calls",
                                 "message": {"role": "assistant", "content": None, "tool_calls": [CALL]}}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
                })

            async def events() -> AsyncIterator[str]:
                base = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
                first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
                for delta in ({"role": "assistant"}, {"tool_calls": [first]},
                              {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Oslo"}'}}]}):
                    yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': delta}]})}\n\n"
                done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
                yield f"data: {json.dumps(done)}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[ToolCallingUpstream, int]]:
    fake = ToolCallingUpstream()
    port = free_loopback_port()
    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield fake, port
    server.should_exit = True
    thread.join(timeout=5)


def _engine(port: int) -> UpstreamChat:
    upstream = UpstreamSettings(base_url=f"http://127.0.0.1:{port}/v1", model="served-upstream", timeout_s=10)
    return UpstreamChat(GeneratorSettings(engine="openai", model_name="via-upstream", upstream=upstream))


def _request(stream: bool) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({
        "model": "via-upstream", "stream": stream, "tools": [TOOL], "tool_choice": "required",
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
    })


def test_tools_are_forwarded_and_tool_calls_come_back(upstream: tuple[ToolCallingUpstream, int]) -> None:
    fake, port = upstream
    completion = asyncio.run(_engine(port).complete(_request(stream=False)))
    sent = fake.received[-1]
    assert sent["tools"] == [TOOL] and sent["tool_choice"] == "required" and sent["model"] == "served-upstream"
    answer = json.loads(completion.model_dump_json())["choices"][0]
    assert answer["finish_reason"] == "tool_calls"
    assert answer["message"] == {"role": "assistant", "content": None, "tool_calls": [CALL]}


def test_streamed_tool_calls_come_back_as_deltas(upstream: tuple[ToolCallingUpstream, int]) -> None:
    _fake, port = upstream

    async def collect() -> list[dict[str, Any]]:
        return [json.loads(chunk.model_dump_json()) async for chunk in _engine(port).stream(_request(stream=True))]

    chunks = asyncio.run(collect())
    calls = [call for chunk in chunks for call in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["id"] == "call_1" and calls[0]["function"]["name"] == "get_weather"
    assert "".join(call["function"].get("arguments", "") for call in calls) == '{"city": "Oslo"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
