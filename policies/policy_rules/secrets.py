"""Secrets policies: no secret value written where anyone who can read the object can read it.

Secret values reach pods through `secretKeyRef` to Secrets that External Secrets syncs from AWS
Secrets Manager, never as literals in manifests, ConfigMaps, env vars or plain-text Pulumi config.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pulumi.runtime
from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from policy_rules.core import (
    Report,
    Setting,
    customer_managed_key_problem,
    dig,
    is_mapping,
    items,
    json_document,
    resource_policy,
    stack_policy,
)
from policy_rules.kubernetes import subject
from policy_rules.workloads import containers, pod_templates

__all__ = ["POLICIES", "embedded_secret_names", "looks_like_secret_value", "secret_name"]

SECRET_NAME = re.compile(r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)")
SECRET_VALUES = (
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),  # Hugging Face
    re.compile(r"\bnvapi-[A-Za-z0-9_-]{20,}"),  # NVIDIA NGC / API catalog
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),  # OpenAI-style keys
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub
    re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)
# Names whose values are identifiers or references, not secrets; `tokens` (plural) counts or prices LLM
# tokens (`tokens_per_minute`, `cost_per_1k_tokens`), never a credential.
NOT_SECRET_NAME = re.compile(
    r"(?i)(_(arn|id|name|file|path|ref|url|secret_?name)$|^secret_?name$|token_?url|tokens(_|$))"
)
# One `NAME=value` (.env, properties) or `name: value` (YAML) line of a config file held in one value.
ASSIGNMENT = re.compile(r"""^\s*(?:export\s+)?["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*[=:]\s*(.*?)\s*$""")


def secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not NOT_SECRET_NAME.search(name)


def looks_like_secret_value(value: Any) -> bool:
    return isinstance(value, str) and any(pattern.search(value) for pattern in SECRET_VALUES)


