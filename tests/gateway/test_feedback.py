"""Feedback on answers (`POST /v1/feedback`): by the answer's request id, per tenant, stored in the shared
state store with the audit record's id, counted per model version; review decisions are feedback too."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from platform_facts import project
from services.gateway import GatewayMiddleware
from tests.gateway.harness import ModelBench, auth, chat_body

pytestmark = pytest.mark.anyio


def http(gateway: GatewayMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway")


async def _answered(client: httpx.AsyncClient, key: str = "northwind") -> str:
    response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth(key))
    assert response.status_code == 200
    return response.headers["x-request-id"]


async def test_a_client_rates_its_answer_by_request_id(client: httpx.AsyncClient, gateway: GatewayMiddleware) -> None:
    response_id = await _answered(client)
    given = await client.post("/v1/feedback", headers=auth("northwind"), json={
        "response_id": response_id, "rating": -1, "correction": "The serve config lives in services/config.",
        "tags": ["wrong_source"]})
    assert given.status_code == 200, given.text
    receipt = given.json()
    assert (receipt["response_id"], receipt["model_version"], receipt["rating"]) == (response_id, "gen-v1", -1)
    [stored] = gateway.store.responses.feedback_for([response_id])[response_id]
    assert (stored.tenant, stored.rating, stored.tags, stored.source, stored.key_id) == (
        "northwind", -1, ["wrong_source"], "api", "northwind")
    assert stored.correction == "The serve config lives in services/config."
    records = [json.loads(line) for line in gateway.audit.path.read_text().splitlines()]
    answer_record, feedback_record = records
    assert answer_record["request_id"] == response_id  # the rated response's audit record
    assert feedback_record["feedback"] == {"feedback_id": receipt["id"], "response_id": response_id, "rating": -1,
                                           "model_version": "gen-v1"}
    assert feedback_record["route"] == "/v1/feedback" and feedback_record["status"] == 200
    assert gateway.metrics.value(project.metric("gateway_feedback_total"),
                                 {"model_version": "gen-v1", "source": "api", "rating": "-1"}) == 1


async def test_the_stored_answer_is_the_scanned_one_and_a_correction_is_redacted(
    client: httpx.AsyncClient, gateway: GatewayMiddleware, bench: ModelBench
) -> None:
    bench.answers["gen-v1"] = "Write to bob@corp.example.org for access."
    response_id = await _answered(client)
    given = await client.post("/v1/feedback", headers=auth("northwind"), json={
        "response_id": response_id, "rating": 0, "correction": "Ask jane.doe@example.com instead."})
    assert given.status_code == 200
    row = gateway.store.responses.get(response_id)
    assert (row.tenant, row.model_version, row.routed_version, row.status) == ("northwind", "gen-v1", "gen-v1", 200)
    assert row.answer == ["Write to [EMAIL] for access."] and row.prompt == ["What is the serve config?"]
    [stored] = gateway.store.responses.feedback_for([response_id])[response_id]
    assert stored.correction == "Ask [EMAIL] instead."


async def test_a_tenant_cannot_rate_another_tenants_answer(client: httpx.AsyncClient) -> None:
    theirs = await _answered(client, "tiny")
    refused = await client.post("/v1/feedback", headers=auth("northwind"), json={"response_id": theirs, "rating": 1})
    unknown = await client.post("/v1/feedback", headers=auth("northwind"), json={"response_id": "f" * 32, "rating": 1})
    assert refused.status_code == unknown.status_code == 404
    # Indistinguishable from an id that does not exist: nothing about the other tenant leaks.
    assert refused.json()["error"]["message"] == f"response_id: no response {theirs!r} for this API key's tenant"
    assert refused.json()["error"]["param"] == "response_id" and refused.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": 1}, "response_id"),
        ({"response_id": "", "rating": 1}, "response_id"),
        ({"response_id": "x" * 65, "rating": 1}, "response_id"),
        ({"response_id": "abc"}, "rating"),
        ({"response_id": "abc", "rating": 5}, "rating"),
        ({"response_id": "abc", "rating": "good"}, "rating"),
        ({"response_id": "abc", "rating": 1, "correction": ""}, "correction"),
        ({"response_id": "abc", "rating": 1, "tags": [""]}, "tags.0"),
        ({"response_id": "abc", "rating": 1, "tags": ["t"] * 17}, "tags"),
    ],
)
async def test_bad_feedback_is_a_400_naming_the_field(client: httpx.AsyncClient, body: dict[str, Any],
                                                      field: str) -> None:
    response = await client.post("/v1/feedback", headers=auth("northwind"), json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == field and error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"{field}: ")


async def test_feedback_needs_a_key_that_may_ask(client: httpx.AsyncClient) -> None:
    response_id = await _answered(client)
    assert (await client.post("/v1/feedback", json={"response_id": response_id, "rating": 1})).status_code == 401
    forbidden = await client.post("/v1/feedback", headers=auth("reviewer"), json={"response_id": response_id,
                                                                                  "rating": 1})
    assert forbidden.status_code == 403


async def test_a_review_decision_is_feedback_on_the_reviewed_answer(
    client: httpx.AsyncClient, bench: ModelBench, gateway: GatewayMiddleware
) -> None:
    bench.answers["gen-v1"] = "you are an idiot and I hate you, stupid moron"
    response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    review_id = response.json()[project.PROJECT_NAME]["review_id"]
    await gateway.drain()
    rejected = await client.post(f"/v1/review/items/{review_id}/reject", headers=auth("reviewer"))
    assert rejected.status_code == 200
    response_id = response.headers["x-request-id"]
    [stored] = gateway.store.responses.feedback_for([response_id])[response_id]
    assert (stored.source, stored.rating, stored.model_version, stored.tags) == (
        "review", -1, "gen-v1", ["review:rejected"])
    assert gateway.metrics.value(project.metric("gateway_feedback_total"),
                                 {"model_version": "gen-v1", "source": "review", "rating": "-1"}) == 1
    assert gateway.store.responses.get(response_id).flagged is True


async def test_replicas_share_answers_feedback_and_the_review_queue_across_a_restart(
    make_gateway: Callable[..., GatewayMiddleware], bench: ModelBench
) -> None:
    """Two gateway replicas on one store: what one answered or queued, the other rates, reviews, and keeps
    after the first one is gone."""
    replica_a, replica_b = make_gateway(), make_gateway()
    bench.failing.update({"gen-v1", "extractive"})  # nothing answers: the request goes to review
    async with http(replica_a) as client:
        queued = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
        bench.failing.clear()
        response_id = await _answered(client)
    assert queued.status_code == 202
    review_id = queued.json()[project.PROJECT_NAME]["review_id"]
    replica_a.close()  # replica A goes away; a new one starts on the same store
    replica_c = make_gateway()
    async with http(replica_b) as client:
        rated = await client.post("/v1/feedback", headers=auth("northwind"), json={"response_id": response_id,
                                                                              "rating": 1})
        listed = (await client.get("/v1/review/items", headers=auth("reviewer"))).json()["items"]
    assert rated.status_code == 200 and [item["id"] for item in listed] == [review_id]
    async with http(replica_c) as client:
        approved = await client.post(f"/v1/review/items/{review_id}/approve", headers=auth("reviewer"))
    assert approved.status_code == 200
    assert replica_b.review_queue().list("pending") == []
    replica_b.close()
    replica_c.close()
