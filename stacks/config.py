"""Typed stack configuration: one loader turns Pulumi config into a validated `StackConfig`.

The same loader serves `pulumi up` (values from the engine) and the offline plan (values read from
`stacks/Pulumi.<env>.yaml`). Defaults are the secure, highly available choices; a cheap environment
says so explicitly in its stack file. A bad value fails with the key's dotted name and the reason,
before any resource is declared.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

__all__ = [
    "NAMESPACE",
    "STACKS_DIR",
    "AuditStorageConfig",
    "ConfigError",
    "ModelStorageConfig",
    "NetworkConfig",
    "SecretsConfig",
    "StackConfig",
    "TagsConfig",
    "SECRET_PLACEHOLDER",
    "load_stack_config",
    "read_stack_file",
    "secret_fields",
]

NAMESPACE = "rampart"
STACKS_DIR = Path(__file__).resolve().parent
SECRET_PLACEHOLDER = "[secret]"

DataClass = Literal["public", "internal", "confidential", "regulated"]
NatMode = Literal["single", "per_az"]


class ConfigError(ValueError):
    """Stack configuration is invalid; the message names each bad key and why."""


class _Model(BaseModel):
    # Unknown keys are typos until proven otherwise: reject them instead of silently ignoring them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagsConfig(_Model):
    """Values of the tags every AWS resource carries (`rampart:<name>`)."""

    owner: Annotated[str, Field(min_length=1)]
    """Team that owns the environment (`rampart:owner`)."""
    cost_center: Annotated[str, Field(min_length=1)]
    """Cost center billed for the environment (`rampart:cost-center`)."""
    data_class: DataClass = "confidential"
    """Most sensitive data the environment may hold (`rampart:data-class`)."""


class NetworkConfig(_Model):
    """The VPC the platform runs in."""

    cidr: str = "10.0.0.0/16"
    """VPC CIDR block; /16 to /22 so that every subnet gets a useful size."""
    availability_zones: Annotated[int, Field(ge=2, le=6)] = 3
    """Number of availability zones to spread subnets over."""
    nat: NatMode = "per_az"
    """`per_az`: one NAT gateway per zone (survives a zone outage); `single`: one shared, cheaper."""
    interface_endpoints: tuple[str, ...] = ("ecr.api", "ecr.dkr", "sts", "secretsmanager", "logs", "ec2")
    """AWS services reached through private interface endpoints instead of the NAT."""
    flow_log_retention_days: Annotated[int, Field(gt=0)] = 365
    """Days VPC flow logs are kept in CloudWatch Logs."""

    @field_validator("cidr")
    @classmethod
    def _cidr_is_a_private_block(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            raise ValueError(f"{value!r} is not an IPv4 network ({error})") from None
        if not network.is_private:
            raise ValueError(f"{value} is not a private (RFC 1918) range")
        if not 16 <= network.prefixlen <= 22:
            raise ValueError(f"{value} must have a prefix between /16 and /22")
        return value


class SecretsConfig(_Model):
    """Secrets Manager secrets and the KMS key that encrypts them."""

    service_credentials: tuple[str, ...] = ()
    """Extra secrets to create for service credentials (names, lower-case with dashes)."""
    key_deletion_window_days: Annotated[int, Field(ge=7, le=30)] = 30
    """Waiting period before a deleted KMS key is destroyed."""
    recovery_window_days: Annotated[int, Field(ge=0, le=30)] = 30
    """Days a deleted secret can still be restored (0 deletes at once)."""

    @field_validator("service_credentials")
    @classmethod
    def _names_are_slugs(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not name or not all(c.islower() or c.isdigit() or c == "-" for c in name):
                raise ValueError(f"{name!r} must be lower-case letters, digits and dashes")
        if len(set(names)) != len(names):
            raise ValueError("names must be unique")
        return names


class ModelStorageConfig(_Model):
    """The model artifact bucket."""

    noncurrent_version_days: Annotated[int, Field(gt=0)] = 90
    """Days an overwritten model version is kept before it expires."""


class AuditStorageConfig(_Model):
    """The audit-log bucket (Object Lock, compliance mode)."""

    retention_days: Annotated[int, Field(gt=0)] = 2555
    """Days every audit object is locked against deletion and overwrite (compliance mode)."""
    archive_after_days: Annotated[int, Field(gt=0)] = 90
    """Days after which audit objects move to Glacier."""


class StackConfig(_Model):
    """Everything one environment is built from."""

    environment: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")]
    """Environment name; part of every resource's tags."""
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
    """AWS region (`aws:region`)."""
    tags: TagsConfig
    deletion_protection: bool = True
    """Protect stateful resources (keys, buckets) from `pulumi destroy` and replacement."""
    spot_allowed: bool = False
    """Whether spot capacity may be used for node pools."""
    log_retention_days: Annotated[int, Field(gt=0)] = 365
    """Days platform log groups keep their events."""
    network: NetworkConfig = NetworkConfig()
    secrets: SecretsConfig = SecretsConfig()
    model_storage: ModelStorageConfig = ModelStorageConfig()
    audit_storage: AuditStorageConfig = AuditStorageConfig()
    model_hub_token: SecretStr | None = Field(default=None, json_schema_extra={"secret": True})
    """Token for the model hub, stored in Secrets Manager; set with `pulumi config set --secret`."""

    @model_validator(mode="after")
    def _archive_before_retention_ends(self) -> StackConfig:
        if self.audit_storage.archive_after_days >= self.audit_storage.retention_days:
            raise ValueError(
                "audit_storage.archive_after_days must be shorter than audit_storage.retention_days"
            )
        return self


