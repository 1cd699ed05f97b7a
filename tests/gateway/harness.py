"""A small OpenAI-shaped model server the gateway tests put behind `GatewayMiddleware`.

It is a real ASGI app (Starlette) with the serving layer's wire format, whose behaviour per
model the tests control: answer, fail with 500, hang, stream, or leak a secret. The real
serving layer is exercised in the `serve`-marked tests; this one lets the gateway's own logic
(fallbacks, breakers, canary, streaming cuts) be driven deterministically and fast.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from platform_facts import project
from services.gateway.keys import hash_api_key

__all__ = ["KEYS", "ModelBench", "auth", "base_config", "chat_body", "write_gateway_config"]

# Test-only keys (plaintext lives only here; the config gets their hashes).
KEYS = {
    "northwind": "rk-test-northwind-full",
    "northwind_chat_only": "rk-test-northwind-chat-only",
    "bank": "rk-test-bank-regulated",
    "tiny": "rk-test-tiny-limits",
    "reviewer": "rk-test-reviewer",
}


@dataclass
class ModelBench:
    """Per-model behaviour: `answers[model]` text, `failing`, `hanging`, and a call log."""

    answers: dict[str, str] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    hanging: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    fail_mid_stream: set[str] = field(default_factory=set)
    unlisted: set[str] = field(default_factory=set)
    """Models left out of `GET /v1/models` (not served)."""
    stranded: dict[str, int] = field(default_factory=dict)
    """How many of a model's next chat calls land on a replica that dies mid-call: each waits for
    `replica_lost`, then fails."""
    replica_lost: asyncio.Event = field(default_factory=asyncio.Event)
    stuck: dict[str, int] = field(default_factory=dict)
    """How many of a model's next chat calls land on a replica on a lost node: each answers nothing, ever."""
    slow_to_cancel: set[str] = field(default_factory=set)
    """Models whose calls hang and, once cancelled, take 20 s more to give up (as a call stuck on a lost
    node may); `still_cancelling` counts those not given up yet."""
    still_cancelling: int = 0

    def answer(self, model: str) -> str:
        return self.answers.get(model, f"answer from {model} about the platform")

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            body = await request.json()
            model = body["model"]
            self.calls.append(model)
            if model in self.hanging:
                await asyncio.sleep(3600)
            if self.stuck.get(model, 0) > 0:
                self.stuck[model] -= 1
                await asyncio.sleep(3600)
            if model in self.slow_to_cancel:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    self.still_cancelling += 1
                    await asyncio.sleep(20)
                    self.still_cancelling -= 1
                    raise
            stranded = self.stranded.get(model, 0) > 0
            if stranded:
                self.stranded[model] -= 1
                await self.replica_lost.wait()
            if stranded or model in self.failing:
                return JSONResponse({"error": {"message": "replica died", "type": "upstream_error"}}, 500)
            text = self.answer(model)
            prompt = " ".join(m["content"] for m in body["messages"] if isinstance(m.get("content"), str))
            usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                     "total_tokens": len(prompt.split()) + len(text.split())}
            if not body.get("stream"):
                return JSONResponse({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": usage, "echo": prompt,
                })

            async def events() -> AsyncIterator[str]:
                base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model}
                yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {'role': 'assistant'}}]})}\n\n"
                for position, word in enumerate(text.split(" ")):
                    if model in self.fail_mid_stream and position == 3:
                        yield f"data: {json.dumps({'error': {'message': 'replica died', 'type': 'upstream_error'}})}\n\n"
                        break
                    piece = word if position == 0 else " " + word
                    yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {'content': piece}}]})}\n\n"
                yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        async def embeddings(request: Request) -> Response:
            body = await request.json()
            self.calls.append(body["model"])
            if body["model"] in self.failing:
                return JSONResponse({"error": {"message": "replica died"}}, 500)
            texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
            data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(texts)]
            tokens = sum(len(t.split()) for t in texts)
            return JSONResponse({"object": "list", "data": data, "model": body["model"],
                                 "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}})

        async def embed(request: Request) -> Response:
            # BentoML's `/embed`: `{"texts": [...]}` in, a bare list of vectors out.
            body = await request.json()
            self.calls.append("embed")
            return JSONResponse([[float(len(text)), 1.0, 0.0] for text in body["texts"]])

        async def rag(request: Request) -> Response:
            body = await request.json()
            self.calls.append("retriever")
            return JSONResponse({"query": body["query"], "passages": [
                {"source": "serving.md#Config", "text": "The serve config is the single source of truth.", "score": 0.8}]})

        async def models(_: Request) -> Response:
            # The serving layer's listing: the served model ids (not the gateway's public names).
            served = [(name, "chat") for name in ("gen-v1", "gen-v2", "gen-onprem", "extractive", "candidate")]
            cards = [{"id": name, "object": "model", "created": 1, "owned_by": project.PROJECT_NAME, "kind": kind}
                     for name, kind in [*served, ("embed", "embedding")] if name not in self.unlisted]
            return JSONResponse({"object": "list", "data": cards})

        async def healthz(_: Request) -> Response:
            return Response("ok")

        return Starlette(routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/rag/query", rag, methods=["POST"]),
            Route("/embed", embed, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ])


def _key(key_id: str, tenant: str, scopes: list[str], models: list[str] | None = None) -> dict[str, Any]:
    return {"id": key_id, "tenant": tenant, "sha256": hash_api_key(KEYS[key_id]), "scopes": scopes,
            "models": models or ["*"]}


def base_config(key_file: Path) -> dict[str, Any]:
    return {
        "environment": "test",
        "keys": {"source": "file", "path": str(key_file)},
        "tenants": {
            "northwind": {"requests_per_minute": 100_000, "tokens_per_minute": 10_000_000},
            "bank": {"data_class": "regulated", "requests_per_minute": 100_000, "tokens_per_minute": 10_000_000},
            "tiny": {"requests_per_minute": 3, "tokens_per_minute": 1_000},
            "ops": {"requests_per_minute": 100_000, "tokens_per_minute": 10_000_000},
        },
        "limits": {"max_body_bytes": 20_000, "max_messages": 4, "max_chars": 2_000, "max_inputs": 8},
        "quotas": {"ledger": "process", "lease_size": 2, "lease_ttl_s": 5.0},
        "model_versions": {
            "gen-v1": {"model": "gen-v1", "location": "cloud", "timeout_s": 0.5, "retries": 1,
                       "breaker": {"failures": 3, "reset_s": 30}, "cost_per_1k_tokens": 2.0},
            "gen-v2": {"model": "gen-v2", "location": "cloud", "timeout_s": 0.5, "retries": 0},
            "gen-onprem": {"model": "gen-onprem", "location": "on_prem", "timeout_s": 0.5, "retries": 0},
            "extractive": {"model": "extractive", "location": "on_prem", "timeout_s": 0.5, "retries": 0},
            "candidate": {"model": "candidate", "location": "cloud", "timeout_s": 0.5, "retries": 0},
            "embed": {"model": "embed", "location": "on_prem", "timeout_s": 0.5},
            "retriever": {"model": "retriever", "location": "on_prem", "timeout_s": 0.5},
        },
        "routes": {
            "chat": {"path": "/v1/chat/completions", "kind": "chat", "scope": "chat", "public_model": f"{project.PROJECT_NAME}-chat",
                     "versions": [{"model_version": "gen-v1", "weight": 1}], "fallback": ["extractive", "review"]},
            "embeddings": {"path": "/v1/embeddings", "kind": "embeddings", "scope": "embeddings",
                           "public_model": f"{project.PROJECT_NAME}-embed", "versions": [{"model_version": "embed", "weight": 1}]},
            "rag": {"path": "/v1/rag/query", "kind": "rag", "scope": "rag",
                    "versions": [{"model_version": "retriever", "weight": 1}]},
            "embed": {"path": "/embed", "kind": "texts", "scope": "embeddings",
                      "versions": [{"model_version": "embed", "weight": 1}]},
            "models": {"path": "/v1/models", "kind": "passthrough", "scope": "models", "methods": ["GET"]},
        },
        "public_paths": ["/healthz"],
        "scanners": {"on_error": "fail_closed", "system_prompt": f"You are {project.DISPLAY_NAME}'s internal assistant. Codeword: zebra-42."},
        "reload_check_s": 0.05,
    }


def write_gateway_config(directory: Path, config: dict[str, Any] | None = None) -> Path:
    """Write the key file and gateway config into `directory`; returns the config path."""
    key_file = directory / "keys.yaml"
    key_file.write_text(yaml.safe_dump({"keys": [
        _key("northwind", "northwind", ["chat", "embeddings", "rag", "models"]),
        _key("northwind_chat_only", "northwind", ["chat"]),
        _key("bank", "bank", ["chat", "embeddings", "rag", "models"]),
        _key("tiny", "tiny", ["chat", "embeddings"]),
        _key("reviewer", "ops", ["review:read", "review:write", "admin"]),
    ]}))
    path = directory / "gateway-test.yaml"
    path.write_text(yaml.safe_dump(config or base_config(key_file), sort_keys=False))
    return path


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


def chat_body(text: str = "What is the serve config?", **extra: Any) -> dict[str, Any]:
    return {"model": f"{project.PROJECT_NAME}-chat", "messages": [{"role": "user", "content": text}], **extra}
