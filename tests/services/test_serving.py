"""The inference API over real HTTP on the real Serve application, called with real clients."""

from __future__ import annotations

import json
import math

import bentoml
import httpx
import pytest
from openai import BadRequestError, NotFoundError, OpenAI

from platform_facts import project
from services.inference.generator import NOTHING_RELEVANT
from tests.fixtures.serve import ServeApp

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def http(serve_app: ServeApp) -> httpx.Client:
    return httpx.Client(base_url=serve_app.base_url, timeout=60)


@pytest.fixture(scope="module")
def openai_client(serve_app: ServeApp) -> OpenAI:
    return OpenAI(base_url=f"{serve_app.base_url}/v1", api_key="unused-locally", max_retries=0, timeout=60)


def _names(serve_app: ServeApp) -> tuple[str, str]:
    return serve_app.args["embedder"]["model_name"], serve_app.args["generator"]["model_name"]


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_models_lists_the_embedding_and_chat_models(openai_client: OpenAI, serve_app: ServeApp) -> None:
    """Every model served: the embedder, the chat model and the chat versions served beside it."""
    embedder, chat = _names(serve_app)
    beside = {generator["model_name"] for generator in serve_app.args.get("additional_generators", [])}
    assert beside and {m.id for m in openai_client.models.list()} == {embedder, chat, *beside}


def test_similar_sentences_embed_closer_than_unrelated_ones(openai_client: OpenAI, serve_app: ServeApp) -> None:
    embedder, _ = _names(serve_app)
    sentences = ["The cat sits on the mat.", "A kitten is sitting on a rug.", "Quarterly revenue grew by eight percent."]
    # The openai client asks for base64 by default and decodes it; float is the other format.
    base64_rows = [d.embedding for d in openai_client.embeddings.create(model=embedder, input=sentences).data]
    float_rows = [d.embedding for d in openai_client.embeddings.create(model=embedder, input=sentences, encoding_format="float").data]
    for rows in (base64_rows, float_rows):
        assert len(rows) == 3 and all(len(r) == 384 for r in rows)
        assert all(abs(math.sqrt(sum(x * x for x in r)) - 1) < 1e-3 for r in rows)
        assert _cosine(rows[0], rows[1]) > _cosine(rows[0], rows[2]) + 0.3
    assert all(abs(a - b) < 1e-5 for a, b in zip(base64_rows[0], float_rows[0], strict=True))


def test_bentoml_client_embeds_and_queries_the_index(serve_app: ServeApp) -> None:
    with bentoml.SyncHTTPClient(serve_app.base_url) as client:
        vectors = client.embed(texts=["make up starts the services", "make down stops them"])
        result = client.rag_query(query="How do I stop the local environment?", k=2)
    assert len(vectors) == 2 and len(vectors[0]) == 384
    top = result["passages"][0]
    assert top["source"] == "local-environment.md#Stopping the local environment"
    assert "make down" in top["text"]
    assert top["score"] > result["passages"][1]["score"]


def test_rag_query_returns_the_passage_that_covers_the_topic(http: httpx.Client) -> None:
    response = http.post("/v1/rag/query", json={"query": "What happens when a client exceeds its request rate limit?", "k": 3})
    assert response.status_code == 200
    passages = response.json()["passages"]
    assert passages[0]["source"] == "quotas.md#Quotas and rate limits"
    assert "429" in passages[0]["text"]
    assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)


def test_chat_answers_from_the_documents_with_citations(http: httpx.Client, openai_client: OpenAI, serve_app: ServeApp) -> None:
    _, chat = _names(serve_app)
    question = [{"role": "user", "content": "Which GPU instance types do the node pools use?"}]
    completion = openai_client.chat.completions.create(model=chat, messages=question)  # type: ignore[arg-type]
    answer = completion.choices[0].message.content or ""
    assert "p4d.24xlarge" in answer and "[1] gpu-node-pools.md" in answer
    assert completion.choices[0].finish_reason == "stop"
    raw = http.post("/v1/chat/completions", json={"model": chat, "messages": question}).json()
    assert raw["citations"][0]["source"] == "gpu-node-pools.md#GPU node pools"


def test_chat_says_so_when_nothing_relevant_is_indexed(openai_client: OpenAI, serve_app: ServeApp) -> None:
    _, chat = _names(serve_app)
    completion = openai_client.chat.completions.create(
        model=chat, messages=[{"role": "user", "content": "Who painted the Mona Lisa?"}]
    )
    assert completion.choices[0].message.content == NOTHING_RELEVANT


