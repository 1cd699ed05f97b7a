"""`tools.api_keys`: minting keys into the store a deployed gateway reads.

The Secrets Manager half runs against moto's server (the cloud cannot exist here); the gateway's
own loader then authenticates the minted key from that secret.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import boto3
import pytest
import yaml

from platform_facts import project
from services.gateway.config import KeySourceConfig
from services.gateway.errors import AuthenticationError
from services.gateway.keys import load_key_store
from tools.api_keys import main

DEV = project.environment_prefix("dev")

TENANTS = ["internal", "regulated-bank"]


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue().strip(), err.getvalue()


def test_a_key_added_to_the_stacks_secret_authenticates_at_the_gateway(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name=f"{DEV}-secrets-gateway-api-keys")["ARN"]  # as the stack creates it: no value
    # What `make api-key` pipes in: `pulumi stack output --json`.
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"secret_arns": {"gateway-api-keys": arn}})))

    code, key, _ = _run("add", "--stack-outputs", "-", "--region", "us-east-1", "--tenant", "internal",
                        "--scopes", "chat,models")
    assert code == 0 and key.startswith("rk-")
    code, second, _ = _run("add", "--secret-id", arn, "--region", "us-east-1", "--tenant", "regulated-bank",
                           "--scopes", "chat", "--id", "bank-app")
    assert code == 0 and second != key

    config = KeySourceConfig(source="secrets_manager", secret_id=arn, region="us-east-1")
    store = load_key_store(config, TENANTS, client)
    caller = store.authenticate({"authorization": f"Bearer {key}"})
    assert (caller.id, caller.tenant, caller.scopes) == ("internal-1", "internal", frozenset({"chat", "models"}))
    assert key not in client.get_secret_value(SecretId=arn)["SecretString"], "only the hash is stored"

    code, _, _ = _run("revoke", "--secret-id", arn, "--region", "us-east-1", "--id", "internal-1")
    assert code == 0
    with pytest.raises(AuthenticationError):
        load_key_store(config, TENANTS, client).authenticate({"authorization": f"Bearer {key}"})
    assert load_key_store(config, TENANTS, client).authenticate({"authorization": f"Bearer {second}"}).tenant == "regulated-bank"


def test_an_on_prem_key_file_is_what_the_mounted_secret_holds(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    code, key, _ = _run("add", "--file", str(keys), "--tenant", "regulated-bank", "--scopes", "chat,embeddings")
    assert code == 0
    store = load_key_store(KeySourceConfig(source="file", path=str(keys)), TENANTS)
    assert store.authenticate({"authorization": f"Bearer {key}"}).tenant == "regulated-bank"
    assert yaml.safe_load(keys.read_text())["keys"][0]["id"] == "regulated-bank-1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("add", "--tenant", "internal", "--scopes", "chat", "--id", "dup"), "already has a key named 'dup'"),
        (("revoke", "--id", "nobody"), "has no key named 'nobody'"),
    ],
)
def test_mistakes_are_named_not_tracebacks(tmp_path: Path, argv: tuple[str, ...], message: str) -> None:
    keys = tmp_path / "keys.yaml"
    assert _run("add", "--file", str(keys), "--tenant", "internal", "--scopes", "chat", "--id", "dup")[0] == 0
    code, _, err = _run(*argv[:1], "--file", str(keys), *argv[1:])
    assert code == 2 and message in err


def test_an_unknown_scope_is_refused_by_the_parser(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info, redirect_stderr(io.StringIO()) as err:
        main(["add", "--file", str(tmp_path / "k.yaml"), "--tenant", "internal", "--scopes", "chat,everything"])
    assert exit_info.value.code == 2 and "unknown scope(s) everything" in err.getvalue()