def secret_fields() -> frozenset[str]:
    """Top-level keys that must only ever be set as Pulumi secrets."""
    return frozenset(
        name
        for name, field in StackConfig.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("secret")
    )


def load_stack_config(values: Mapping[str, str], secret_keys: frozenset[str] = frozenset()) -> StackConfig:
    """Validate Pulumi config values (`{"rampart:network": '{"cidr": ...}', "aws:region": "..."}`).

    Values are strings as the engine hands them over; structured values are JSON. Keys outside the
    `rampart` namespace are ignored except `aws:region`. `secret_keys` names the keys that were set
    as Pulumi secrets; a secret field given in plain text is refused rather than used.
    """
    raw: dict[str, Any] = {}
    must_be_secret = secret_fields()
    for key, text in values.items():
        namespace, _, name = key.partition(":")
        if namespace == NAMESPACE:
            if name in must_be_secret:
                if key not in secret_keys:
                    raise ConfigError(
                        f"invalid stack configuration:\n  {key}: must be a secret "
                        f"(set it with `pulumi config set --secret {key}`), never plain text"
                    )
                raw[name] = text
            else:
                raw[name] = _decode(text)
        elif key == "aws:region":
            raw["region"] = text
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def read_stack_file(environment: str, stacks_dir: Path = STACKS_DIR) -> tuple[dict[str, str], frozenset[str]]:
    """Read `stacks/Pulumi.<environment>.yaml` into the string form the engine would hand over.

    Returns the values and the keys that are Pulumi secrets. Without the Pulumi CLI a `secure:`
    ciphertext cannot be decrypted, so secrets stand in as the marker `[secret]`.
    """
    path = stacks_dir / f"Pulumi.{environment}.yaml"
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks_dir.glob("Pulumi.*.yaml"))
        raise ConfigError(f"no stack file {path.name} for environment {environment!r} (known: {', '.join(known)})")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name}: not valid YAML ({error})") from None
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path.name}: `config` must be a mapping")
    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = SECRET_PLACEHOLDER
            secret_keys.add(key)
        else:
            values[key] = value if isinstance(value, str) else json.dumps(value)
    return values, frozenset(secret_keys)


def _decode(text: str) -> Any:
    """Engine config values are strings; numbers, booleans and objects arrive JSON-encoded."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


def _describe(error: ValidationError) -> str:
    lines = []
    for issue in error.errors():
        dotted = ".".join(str(part) for part in issue["loc"])
        key = "aws:region" if dotted == "region" else f"{NAMESPACE}:{dotted}"
        if issue["type"] == "missing":
            lines.append(f"{key}: required but not set")
        elif issue["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key (check the spelling against stacks/config.py)")
        else:
            lines.append(f"{key}: {issue['msg'].removeprefix('Value error, ')} (got {issue.get('input')!r})")
    return "invalid stack configuration:\n  " + "\n  ".join(lines)
