"""Property-based and schema-driven fuzzing: no 5xx, no crash, every error is JSON.

- The gateway's own API (review queue, metrics, reload) is fuzzed from its OpenAPI schema with
  schemathesis, responses checked against the schema.
- The model routes are fuzzed with arbitrary JSON bodies and headers (hypothesis).
- Invariants: the quota ledger never grants more than the bucket holds; any single change to an
  audit record is detected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_facts import project
from services.gateway import GatewayMiddleware
from services.gateway.audit import AuditLog, verify_lines
from services.gateway.quotas import QuotaLedger
from tests.gateway.harness import KEYS, auth

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def test_gateway_api_conforms_to_its_openapi_schema(gateway: GatewayMiddleware) -> None:
    schema = schemathesis.openapi.from_asgi("/v1/gateway/openapi.json", gateway, headers=auth("reviewer"))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/review/items", "/v1/review/items/{item_id}/approve"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def check(case: Any) -> None:
            response = case.call(headers=auth("reviewer"))
            assert response.status_code < 500, response.text
            case.validate_response(response)

        check()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
chat_like = st.fixed_dictionaries(
    {"model": st.sampled_from([f"{project.PROJECT_NAME}-chat", f"{project.PROJECT_NAME}-embed", "x"]) | st.text(max_size=8)},
    optional={
        "messages": st.lists(
            st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant"]) | st.text(max_size=5)},
                                  optional={"content": json_values}), max_size=6) | json_values,
        "input": st.lists(st.text(max_size=30), max_size=10) | json_values,
        "query": st.text(max_size=50) | json_values,
        "stream": st.booleans() | json_values,
    },
)


@pytest.mark.anyio
async def test_model_routes_never_5xx_and_errors_are_json(gateway: GatewayMiddleware) -> None:
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        pending: list[httpx.Request] = []

        @given(
            path=st.sampled_from(["/v1/chat/completions", "/v1/embeddings", "/v1/rag/query", "/v1/models", "/v2/x"]),
            body=chat_like | json_values,
            key=st.sampled_from([*KEYS.values(), "", "rk-wrong"]),
        )
        @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(path: str, body: Any, key: str) -> None:
            pending.append(client.build_request("POST", path, content=json.dumps(body), headers={"X-API-Key": key}))

        fuzz()  # hypothesis drives a sync function: collect the requests, then send them here
        statuses = []
        for request in pending:
            response = await client.send(request)
            statuses.append(response.status_code)
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/json"), response.text
                assert isinstance(response.json()["error"]["message"], str)
    assert len(statuses) == len(pending) and {400, 401} <= set(statuses)


@given(st.lists(st.tuples(st.floats(0, 30), st.integers(1, 20)), min_size=1, max_size=60))
@FUZZ
def test_ledger_never_grants_more_than_capacity_plus_refill(steps: list[tuple[float, int]]) -> None:
    now = [0.0]
    ledger = QuotaLedger(clock=lambda: now[0])
    granted = 0.0
    for advance, wanted in steps:
        now[0] += advance
        granted += ledger.lease("t", "requests", 1, wanted, capacity=10, refill_per_s=10 / 60).granted
    assert granted <= 10 + now[0] * 10 / 60 + 1e-6


@given(index=st.integers(0, 5), field=st.sampled_from(["tenant", "status", "seq", "prev", "route"]),
       value=st.text(max_size=10) | st.integers())
@FUZZ
def test_any_single_field_change_in_the_audit_log_is_detected(
    tmp_path_factory: pytest.TempPathFactory, index: int, field: str, value: Any
) -> None:
    log = AuditLog(Path(tmp_path_factory.mktemp("audit")), stream="s")
    for n in range(6):
        log.append({"tenant": "northwind", "status": 200, "route": f"/r{n}"})
    log.close()
    lines = log.path.read_text().splitlines()
    record = json.loads(lines[index])
    if record[field] == value:
        return
    record[field] = value
    lines[index] = json.dumps(record)
    assert not verify_lines("s", lines).ok


# One hand-made case per class of malformed input that once slipped past the generators above
# (each answered 500 before): depth, encoding, size and types. Each must be a JSON 4xx naming the body.
_CHAT = f'"model": "{project.PROJECT_NAME}-chat"'.encode()
_DEEP = b"{" + _CHAT + b', "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
MALFORMED_BODIES = {
    "nested 100,000 levels deep": _DEEP,
    "a lone surrogate in a string": b"{" + _CHAT + b', "messages": [{"role": "user", "content": "hi \\ud800"}]}',
    "a lone low surrogate in a key": b"{" + _CHAT + b', "\\udc00": 1, "messages": []}',
    "invalid UTF-8 bytes": b"{" + _CHAT + b', "messages": [{"role": "user", "content": "\xff\xfe"}]}',
    "larger than the body limit": b"{" + _CHAT + b', "pad": "' + b"x" * 30_000 + b'"}',
    "a number where an object belongs": b"12345678901234567890",
    "an array at the top level": b"[1, 2, 3]",
}


@pytest.mark.anyio
@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
async def test_malformed_bodies_get_a_json_4xx_naming_the_body(gateway: GatewayMiddleware, body: bytes) -> None:
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.post("/v1/chat/completions", content=body, headers=auth("northwind"))
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["message"].startswith("body") or error.get("field") == "body", error
