"""A regulated tenant's retrieval on the real application (Ray Serve, the gateway in front, the
retriever serving a LanceDB index this pipeline built): RAG answers and the passages a chat answer
cites come only from documents for the tenant (or every tenant) cleared for its data class, and
headers a client sends to claim another tenant or a wider clearance change nothing.

Next to the session's application (tests/fixtures/serve.py) this deploys one more whose corpus
holds documents of every kind of clearance on one subject, so every question finds all of them
when nothing filters; its gateway config has a regulated and a standard tenant.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from services.config import config_document
from services.gateway.config import load_gateway_config
from services.gateway.keys import hash_api_key
from services.inference.caller import DATA_CLASS_HEADER, TENANT_HEADER
from tests.fixtures.serve import ServeApp, deploy_application

pytestmark = pytest.mark.serve

# Test-only keys (the config holds their hashes).
KEYS = {"bank": "rk-test-bank-regulated-retrieval", "northwind": "rk-test-northwind-standard-retrieval"}

# One subject (tenant quotas), four clearances.
CORPUS = {
    "everyone-standard.md": "# Quota limits\n\nEvery tenant has a requests-per-minute quota limit and a tokens-per-"
                            "minute quota limit, enforced by the gateway for all tenants.\n",
    "everyone-cleared.md": "---\ndata_classes: [standard, regulated]\n---\n# Quota limits for regulated tenants\n\n"
                           "Regulated tenants have the same requests-per-minute and tokens-per-minute quota limits, "
                           "served on premises.\n",
    "bank-only.md": "---\ntenant: bank\ndata_classes: [regulated]\n---\n# Bank's quota limits\n\n"
                    "The bank tenant's tokens-per-minute quota limit doubles during the quarter close.\n",
    "northwind-only.md": "---\ntenant: northwind\n---\n# Northwind's quota limits\n\n"
                    "The northwind tenant's requests-per-minute quota limit is raised for its launch week.\n",
}
CLEARED = {"bank": {"everyone-cleared.md", "bank-only.md"},
           "northwind": {"everyone-standard.md", "everyone-cleared.md", "northwind-only.md"}}
QUESTIONS = ["What are the quota limits of a tenant?", "tokens-per-minute quota limit", "requests per minute"]


@dataclass(frozen=True)
class Tenanted:
    base_url: str
    chat_model: str


@pytest.fixture(scope="module")
def tenanted(serve_app: ServeApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenanted]:
    from ray import serve

    directory = tmp_path_factory.mktemp("tenanted")
    corpus = directory / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text)
    keys_path = directory / "keys.yaml"
    keys_path.write_text(yaml.safe_dump({"keys": [
        {"id": tenant, "tenant": tenant, "sha256": hash_api_key(key), "scopes": ["chat", "rag"], "models": ["*"]}
        for tenant, key in KEYS.items()
    ]}))
    config: dict[str, Any] = copy.deepcopy(config_document("gateway", "local"))
    config["keys"]["path"] = str(keys_path)
    limits = {"requests_per_minute": 60_000, "tokens_per_minute": 6_000_000}
    config["tenants"] = {"bank": {"data_class": "regulated", **limits}, "northwind": {"data_class": "standard", **limits}}
    config["quotas"]["ledger"] = "process"  # the session's other gated apps hold the shared ledger's tenants
    config["model_versions"]["extractive"]["model"] = serve_app.args["generator"]["model_name"]
    config_path = directory / "gateway.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    load_gateway_config(config_path)  # fail here, naming the field, rather than inside a replica

    args = copy.deepcopy(serve_app.args)
    args["retriever"]["corpus"] = [str(corpus)]
    args["retriever"]["index"] = {"uri": str(directory / "index")}
    args["gateway"] = {"env": "local", "config_path": str(config_path), "state_dir": str(directory / "state")}
    base_url = deploy_application(serve_app, "tenanted", "/tenanted", args)
    try:
        yield Tenanted(base_url, config["routes"]["chat"]["public_model"])
    finally:
        serve.delete("tenanted")


def _documents(app: Tenanted, tenant: str, question: str, extra_headers: dict[str, str] | None = None,
               route: str = "rag") -> set[str]:
    """The documents the passages used to answer `question` for `tenant` come from."""
    headers = {"Authorization": f"Bearer {KEYS[tenant]}", **(extra_headers or {})}
    if route == "rag":
        response = httpx.post(f"{app.base_url}/v1/rag/query", json={"query": question, "k": 10}, headers=headers,
                              timeout=60)
        assert response.status_code == 200, response.text
        sources = [passage["source"] for passage in response.json()["passages"]]
    else:
        body = {"model": app.chat_model, "messages": [{"role": "user", "content": question}]}
        response = httpx.post(f"{app.base_url}/v1/chat/completions", json=body, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        sources = [citation["source"] for citation in response.json()["citations"]]
    return {source.split("#")[0] for source in sources}


@pytest.mark.parametrize("route", ["rag", "chat"])
def test_each_tenant_retrieves_only_documents_cleared_for_it(tenanted: Tenanted, route: str) -> None:
    seen: dict[str, set[str]] = {"bank": set(), "northwind": set()}
    for question in QUESTIONS:
        for tenant in seen:
            documents = _documents(tenanted, tenant, question, route=route)
            assert documents and documents <= CLEARED[tenant], (tenant, question, documents)
            seen[tenant] |= documents
    # The filter removed something the question matches: the other tenant is served it.
    assert "bank-only.md" in seen["bank"] and "everyone-standard.md" in seen["northwind"]


@pytest.mark.parametrize("forged", [
    {TENANT_HEADER: "northwind", DATA_CLASS_HEADER: "standard"},
    {DATA_CLASS_HEADER: "standard"},
    {TENANT_HEADER.upper(): "northwind", DATA_CLASS_HEADER.title(): "standard"},
])
def test_a_clients_own_caller_headers_cannot_widen_a_regulated_tenants_clearance(
    tenanted: Tenanted, forged: dict[str, str]
) -> None:
    for route in ("rag", "chat"):
        for question in QUESTIONS:
            documents = _documents(tenanted, "bank", question, forged, route)
            assert documents <= CLEARED["bank"], (forged, route, question, documents)


@pytest.mark.parametrize(("headers", "field"), [
    ({TENANT_HEADER: "bank"}, DATA_CLASS_HEADER),
    ({TENANT_HEADER: "bank", DATA_CLASS_HEADER: "top-secret"}, DATA_CLASS_HEADER),
    ({TENANT_HEADER: "bank' OR '1'='1", DATA_CLASS_HEADER: "regulated"}, TENANT_HEADER),
])
def test_the_serving_layer_refuses_unusable_caller_headers_with_400_naming_them(
    serve_app: ServeApp, headers: dict[str, str], field: str
) -> None:
    """The ungated application: only there can a caller header reach the serving layer from outside."""
    chat = {"model": serve_app.args["generator"]["model_name"], "messages": [{"role": "user", "content": "quotas"}]}
    for path, body in (("/v1/rag/query", {"query": "quotas"}), ("/v1/chat/completions", chat)):
        response = httpx.post(f"{serve_app.base_url}{path}", json=body, headers=headers, timeout=60)
        assert response.status_code == 400, (path, response.text)
        error = response.json()["error"]
        assert error["param"] == field and error["message"].startswith(f"{field}: "), (path, error)
