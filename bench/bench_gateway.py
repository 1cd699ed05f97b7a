"""Overhead of the safety gateway per request, in-process (no network), on this machine.

    .venv/bin/python -m bench.bench_gateway [--requests 2000]     (or: make bench)

Three paths over the same minimal OpenAI-shaped ASGI app, measured in the same run:
  baseline      the app called directly (what the ingress does without the gateway);
  gateway-auth  GatewayMiddleware with every scanner disabled: auth, limits, quota lease, routing,
                audit record, metrics;
  gateway-full  GatewayMiddleware with the environment's default input and output scanners.
Reported: mean CPU-time per request and p50/p99 latency, and the gateway's added cost as a
ratio of the baseline. Embedding requests of one short sentence (the serving layer's hot path)
and chat requests with a ~1 KB prompt. Results go to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from platform_facts import project
from services.gateway import GatewayMiddleware, GatewaySettings, hash_api_key
from services.gateway.quotas import ProcessLedger

KEY = "rk-bench-key"
PROMPT_1KB = ("Our nightly export job moved to the new cluster and the reports now arrive late. " * 13)[:1024]


def model_app() -> Starlette:
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        return JSONResponse(
            {
                "object": "list",
                "model": body["model"],
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1] * 384}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3},
            }
        )

    async def chat(request: Request) -> Response:
        body = await request.json()
        return JSONResponse(
            {
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Check the driver logs for timeouts first. " * 8},
                    }
                ],
                "usage": {"prompt_tokens": 180, "completion_tokens": 56, "total_tokens": 236},
            }
        )

    return Starlette(
        routes=[
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


def gateway_config(directory: Path, scanners: bool) -> Path:
    (directory / "keys.yaml").write_text(
        yaml.safe_dump(
            {
                "keys": [
                    {"id": "bench", "tenant": "bench", "sha256": hash_api_key(KEY), "scopes": ["chat", "embeddings"]}
                ]
            }
        )
    )
    config: dict[str, Any] = {
        "environment": "bench",
        "keys": {"source": "file", "path": str(directory / "keys.yaml")},
        "tenants": {"bench": {"requests_per_minute": 10**9, "tokens_per_minute": 10**12}},
        "quotas": {"ledger": "process", "lease_size": 32},
        "model_versions": {
            "chat": {"model": "chat", "location": "on_prem"},
            "embed": {"model": "embed", "location": "on_prem"},
        },
        "routes": {
            "chat": {
                "path": "/v1/chat/completions",
                "kind": "chat",
                "scope": "chat",
                "public_model": "chat",
                "versions": [{"model_version": "chat", "weight": 1}],
            },
            "embeddings": {
                "path": "/v1/embeddings",
                "kind": "embeddings",
                "scope": "embeddings",
                "public_model": "embed",
                "versions": [{"model_version": "embed", "weight": 1}],
            },
        },
        "scanners": {} if scanners else {"input": {}, "output": {}},
    }
    path = directory / f"gateway-{'full' if scanners else 'auth'}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def call(app: Any, path: str, body: bytes) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")],
    }
    await app(scope, receive, send)
    return status


async def measure(app: Any, path: str, body: bytes, requests: int) -> dict[str, float]:
    for _ in range(50):
        assert await call(app, path, body) == 200
    latencies = []
    cpu_started = time.process_time()
    for _ in range(requests):
        started = time.perf_counter()
        status = await call(app, path, body)
        latencies.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    cpu_ms = (time.process_time() - cpu_started) * 1000 / requests
    latencies.sort()
    return {
        "cpu_ms": cpu_ms,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
    }


async def main(requests: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix=f"{project.PROJECT_NAME}-bench-gateway-"))
    app = model_app()
    paths = {
        "baseline": app,
        "gateway-auth": GatewayMiddleware(
            app,
            GatewaySettings(
                env="bench", config_path=str(gateway_config(directory, False)), state_dir=str(directory / "auth")
            ),
            ledger=ProcessLedger(),
        ),
        "gateway-full": GatewayMiddleware(
            app,
            GatewaySettings(
                env="bench", config_path=str(gateway_config(directory, True)), state_dir=str(directory / "full")
            ),
            ledger=ProcessLedger(),
        ),
    }
    workloads = {
        "embedding, 1 sentence": ("/v1/embeddings", {"model": "embed", "input": "How do I rotate my API key?"}),
        "chat, 1 KB prompt": (
            "/v1/chat/completions",
            {"model": "chat", "messages": [{"role": "user", "content": PROMPT_1KB}]},
        ),
    }
    print(f"gateway overhead, {requests} sequential in-process requests per row (CPU ms/request; latency ms)")
    for workload, (path, payload) in workloads.items():
        body = json.dumps(payload).encode()
        results = {name: await measure(target, path, body, requests) for name, target in paths.items()}
        base = results["baseline"]["cpu_ms"]
        for name, result in results.items():
            added = result["cpu_ms"] - base
            print(
                f"{workload:24} {name:13} cpu {result['cpu_ms']:6.3f} ms  p50 {result['p50_ms']:6.3f}  "
                f"p99 {result['p99_ms']:6.3f}  added {added:6.3f} ms  ({result['cpu_ms'] / base:4.1f}x baseline)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args().requests))
