"""Residency on the real Ray-served application: a cloud gateway refuses a regulated tenant.

Next to the session's application (tests/fixtures/serve.py) this deploys one more whose gateway is
configured as a cloud platform's is: every model version `location: cloud`, one tenant
`data_class: regulated` with its own key. Nothing is mocked: the key store, admission, the edge and
the audit log are the real ones inside the Serve replica.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from services.config import config_document
from services.gateway import local_api_key
from services.gateway.config import load_gateway_config
from services.gateway.keys import KeyRecord, generate_api_key, hash_api_key, write_key_file
from tests.fixtures.serve import ServeApp, deploy_application

pytestmark = pytest.mark.serve

REGULATED = "regulated-bank"


@dataclass(frozen=True)
class CloudGateway:
    base_url: str
    state_dir: Path
    regulated_key: str
    embed_model: str

    def audit_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for path in sorted((self.state_dir / "audit").glob("*.jsonl"))
                for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def cloud_gateway(serve_app: ServeApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudGateway]:
    from ray import serve

    directory = tmp_path_factory.mktemp("residency")
    regulated_key = generate_api_key()
    scopes = ["chat", "embeddings", "rag", "models"]
    keys_path = directory / "keys.yaml"
    write_key_file(keys_path, [
        KeyRecord(id="local-dev", tenant="local", sha256=hash_api_key(local_api_key()), scopes=scopes, models=["*"]),
        KeyRecord(id="bank", tenant=REGULATED, sha256=hash_api_key(regulated_key), scopes=scopes, models=["*"]),
    ])
    config: dict[str, Any] = copy.deepcopy(config_document("gateway", "local"))
    config["keys"]["path"] = str(keys_path)
    config["tenants"][REGULATED] = {"data_class": "regulated", "requests_per_minute": 600, "tokens_per_minute": 100_000}
    for version in config["model_versions"].values():
        version["location"] = "cloud"
    config_path = directory / "gateway.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    load_gateway_config(config_path)  # fail here, naming the field, rather than inside a replica

    state_dir = directory / "state"
    args = copy.deepcopy(serve_app.args)
    args["gateway"] = {"env": "local", "config_path": str(config_path), "state_dir": str(state_dir)}
    base_url = deploy_application(serve_app, "residency", "/residency", args)
    try:
        yield CloudGateway(base_url, state_dir, regulated_key, config["routes"]["embeddings"]["public_model"])
    finally:
        serve.delete("residency")


def _client(gateway: CloudGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0, timeout=60)


def test_a_cloud_gateway_refuses_a_regulated_tenant_clearly_and_audits_it(cloud_gateway: CloudGateway) -> None:
    served = _client(cloud_gateway, local_api_key()).embeddings.create(model=cloud_gateway.embed_model, input=["x"])
    assert len(served.data[0].embedding) == 384  # the same route serves a standard tenant

    with pytest.raises(openai.PermissionDeniedError) as refused:
        _client(cloud_gateway, cloud_gateway.regulated_key).embeddings.create(
            model=cloud_gateway.embed_model, input=["account 12345 of a regulated customer"])
    error = refused.value.body
    assert isinstance(error, dict)
    assert (error["code"], error["type"], error["tenant"], error["served_by"]) == (
        "data_residency", "permission_error", REGULATED, "on_prem")
    assert "served by the on-prem gateway" in error["message"]
    # The answer's request ids (Serve's and the gateway's, or the one they share): the audit record has one.
    request_ids = set(refused.value.response.headers.get_list("x-request-id"))

    deadline = time.monotonic() + 10  # the replica writes the record before the answer's last byte
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not records:
        records = [r for r in cloud_gateway.audit_records() if r.get("request_id") in request_ids]
        time.sleep(0.2)
    assert [(r["tenant"], r["status"], r["error"]) for r in records] == [(REGULATED, 403, "data_residency")]
