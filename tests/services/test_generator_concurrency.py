"""The `transformers` engine under concurrent load, through the real HTTP layer: the BentoML
inference service over `InProcessModels`, served by uvicorn on a loopback port, called over
HTTP. The tiny seeded GPT-2 suppresses end-of-text, so every reply runs to its token limit and
greedy replies are fixed: a batched reply must equal `model.generate` on the prompt alone."""

from __future__ import annotations

import asyncio
import json
import pickle
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from platform_facts import project
from services.config import serve_config
from services.inference.continuous_batching import Sampling, TokenPicker, _nucleus
from services.inference.errors import Overloaded
from services.inference.generator import TransformersChat
from services.inference.model_store import directory_sha256
from services.inference.models import InProcessModels
from services.inference.service import build_inference_service
from services.inference.settings import AppArgs, GeneratorSettings
from tests.fixtures.ports import free_loopback_port
from tests.services.tiny_models import build_tiny_causal_lm

MODEL = "tiny-gpt2"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "model")


def _generator(model_dir: Path, **settings: Any) -> dict[str, Any]:
    source = {"uri": str(model_dir), "sha256": directory_sha256(model_dir)}
    return {"engine": "transformers", "model_name": MODEL, "source": source, **settings}


@dataclass
class Served:
    base_url: str
    engine: TransformersChat


@contextmanager
def _serve(model_dir: Path, **settings: Any) -> Iterator[Served]:
    """The inference service with the transformers engine, under uvicorn in a thread."""
    import uvicorn

    args = serve_config("local")["applications"][0]["args"]
    models = InProcessModels(AppArgs.model_validate({**args, "generator": _generator(model_dir, **settings)}))
    engine = models.chat_engines[models.args.generator.model_name]
    assert isinstance(engine, TransformersChat)
    port = free_loopback_port()
    app = build_inference_service(lambda: models).to_asgi()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", engine)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.batcher.close()


def _body(content: str, max_tokens: int, *, stream: bool, temperature: float = 0.0) -> dict[str, Any]:
    messages = [{"role": "user", "content": content}]
    return {"model": MODEL, "messages": messages, "max_tokens": max_tokens, "stream": stream, "temperature": temperature}


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            yield json.loads(line.removeprefix("data: "))


async def _streamed(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[str, str | None]:
    text, finish = "", None
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        async for event in _events(response):
            choice = event["choices"][0]
            text += choice["delta"].get("content") or ""
            finish = choice["finish_reason"] or finish
    return text, finish


def _alone(engine: TransformersChat, content: str, max_tokens: int) -> str:
    """The greedy reply of `model.generate` on this one prompt, unbatched."""
    model: Any = engine.batcher._model
    prompt = engine.tokenizer(f"user: {content}\nassistant:", return_tensors="pt")
    output = model.generate(**prompt, max_new_tokens=max_tokens, do_sample=False)
    return str(engine.tokenizer.decode(output[0][prompt["input_ids"].shape[1] :], skip_special_tokens=True))


@contextmanager
def _held(engine: TransformersChat) -> Iterator[threading.Event]:
    """Every forward pass of the model waits until the yielded event is set: requests line up
    behind a step in progress, as they do behind a slow model, without depending on timing."""
    model = engine.batcher._model
    forward, gate = model.forward, threading.Event()

    def gated(*args: Any, **kwargs: Any) -> Any:
        assert gate.wait(timeout=60), "the test never released the model"
        return forward(*args, **kwargs)

    model.forward = gated
    try:
        yield gate
    finally:
        gate.set()
        model.forward = forward


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"{what} ({condition.__name__})"
        await asyncio.sleep(0.005)


async def _peak(value: Callable[[], int], done: asyncio.Event) -> int:
    peak = 0
    while not done.is_set():
        peak = max(peak, value())
        await asyncio.sleep(0.001)
    return peak


# Prompts of different lengths (left padding) whose greedy replies differ from each other.
QUESTIONS = [
    "hello",
    f"{project.DISPLAY_NAME} serves embeddings",
    "The gateway checks every request before a model sees it.",
    "how can I help?",
    "question 3: how do I stop the local environment?",
    "hi there",
    "retrieval",
    "chat completions on Ray Serve",
]


def test_simultaneous_requests_each_get_their_own_tokens_in_one_batch(tiny_model: Path) -> None:
    with _serve(tiny_model, max_new_tokens=40, max_batch_size=16, max_queue=0) as served, _held(served.engine) as gate:
        batcher = served.engine.batcher

        async def scenario() -> None:
            async with httpx.AsyncClient(base_url=served.base_url, timeout=60) as client:
                greedy = [_streamed(client, _body(q, 16 + 2 * n, stream=True)) for n, q in enumerate(QUESTIONS)]
                sampled = [
                    client.post("/v1/chat/completions", json=_body(q, 30, stream=False, temperature=0.9))
                    for q in QUESTIONS[:4]
                ]
                streamed, answered = asyncio.gather(*greedy), asyncio.gather(*sampled)
                # The first prefill is held; the requests that missed it queue behind it, then all
                # join the batch at the next step boundary and stay until the shortest is done.
                await _until(lambda: batcher.active + batcher.waiting == 12, "the requests never lined up")
                done = asyncio.Event()
                peak = asyncio.create_task(_peak(lambda: batcher.active, done))
                gate.set()
                streams, replies = await streamed, await answered
                done.set()
            for n, (text, finish) in enumerate(streams):
                assert finish == "length"
                assert text == _alone(served.engine, QUESTIONS[n], 16 + 2 * n)
            for reply in replies:
                assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] == 30
            assert await peak == 12

        asyncio.run(scenario())


