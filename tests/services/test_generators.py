"""The other chat engines, each behind a real Serve application next to the session's one:
a tiny random transformers model built on the fly, and an upstream OpenAI-compatible server
(the session's own application, reached over HTTP). Upstream failures are exercised in-process
against real sockets that refuse or never answer."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import BadRequestError, OpenAI

from platform_facts import project
from services.inference.errors import UpstreamUnavailable
from services.inference.generator import UpstreamChat
from services.inference.model_store import directory_sha256
from services.inference.schemas import ChatCompletionRequest
from services.inference.settings import GeneratorSettings, UpstreamSettings
from tests.fixtures.ports import free_loopback_port
from tests.fixtures.serve import ServeApp, deploy_application
from tests.services.tiny_models import build_tiny_causal_lm

QUESTION = [{"role": "user", "content": "How do I stop the local environment?"}]


def _client(base_url: str) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key="unused-locally", max_retries=0, timeout=120)


ONE_SLOT = "tiny-gpt2-one-slot"
UPSTREAM = "via-upstream"


@pytest.fixture(scope="module")
def engines_app(serve_app: ServeApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One application serving the three engines side by side, each its own Generator deployment (one
    application instead of three: each costs ≈30 s of replica start-up on a 2-core CI machine):

    - `tiny-gpt2`: the transformers engine with a token limit of 16;
    - `tiny-gpt2-one-slot`: the same model with one batch slot and no queue, so a second request is refused;
    - `via-upstream`: the openai engine relaying the session's own application over HTTP.
    """
    from ray import serve

    model_dir = build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "model")
    source = {"uri": str(model_dir), "sha256": directory_sha256(model_dir)}
    args = copy.deepcopy(serve_app.args)
    # Nothing here asks for embeddings: the Ingress does not load a model copy of its own (the default),
    # which saves a traced model load per deploy; the Embedder deployment still serves the Retriever.
    args["embedder"]["in_ingress"] = False
    args["generator"] = {"engine": "transformers", "model_name": "tiny-gpt2", "source": source, "max_new_tokens": 16}
    args["additional_generators"] = [
        {"engine": "transformers", "model_name": ONE_SLOT, "source": source, "max_new_tokens": 200,
         "max_batch_size": 1, "max_queue": 0},
        {"engine": "openai", "model_name": UPSTREAM,
         "upstream": {"base_url": f"{serve_app.base_url}/v1", "model": serve_app.args["generator"]["model_name"],
                      "timeout_s": 30}},
    ]
    application = serve_app.config["applications"][0]
    generator = next(d for d in application["deployments"] if d["name"] == "Generator")
    deployments = [d for d in application["deployments"] if not d["name"].startswith("Generator-")]
    deployments += [{**generator, "name": f"Generator-{name}"} for name in (ONE_SLOT, UPSTREAM)]
    name = f"{project.PROJECT_NAME}-engines"
    yield deploy_application(serve_app, name, "/engines", args, deployments=deployments)
    serve.delete(name)


@pytest.mark.serve
def test_transformers_engine_loads_and_generates_with_the_token_limit(engines_app: str) -> None:
    client = _client(engines_app)
    assert "tiny-gpt2" in {m.id for m in client.models.list()}
    completion = client.chat.completions.create(model="tiny-gpt2", messages=QUESTION, max_tokens=5, temperature=0)  # type: ignore[arg-type]
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    assert completion.choices[0].finish_reason == "length"
    again = client.chat.completions.create(model="tiny-gpt2", messages=QUESTION, max_tokens=5, temperature=0)  # type: ignore[arg-type]
    assert again.choices[0].message.content == completion.choices[0].message.content  # greedy is deterministic


@pytest.mark.serve
def test_transformers_engine_streams_and_refuses_limits_above_its_ceiling(engines_app: str) -> None:
    client = _client(engines_app)
    chunks = list(client.chat.completions.create(model="tiny-gpt2", messages=QUESTION, max_tokens=8, stream=True))  # type: ignore[arg-type]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "length"
    with pytest.raises(BadRequestError) as raised:
        client.chat.completions.create(model="tiny-gpt2", messages=QUESTION, max_tokens=100)  # type: ignore[arg-type]
    assert "max_tokens" in str(raised.value)


@pytest.mark.serve
def test_a_full_generator_answers_503_with_retry_after_across_serve(engines_app: str) -> None:
    # The refusal is raised in the Generator replica and crosses Ray to the Ingress's HTTP edge.
    chat = f"{engines_app}/v1/chat/completions"
    long_reply = {"model": ONE_SLOT, "messages": QUESTION, "max_tokens": 200, "stream": True}
    with httpx.stream("POST", chat, json=long_reply, timeout=120) as first:
        assert first.status_code == 200  # its request holds the one slot for 200 decode steps
        refused = httpx.post(chat, json={"model": ONE_SLOT, "messages": QUESTION, "max_tokens": 5}, timeout=120)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "overloaded"
        events = [json.loads(line.removeprefix("data: ")) for line in first.iter_lines() if line.startswith("data: {")]
        assert events[-1]["choices"][0]["finish_reason"] == "length"  # the first request was not disturbed


@pytest.mark.serve
def test_upstream_engine_relays_an_openai_compatible_server(engines_app: str, serve_app: ServeApp) -> None:
    direct = _client(serve_app.base_url).chat.completions.create(model=serve_app.args["generator"]["model_name"], messages=QUESTION)  # type: ignore[arg-type]
    relayed = _client(engines_app).chat.completions.create(model=UPSTREAM, messages=QUESTION)  # type: ignore[arg-type]
    assert relayed.model == UPSTREAM
    assert relayed.choices[0].message.content == direct.choices[0].message.content
    assert "make down" in (relayed.choices[0].message.content or "")
    streamed = list(_client(engines_app).chat.completions.create(model=UPSTREAM, messages=QUESTION, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == direct.choices[0].message.content


def _upstream(port: int, timeout_s: float) -> UpstreamChat:
    settings = GeneratorSettings(
        engine="openai",
        model_name="m",
        upstream=UpstreamSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=timeout_s, connect_timeout_s=timeout_s),
    )
    return UpstreamChat(settings)


REQUEST = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "hi"}])  # type: ignore[list-item]


def test_upstream_that_never_answers_times_out_as_504() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never replies
        chat = _upstream(silent.getsockname()[1], timeout_s=0.3)
        with pytest.raises(UpstreamUnavailable, match="timed out") as raised:
            asyncio.run(chat.complete(REQUEST))
    assert raised.value.status == 504


def test_upstream_that_is_down_is_a_502() -> None:
    chat = _upstream(free_loopback_port(), timeout_s=2)
    with pytest.raises(UpstreamUnavailable) as raised:
        asyncio.run(chat.complete(REQUEST))
    assert raised.value.status == 502


def test_corpus_dir_is_untouched_by_generator_tests(serve_app: ServeApp) -> None:
    assert sorted(p.name for p in Path(serve_app.corpus_dir).iterdir()) == ["gpu-node-pools.md", "local-environment.md", "quotas.md"]
