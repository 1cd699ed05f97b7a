"""The review API's edit decision, the queue's schema upgrade, and the pages the gateway serves without a key."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from platform_facts import project
from services.gateway import GatewayMiddleware
from services.gateway.admin import ADMIN_ROUTES
from services.gateway.errors import InvalidRequestError
from services.gateway.pages import PAGE_HEADERS, STATIC_DIR
from services.gateway.review import ReviewQueue
from services.state import StateStore
from tests.gateway.harness import ModelBench, auth, chat_body

pytestmark = pytest.mark.anyio

TOXIC = "you are an idiot and I hate you, stupid moron"


async def queue_flagged(client: httpx.AsyncClient, bench: ModelBench) -> str:
    bench.answers["gen-v1"] = TOXIC
    response = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    review_id: str = response.json()[project.PROJECT_NAME]["review_id"]
    return review_id


def audit_records(gateway: GatewayMiddleware) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gateway.audit.path.read_text().splitlines()]


async def test_an_edit_approves_the_item_with_the_answer_the_output_scanners_left(
    client: httpx.AsyncClient, bench: ModelBench, gateway: GatewayMiddleware
) -> None:
    item_id = await queue_flagged(client, bench)
    edited = await client.post(
        f"/v1/review/items/{item_id}/edit",
        json={"answer": "Ask bob@corp.example.org about the serve config.", "note": "rude answer rewritten"},
        headers=auth("reviewer"),
    )
    assert edited.status_code == 200, edited.text
    item = edited.json()
    assert item["status"] == "edited" and item["decided_by"] == "reviewer" and item["note"] == "rude answer rewritten"
    assert item["edited_answer"] == "Ask [EMAIL] about the serve config."
    assert item["content"]["answer"] == [TOXIC]  # the model's answer stays as it was
    record = audit_records(gateway)[-1]
    assert record["route"] == "/v1/review/items/{item_id}/edit" and record["key_id"] == "reviewer"
    assert record["review"] == {"item_id": item_id, "decision": "edited", "request_id": audit_records(gateway)[0]["request_id"]}
    assert record["redactions"] == {"email": 1}
    assert "bob@corp" not in gateway.audit.path.read_text()
    listed = (await client.get("/v1/review/items", params={"status": "edited"}, headers=auth("reviewer"))).json()
    assert [entry["id"] for entry in listed["items"]] == [item_id]
    again = await client.post(f"/v1/review/items/{item_id}/edit", json={"answer": "x"}, headers=auth("reviewer"))
    assert again.status_code == InvalidRequestError.status
    assert again.json()["error"]["current_status"] == "edited"


async def test_an_edit_the_output_scanners_block_is_refused_and_the_item_stays_pending(
    client: httpx.AsyncClient, bench: ModelBench
) -> None:
    item_id = await queue_flagged(client, bench)
    leak = f"Sure. You are {project.DISPLAY_NAME}'s internal assistant. Codeword: zebra-42."
    refused = await client.post(f"/v1/review/items/{item_id}/edit", json={"answer": leak}, headers=auth("reviewer"))
    assert refused.status_code == InvalidRequestError.status
    error = refused.json()["error"]
    assert error["message"].startswith("answer: blocked by scanner 'system_prompt_leakage'")
    assert error["scanner"] == "system_prompt_leakage"
    item = (await client.get(f"/v1/review/items/{item_id}", headers=auth("reviewer"))).json()
    assert item["status"] == "pending" and item["edited_answer"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [({}, "answer: Field required"), ({"answer": ""}, "answer: String should have at least 1 character")],
)
async def test_an_edit_without_an_answer_names_the_field(
    client: httpx.AsyncClient, bench: ModelBench, body: dict[str, Any], message: str
) -> None:
    item_id = await queue_flagged(client, bench)
    response = await client.post(f"/v1/review/items/{item_id}/edit", json=body, headers=auth("reviewer"))
    assert response.status_code == InvalidRequestError.status
    assert response.json()["error"]["message"] == message


async def test_editing_needs_the_review_write_scope_and_an_existing_item(
    client: httpx.AsyncClient, bench: ModelBench
) -> None:
    item_id = await queue_flagged(client, bench)
    forbidden = await client.post(f"/v1/review/items/{item_id}/edit", json={"answer": "ok"}, headers=auth("northwind"))
    assert forbidden.status_code == 403
    unknown = await client.post("/v1/review/items/nope/edit", json={"answer": "ok"}, headers=auth("reviewer"))
    assert unknown.status_code == 404


@pytest.mark.parametrize(("decision", "edited_answer"), [("edited", None), ("approved", "text")])
def test_an_edited_answer_comes_with_the_edited_decision_only(
    tmp_path: Path, decision: Any, edited_answer: str | None
) -> None:
    queue = ReviewQueue(StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}"))
    item_id = queue.enqueue("northwind", "/v1/chat/completions", "fallback", "r1", {"prompt": ["hi"]})
    with pytest.raises(ValueError, match=r"^edited_answer: required with the 'edited' decision and only with it"):
        queue.decide(item_id, decision, "reviewer", "", edited_answer)
    assert queue.get(item_id).status == "pending"
    queue.store.close()


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/v1/review/", "text/html; charset=utf-8"),
        ("/v1/reference/", "text/html; charset=utf-8"),
        ("/v1/pages/review.js", "text/javascript; charset=utf-8"),
        ("/v1/pages/common.js", "text/javascript; charset=utf-8"),
        ("/v1/pages/pages.css", "text/css; charset=utf-8"),
    ],
)
async def test_pages_are_served_without_a_key_under_a_strict_content_security_policy(
    client: httpx.AsyncClient, gateway: GatewayMiddleware, path: str, media_type: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert {name: response.headers[name] for name in PAGE_HEADERS} == PAGE_HEADERS
    assert response.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self';")
    assert gateway.audit.path.read_text() == ""  # static files: nothing to audit


async def test_only_the_pages_skip_the_key(client: httpx.AsyncClient) -> None:
    redirect = await client.get("/v1/review")
    assert (redirect.status_code, redirect.headers["location"]) == (308, "review/")
    assert (await client.get("/v1/pages/review.html")).status_code == 401  # pages only at their own path
    assert (await client.get("/v1/pages/secrets.js")).status_code == 401
    assert (await client.post("/v1/review/")).status_code == 401
    assert (await client.get("/v1/review/items")).status_code == 401


def test_the_pages_build_no_markup_from_strings_and_load_no_inline_script() -> None:
    scripts = {path.name: path.read_text() for path in STATIC_DIR.glob("*.js")}
    assert sorted(scripts) == ["common.js", "reference.js", "review.js"]
    for name, source in scripts.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{name} uses {sink}"
    for page in STATIC_DIR.glob("*.html"):
        html = page.read_text()
        assert re.findall(r"<script[^>]*>", html) == [f'<script type="module" src="../pages/{page.stem}.js">']
        assert "</script>" in html and re.search(r"<script[^>]*>\s*\S+\s*</script>", html) is None
        assert re.search(r"\son[a-z]+=", html) is None and "style=" not in html


async def test_the_gateway_schema_names_each_operations_scope(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/v1/gateway/openapi.json", headers=auth("reviewer"))).json()
    scopes = {
        (method.upper(), path, operation[f"x-{project.PROJECT_NAME}-scope"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    documented = {route for route in ADMIN_ROUTES if route[1] != "/v1/gateway/openapi.json"}
    assert scopes == documented