def test_a_full_queue_answers_503_with_retry_after_and_a_client_that_leaves_frees_its_slot(tiny_model: Path) -> None:
    settings = {"max_new_tokens": 200, "max_batch_size": 1, "max_queue": 1, "retry_after_s": 1.5}
    with _serve(tiny_model, **settings) as served, _held(served.engine) as gate:
        batcher = served.engine.batcher

        async def scenario() -> None:
            async with httpx.AsyncClient(base_url=served.base_url, timeout=60) as client:
                async with client.stream("POST", "/v1/chat/completions", json=_body("first", 200, stream=True)) as first:
                    assert first.status_code == 200  # holds the one slot (its prefill is held)
                    async with client.stream("POST", "/v1/chat/completions", json=_body("second", 5, stream=True)) as second:
                        assert second.status_code == 200 and batcher.waiting == 1  # the one queue place
                        refused = await client.post("/v1/chat/completions", json=_body("third", 5, stream=False))
                        assert refused.status_code == 503
                        assert refused.headers["retry-after"] == "2"
                        assert refused.json()["error"]["code"] == "overloaded"
                        streamed = await client.post("/v1/chat/completions", json=_body("third", 5, stream=True))
                        assert streamed.status_code == 503 and streamed.headers["retry-after"] == "2"
                        # The first client goes away mid-stream: its slot goes to the waiting request.
                        await first.aclose()
                        gate.set()
                        text = "".join([e["choices"][0]["delta"].get("content") or "" async for e in _events(second)])
                        assert text
                await _until(lambda: not batcher.active and not batcher.waiting, "the slot was never freed")
                # The abandoned request stopped early: far fewer than its 200 tokens were generated.
                assert batcher.tokens_generated < 200
                after = await client.post("/v1/chat/completions", json=_body("fourth", 7, stream=False))
                assert after.status_code == 200 and after.json()["usage"]["completion_tokens"] == 7

        asyncio.run(scenario())


def test_overloaded_keeps_its_retry_after_across_process_boundaries() -> None:
    error = pickle.loads(pickle.dumps(Overloaded("queue full", retry_after_s=0.2)))
    assert isinstance(error, Overloaded) and str(error) == "queue full"
    assert (error.status, error.headers()) == (503, {"Retry-After": "1"})


def test_a_failed_step_fails_only_the_requests_in_it(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = GeneratorSettings.model_validate(_generator(tiny_model, max_new_tokens=8))
    engine = TransformersChat(settings, tiny_model)
    model = engine.batcher._model
    forward = model.forward
    calls = {"n": 0}

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("device lost")
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", fails_once)
    prompt = engine.tokenizer("hello")["input_ids"]

    async def scenario() -> None:
        failed = engine.batcher.submit(prompt, Sampling(max_new_tokens=4))
        with pytest.raises(RuntimeError, match="device lost"):
            [token async for token in failed.tokens()]
        served = engine.batcher.submit(prompt, Sampling(max_new_tokens=4))
        assert len([token async for token in served.tokens()]) == 4

    try:
        asyncio.run(scenario())
    finally:
        engine.batcher.close()


def test_picker_matches_transformers_processors_for_penalty_and_nucleus() -> None:
    from transformers import RepetitionPenaltyLogitsProcessor, TopPLogitsWarper

    from services.inference.continuous_batching import _Sequence

    torch.manual_seed(0)
    scores = torch.randn(3, 50)
    history = [[1, 2, 3, 3], [4], [7, 8]]
    sequences = [_Sequence(generation=None, tokens=ids) for ids in history]  # type: ignore[arg-type]
    penalized = TokenPicker(repetition_penalty=1.3)._penalize_repeats(scores.clone(), sequences)
    for row, ids in enumerate(history):
        expected = RepetitionPenaltyLogitsProcessor(1.3)(torch.tensor([ids]), scores[row : row + 1].clone())
        assert torch.equal(penalized[row : row + 1], expected)
    kept = _nucleus(scores.clone(), torch.tensor([0.9, 0.5, 1.0]))
    for row, top_p in enumerate([0.9, 0.5, 1.0]):
        expected = TopPLogitsWarper(top_p)(torch.tensor([[0]]), scores[row : row + 1].clone())
        assert torch.equal(torch.isinf(kept[row : row + 1]), torch.isinf(expected))


def test_generation_rules_the_batcher_cannot_apply_are_refused_by_name() -> None:
    from transformers import GenerationConfig

    with pytest.raises(ValueError, match=r"generation_config\.no_repeat_ngram_size: 3 is not supported"):
        TokenPicker.from_generation_config(GenerationConfig(no_repeat_ngram_size=3))  # type: ignore[no-untyped-call]
    config = GenerationConfig(suppress_tokens=[0], repetition_penalty=1.1)  # type: ignore[no-untyped-call]
    picker = TokenPicker.from_generation_config(config)
    assert (picker.suppress_tokens, picker.repetition_penalty, picker.top_k) == ([0], 1.1, 50)


def test_batching_settings_are_validated_by_field() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        GeneratorSettings.model_validate({"engine": "extractive", "model_name": "m", "max_batch_size": 0})
    defaults = GeneratorSettings(engine="extractive", model_name="m")
    assert (defaults.max_batch_size, defaults.max_queue, defaults.retry_after_s) == (32, 32, 1.0)