def _kubernetes_secret(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if args.resource_type != "kubernetes:core/v1:Secret" or args.props.get("type") in settings["allowedTypes"]:
        return
    keys = [key for field in ("data", "stringData") if is_mapping(args.props.get(field)) for key in args.props[field]]
    if keys:
        report(
            f"Secret {args.name} must not carry literal data ({', '.join(sorted(keys))}); "
            "sync it from Secrets Manager with an ExternalSecret."
        )


def embedded_secret_names(text: str) -> Iterator[str]:
    """Names of the secret-named settings a config file (one ConfigMap value) assigns a literal to.

    Empty values and references (`${VAR}`, `$VAR`) are not literals; neither are names that say
    they hold a path or a reference (`REDIS_PASSWORD_FILE`).
    """
    for line in text.splitlines():
        match = ASSIGNMENT.match(line)
        if match is None:
            continue
        name, value = match.group(1), match.group(2).strip("\"'")
        if value and not value.startswith("$") and secret_name(name.rsplit(".", 1)[-1]):
            yield name


def _config_map(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != "kubernetes:core/v1:ConfigMap":
        return
    raw = args.props.get("data")
    data: Mapping[str, Any] = raw if is_mapping(raw) else {}
    for key in sorted(data):
        value = data[key]
        if looks_like_secret_value(value) or (secret_name(key) and isinstance(value, str) and value):
            report(f"ConfigMap {args.name} must not hold the secret {key}; use a Secret synced by External Secrets.")
        elif isinstance(value, str):
            for name in embedded_secret_names(value):
                report(
                    f"ConfigMap {args.name} must not hold the secret {name} (in {key}); "
                    "use a Secret synced by External Secrets."
                )


def _env_literals(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    for pod in pod_templates(args.resource_type, args.props):
        for container in containers(pod):
            for variable in items(container.spec.get("env")):
                name, value = str(dig(variable, "name") or ""), dig(variable, "value")
                if isinstance(value, str) and value and (secret_name(name) or looks_like_secret_value(value)):
                    report(f"{subject(args, container)} must read {name} from a secretKeyRef, not a literal value.")


def _hub_tokens(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    for pod in pod_templates(args.resource_type, args.props):
        for container in containers(pod):
            for variable in items(container.spec.get("env")):
                name = dig(variable, "name")
                if name in settings["tokenVariables"] and dig(variable, "valueFrom", "secretKeyRef") is None:
                    report(f"{subject(args, container)} must read {name} from a secretKeyRef.")


def _pulumi_config(args: StackValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    # The CLI hands the stack's config to policy packs in PULUMI_CONFIG, secrets decrypted and listed
    # by key in PULUMI_CONFIG_SECRET_KEYS.
    config = pulumi.runtime.get_config_env()
    secret_keys = set(pulumi.runtime.get_config_secret_keys_env())
    for key in sorted(config):
        if key in secret_keys:
            continue
        for path in _plaintext_secrets(key.split(":", 1)[-1], json_document(config[key]) or config[key]):
            report(
                f"Stack config {key} must be set as a secret (pulumi config set --secret {key}); "
                f"{path} looks like a secret."
            )


def _plaintext_secrets(name: str, value: Any) -> Iterator[str]:
    """Dotted paths of string leaves, in a (structured) config value, named or shaped like secrets."""
    if is_mapping(value):
        for key in value:
            yield from (f"{name}.{path}" for path in _plaintext_secrets(str(key), value[key]))
    elif isinstance(value, str) and value and (secret_name(name) or looks_like_secret_value(value)):
        yield name


USER_DATA_KINDS = {
    "aws:ec2/instance:Instance": "Instance",
    "aws:ec2/launchTemplate:LaunchTemplate": "Launch template",
    "aws:ec2/launchConfiguration:LaunchConfiguration": "Launch configuration",
}


def user_data_texts(props: Mapping[str, Any]) -> Iterator[str]:
    """The user data as written and, when it is base64 (launch templates, `userDataBase64`), decoded."""
    for key in ("userData", "userDataBase64"):
        value = props.get(key)
        if not isinstance(value, str) or not value:
            continue
        yield value
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):  # plain text, not base64
            yield base64.b64decode(value, validate=True).decode("utf-8")


def _user_data(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    kind = USER_DATA_KINDS.get(args.resource_type)
    if kind is None:
        return
    named: list[str] = []
    credential = False
    for text in user_data_texts(args.props):
        named.extend(name for name in embedded_secret_names(text) if name not in named)
        credential = credential or looks_like_secret_value(text)
    for name in named:
        report(f"{kind} {args.name} must not carry the secret {name} in its user data; read it from Secrets Manager.")
    if credential and not named:
        report(f"{kind} {args.name} must not carry a credential in its user data; read it from Secrets Manager.")


def _secrets_manager_key(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != "aws:secretsmanager/secret:Secret":
        return
    problem = customer_managed_key_problem(args.props.get("kmsKeyId"))
    if problem == "unset":
        report(f"Secret {args.name} must be encrypted with a customer-managed KMS key (kmsKeyId).")
    elif problem:
        report(f"Secret {args.name} must be encrypted with a customer-managed KMS key, not {problem}.")


POLICIES = [
    resource_policy(
        "k8s-secrets-no-literal-data",
        "Kubernetes Secrets must be synced from Secrets Manager, not written with literal data.",
        _kubernetes_secret,
        {
            "allowedTypes": Setting(
                "array", ["kubernetes.io/service-account-token"], "Secret types the cluster fills in itself."
            )
        },
    ),
    resource_policy("configmap-no-secrets", "ConfigMaps must not hold secrets.", _config_map),
    resource_policy(
        "env-no-literal-secrets",
        "Container environment variables must not carry secret values.",
        _env_literals,
    ),
    resource_policy(
        "model-hub-tokens-from-secret-refs",
        "Model-hub and NGC tokens must come from secretKeyRef.",
        _hub_tokens,
        {
            "tokenVariables": Setting(
                "array",
                [
                    "HF_TOKEN",
                    "HUGGING_FACE_HUB_TOKEN",
                    "HUGGINGFACE_TOKEN",
                    "NGC_API_KEY",
                    "NGC_CLI_API_KEY",
                    "NVIDIA_API_KEY",
                ],
                "Environment variables that carry model-hub or NGC credentials.",
            )
        },
    ),
    stack_policy(
        "pulumi-config-secrets-encrypted",
        "Secret-looking stack config must be set as a Pulumi secret.",
        _pulumi_config,
    ),
    resource_policy(
        "no-secrets-in-user-data",
        "EC2 instances and launch templates must not carry secrets in their user data.",
        _user_data,
    ),
    resource_policy(
        "secretsmanager-customer-key",
        "Secrets Manager secrets must use a customer-managed KMS key.",
        _secrets_manager_key,
    ),
]
