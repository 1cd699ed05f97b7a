"""Config validation names the dotted field; keys load from a file or AWS Secrets Manager (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from platform_facts import project
from services.config import config_names
from services.gateway.config import KeySourceConfig, load_gateway_config, load_scanners_config, parse_gateway_config
from services.gateway.errors import AuthenticationError, ConfigError, ScopeError
from services.gateway.keys import generate_api_key, hash_api_key, load_key_store, local_api_key
from tests.fixtures.configs import rendered_config
from tests.gateway.harness import base_config, write_gateway_config


@pytest.mark.parametrize("name", config_names("gateway"))
def test_committed_configs_validate_once_rendered(name: str) -> None:
    config = parse_gateway_config(rendered_config("gateway", name), f"gateway-{name}.yaml")
    assert config.environment == name.removesuffix("-onprem")


def test_a_cloud_config_refuses_to_load_with_its_placeholders_unfilled() -> None:
    with pytest.raises(ConfigError, match=r"gateway-prod.yaml: \$\{audit_bucket\}, \$\{gateway_keys_secret_arn\}, "
                       r"\$\{region\}, \$\{state_url\} not filled in"):
        load_gateway_config("prod")


def test_the_scanners_section_loads_alone_from_a_cloud_config_with_placeholders(tmp_path: Path) -> None:
    """Evaluation tools build production's scanners from the committed file, placeholders and all."""
    scanners = load_scanners_config("prod")
    assert scanners == parse_gateway_config(rendered_config("gateway", "prod"), "gateway-prod.yaml").scanners
    broken = tmp_path / "gateway-broken.yaml"
    broken.write_text("scanners:\n  input:\n    no_such_scanner: {action: block}\n")
    with pytest.raises(ConfigError, match=r"^gateway-broken.yaml: scanners.input: input.no_such_scanner: unknown"):
        load_scanners_config(broken)


def test_the_local_key_is_valid_only_against_the_local_key_file() -> None:
    config = load_gateway_config("local")
    store = load_key_store(config.keys, config.tenants)
    key = store.authenticate({"authorization": f"Bearer {local_api_key()}"})
    assert key.tenant == "local" and "chat" in key.scopes
    for env in ("dev", "staging", "prod"):
        assert parse_gateway_config(rendered_config("gateway", env), env).keys.source == "secrets_manager"
    for name in ("staging-onprem", "prod-onprem"):  # on-prem pods hold no AWS credentials
        assert parse_gateway_config(rendered_config("gateway", name), name).keys.source == "file"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["routes"]["chat"]["versions"][0].update(model_version="nope"),
         "routes.chat.versions.0.model_version: unknown model version 'nope'"),
        (lambda c: c["tenants"]["northwind"].update(requests_per_minute=0),
         "tenants.northwind.requests_per_minute: Input should be greater than 0"),
        # The retriever filters passages on the tenant's name: one it could not filter on is refused here.
        (lambda c: c["tenants"].update({"north wind": c["tenants"]["northwind"]}),
         "tenants.north wind.[key]: String should match pattern"),
        (lambda c: c["model_versions"]["gen-v1"].update(location="moon"),
         "model_versions.gen-v1.location: Input should be 'on_prem' or 'cloud'"),
        (lambda c: c["model_versions"]["gen-v1"].update(hedge_after_s=0.5),
         "model_versions.gen-v1: hedge_after_s: 0.5 is not shorter than timeout_s (0.5)"),
        (lambda c: c["model_versions"]["gen-v1"].update(hedge_after_s=0.1, retries=0),
         "model_versions.gen-v1: hedge_after_s: a hedge is one of the retries, and retries is 0"),
        (lambda c: c["routes"]["embeddings"].update(fallback=["review"]),
         "routes.embeddings: fallback: 'review' answers chat requests only"),
        (lambda c: c["scanners"].update(on_error="maybe"),
         "scanners.on_error: Input should be 'fail_closed' or 'fail_open'"),
        # Keys renamed in 0.2 are refused with their new name, never silently ignored.
        (lambda c: c.update(backends=c.pop("model_versions")),
         "backends: renamed to 'model_versions'"),
        (lambda c: c["routes"]["chat"]["versions"][0].update(backend=c["routes"]["chat"]["versions"][0].pop("model_version")),
         "routes.chat.versions.0: backend: renamed to 'model_version'"),
    ],
)
def test_config_errors_name_the_dotted_field(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    config = base_config(tmp_path / "keys.yaml")
    change(config)
    path = write_gateway_config(tmp_path, config)
    with pytest.raises(ConfigError) as error:
        load_gateway_config(path)
    assert message in str(error.value)


def test_key_checks(tmp_path: Path) -> None:
    config = load_gateway_config(write_gateway_config(tmp_path))
    store = load_key_store(config.keys, config.tenants)
    with pytest.raises(AuthenticationError, match="missing API key"):
        store.authenticate({})
    with pytest.raises(AuthenticationError, match="invalid API key"):
        store.authenticate({"authorization": "Basic abc"})
    key = store.authenticate({"x-api-key": "rk-test-northwind-chat-only"})
    with pytest.raises(ScopeError, match="lacks scope 'rag'"):
        key.require_scope("rag", "POST /v1/rag/query")
    fresh = generate_api_key()
    assert fresh.startswith("rk-") and len(fresh) > 40 and hash_api_key(fresh) != hash_api_key(generate_api_key())


def _key_set(tenant: str, key: str, scopes: list[str]) -> str:
    return json.dumps({"keys": [{"id": "k1", "tenant": tenant, "sha256": hash_api_key(key), "scopes": scopes}]})


def test_keys_from_secrets_manager(aws_endpoint: str) -> None:
    """moto server stands in for AWS Secrets Manager (the cloud cannot exist here)."""
    client = boto3.client("secretsmanager", endpoint_url=aws_endpoint, region_name="us-east-1")
    client.create_secret(Name=f"{project.PROJECT_NAME}/prod/gateway-keys", SecretString=_key_set("northwind", "rk-from-sm", ["chat"]))
    source = KeySourceConfig(source="secrets_manager", secret_id=f"{project.PROJECT_NAME}/prod/gateway-keys")
    store = load_key_store(source, ["northwind"], secrets_client=client)
    assert store.authenticate({"authorization": "Bearer rk-from-sm"}).scopes == frozenset({"chat"})
    with pytest.raises(ConfigError, match=r"keys\.0\.tenant: unknown tenant 'northwind'"):
        load_key_store(source, ["other"], secrets_client=client)
    client.create_secret(Name="broken", SecretString="{not json")
    with pytest.raises(ConfigError, match="not a JSON key set"):
        load_key_store(KeySourceConfig(source="secrets_manager", secret_id="broken"), ["northwind"], secrets_client=client)
    with pytest.raises(ConfigError, match="cannot read secret 'missing'"):
        load_key_store(KeySourceConfig(source="secrets_manager", secret_id="missing"), ["northwind"], secrets_client=client)
