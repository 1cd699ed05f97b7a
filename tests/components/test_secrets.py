"""`Secrets` under mocks: a rotating customer key with a tight policy, secrets encrypted with it.

The AWS provider cannot run here; the stack is rendered with Pulumi mocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from components.secrets import SecretsArgs, SecretsSettings, key_policy
from platform_facts import project
from stacks.config import read_stack_file
from stacks.plan import PlanGraph, render

PROD = project.environment_prefix("prod")

Render = Callable[[str], PlanGraph]


def test_key_rotates_and_its_policy_names_no_wildcard_principal(rendered: Render) -> None:
    (key,) = rendered("prod").of_type("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True, key.urn
    assert key.protect is True, f"{key.urn} must be protected in prod"
    policy = json.loads(key.inputs["policy"])
    for statement in policy["Statement"]:
        assert statement["Principal"] != "*" and statement["Principal"].get("AWS") != "*", statement["Sid"]
    services = [s for s in policy["Statement"] if "Service" in s["Principal"]]
    assert all("Condition" in s for s in services), "service principals must be scoped by a condition"


def test_key_policy_is_scoped_to_the_account_and_region() -> None:
    policy = json.loads(key_policy("111122223333", "eu-west-1"))
    text = json.dumps(policy)
    assert "arn:aws:iam::111122223333:root" in text and "logs.eu-west-1.amazonaws.com" in text


def test_platform_secrets_are_encrypted_with_the_platform_key(rendered: Render) -> None:
    graph = rendered("prod")
    (key,) = graph.of_type("aws:kms/key:Key")
    secrets = graph.of_type("aws:secretsmanager/secret:Secret")
    assert sorted(s.name for s in secrets) == [
        f"{PROD}-secrets-gateway-api-keys",
        f"{PROD}-secrets-grafana-admin",  # Grafana's admin password, read through External Secrets
        f"{PROD}-secrets-model-hub-token",
    ]
    for secret in secrets:
        assert secret.inputs["kmsKeyId"] == key.outputs["arn"], secret.urn


def test_a_secret_value_from_config_stays_secret_in_the_plan() -> None:
    values, secret_keys = read_stack_file("prod")
    values[project.config_key("model_hub_token")] = "hf_do_not_leak_123"
    graph = render(values, secret_keys | {project.config_key("model_hub_token")}, stack="prod")
    (version,) = graph.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretString"] == "[secret]"
    assert "hf_do_not_leak_123" not in graph.to_json()


def test_outputs_are_arns_never_values() -> None:

    values, secret_keys = read_stack_file("dev")
    exported: dict[str, object] = {}

    def program(config):  # type: ignore[no-untyped-def]
        from stacks.compose import build_platform

        platform = build_platform(config)
        platform.secrets.secret_arns.apply(exported.update)

    render(values, secret_keys, stack="dev", program=program)
    assert set(exported) == {"model-hub-token", "gateway-api-keys", "grafana-admin"}
    assert all(str(arn).startswith("arn:aws:secretsmanager:") for arn in exported.values())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: SecretsArgs("us-east-1", platform_secrets=("Bad Name",)),
            "secret_names: 'Bad Name' must be lower-case letters, digits and dashes",
        ),
        (
            lambda: SecretsArgs("us-east-1", SecretsSettings(service_credentials=("model-hub-token",))),
            "secret_names: names must be unique",
        ),
        (
            lambda: SecretsArgs("us-east-1", initial_values={"nope": "x"}),
            "initial_values: nope not in secret_names",
        ),
        (
            lambda: SecretsSettings(service_credentials=("a", "a")),
            "SecretsSettings: service_credentials: names must be unique",
        ),
        (
            lambda: SecretsSettings(key_deletion_window_days=3),
            "SecretsSettings: key_deletion_window_days: Input should be greater than or equal to 7 (got 3)",
        ),
        (
            lambda: SecretsSettings(recovery_window_days=45),
            "SecretsSettings: recovery_window_days: Input should be less than or equal to 30 (got 45)",
        ),
    ],
)
def test_bad_args_are_refused_with_the_field_named(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        build()
    assert str(raised.value) == message