def test_streaming_yields_ordered_chunks_that_add_up_to_the_answer(http: httpx.Client, openai_client: OpenAI, serve_app: ServeApp) -> None:
    _, chat = _names(serve_app)
    messages = [{"role": "user", "content": "How do I start the local environment?"}]
    whole = openai_client.chat.completions.create(model=chat, messages=messages)  # type: ignore[arg-type]
    chunks = list(openai_client.chat.completions.create(model=chat, messages=messages, stream=True))  # type: ignore[arg-type]
    assert len(chunks) > 10
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    with http.stream("POST", "/v1/chat/completions", json={"model": chat, "messages": messages, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)
    assert len({json.loads(e[6:])["id"] for e in events[:-1]}) == 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/chat/completions", {"model": f"{project.PROJECT_NAME}-extractive"}, "messages"),
        ("/v1/chat/completions", {"model": f"{project.PROJECT_NAME}-extractive", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, "temperature"),
        ("/v1/chat/completions", {"model": f"{project.PROJECT_NAME}-extractive", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ("/v1/embeddings", {"model": "all-minilm-l6-v2", "input": []}, "input"),
        ("/v1/embeddings", {"model": "all-minilm-l6-v2", "input": ["ok", ""]}, "input.1"),
        ("/v1/embeddings", {"input": "no model"}, "model"),
    ],
)
def test_malformed_requests_get_400_naming_the_field(http: httpx.Client, path: str, body: dict[str, object], field: str) -> None:
    response = http.post(path, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == field
    assert error["message"].startswith(f"{field}:")


def test_invalid_json_is_a_400_not_a_500(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "body"


def test_unknown_model_is_404_naming_the_model(openai_client: OpenAI) -> None:
    with pytest.raises(NotFoundError) as raised:
        openai_client.embeddings.create(model="gpt-17", input="hello")
    assert "gpt-17" in str(raised.value)
    with pytest.raises(NotFoundError):
        openai_client.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "hi"}])


def test_openai_client_sees_bad_values_as_bad_requests(openai_client: OpenAI, serve_app: ServeApp) -> None:
    _, chat = _names(serve_app)
    with pytest.raises(BadRequestError) as raised:
        openai_client.chat.completions.create(model=chat, messages=[{"role": "user", "content": "hi"}], top_p=0)
    assert "top_p" in str(raised.value)


def test_bentoml_api_rejects_bad_arguments_naming_them(http: httpx.Client) -> None:
    response = http.post("/v1/rag/query", json={"query": "rate limits", "k": 0})
    assert response.status_code == 400
    # BentoML's own validation body, reshaped into OpenAI's error object like every other route.
    error = response.json()["error"]
    assert error["param"] == "k" and error["type"] == "invalid_request_error" and error["code"] == "invalid_request"


def test_reindex_picks_up_new_documents_without_restart(http: httpx.Client, serve_app: ServeApp) -> None:
    question = {"query": "How does a canary release shift traffic to a new model version?", "k": 1}
    before = http.post("/v1/rag/query", json=question).json()["passages"][0]
    assert before["source"] != "canary.md#Canary releases"
    (serve_app.corpus_dir / "canary.md").write_text(
        "# Canary releases\n\nA canary release sends five percent of traffic to the new model version, "
        "compares error rates and latency with the stable version, and shifts the rest only when they match.\n"
    )
    try:
        result = http.post("/v1/rag/reindex", json={})
        assert result.status_code == 200 and result.json()["documents"] == 4
        after = http.post("/v1/rag/query", json=question).json()["passages"][0]
        assert after["source"] == "canary.md#Canary releases"
    finally:
        (serve_app.corpus_dir / "canary.md").unlink()
        http.post("/v1/rag/reindex", json={})


def test_a_request_larger_than_the_batch_limit_is_served_whole(openai_client: OpenAI, serve_app: ServeApp) -> None:
    embedder, _ = _names(serve_app)
    texts = [f"sentence number {i}" for i in range(200)]
    rows = openai_client.embeddings.create(model=embedder, input=texts, encoding_format="float").data
    assert [r.index for r in rows] == list(range(200))
    assert len({tuple(r.embedding[:8]) for r in rows}) == 200
