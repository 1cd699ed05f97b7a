"""Typed stack configuration: one loader turns Pulumi config into a validated `StackConfig`.

The same loader serves `pulumi up` (values from the engine) and the offline plan (values read from
`stacks/Pulumi.<env>.yaml`). Each block is the settings type of the component it configures
(`rampart:network` is a `NetworkSettings`, ...), so its defaults and rules are the component's own;
this module adds only what a stack decides (which clusters exist, where each platform runs) and the
rules that span blocks. Defaults are the secure, highly available choices; a cheap environment says so
explicitly in its stack file. A bad value fails with the key's dotted name and the reason, before any
resource is declared.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components import (
    AuditStoreSettings,
    GpuClusterSettings,
    InferencePlatformSettings,
    ModelStoreSettings,
    NetworkSettings,
    ObservabilitySettings,
    OnPremClusterSettings,
    SecretsSettings,
)
from components.container_registry import ServingImageSettings
from components.postgres import StateDatabaseSettings
from components.postgres_onprem import OnPremStateDatabaseSettings
from components.settings import DataClass, Location, ResourceName, describe_errors, settings_dataclass
from platform_facts.project import CONFIG_NAMESPACE

__all__ = [
    "NAMESPACE",
    "SECRET_PLACEHOLDER",
    "STACKS_DIR",
    "ConfigError",
    "EksConfig",
    "InferencePlatformConfig",
    "ObservabilityConfig",
    "OnPremConfig",
    "StackConfig",
    "TagsConfig",
    "load_stack_config",
    "read_stack_file",
    "secret_fields",
]

NAMESPACE = CONFIG_NAMESPACE
STACKS_DIR = Path(__file__).resolve().parent
SECRET_PLACEHOLDER = "[secret]"


class ConfigError(ValueError):
    """Stack configuration is invalid; the message names each bad key and why."""


class TagsConfig(BaseModel):
    """Values of the tags every AWS resource carries (`rampart:<name>`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: Annotated[str, Field(min_length=1)]
    """Team that owns the environment (`rampart:owner`)."""
    cost_center: Annotated[str, Field(min_length=1)]
    """Cost center billed for the environment (`rampart:cost-center`)."""
    data_class: DataClass = "confidential"
    """Most sensitive data the environment may hold (`rampart:data-class`)."""


@settings_dataclass(kw_only=True)
class EksConfig(GpuClusterSettings):
    """`rampart:eks`: the cloud GPU cluster's settings, and whether the environment has one."""

    enabled: bool = True


@settings_dataclass(kw_only=True)
class OnPremConfig(OnPremClusterSettings):
    """`rampart:onprem`: the existing cluster adopted through `rampart:onprem_kubeconfig`, if any."""

    enabled: bool = False
    monthly_cost_usd: Annotated[float, Field(ge=0)] = 0.0
    """Amortised hardware, power and rack space per month, for the cost estimate."""

    @model_validator(mode="after")
    def _enabled_cluster_has_gpu_nodes(self) -> OnPremConfig:
        if self.enabled:
            self.check_has_gpu_nodes()
        return self


@settings_dataclass(kw_only=True)
class InferencePlatformConfig(InferencePlatformSettings):
    """An entry of `rampart:inference_platforms`: a platform's settings, its name and its cluster."""

    name: ResourceName
    """Part of every object's name; the platform's namespace is `rampart-<name>`."""
    cluster: Literal["eks", "onprem"]
    serve_config: str | None = None
    """Which `services/config/serve-<name>.yaml` to embed; defaults to the environment's name."""
    gateway_config: str | None = None
    """Which `services/config/gateway-<name>.yaml` the platform's gateway runs; defaults to the
    name the serve config's `gateway.env` gives."""

    @model_validator(mode="before")
    @classmethod
    def _image_moved(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "image" in raw:
            raise ValueError(
                f"image: moved to {NAMESPACE}:serving_image (the tag the image workflow pushed; "
                "the stack reads its digest from the registry)"
            )
        return raw

    @model_validator(mode="after")
    def _regulated_data_stays_on_premises(self) -> InferencePlatformConfig:
        if self.data_class == "regulated" and self.cluster != "onprem":
            raise ValueError(
                f"data residency: '{self.name}' handles regulated data and may only run on the on-prem cluster "
                f"(cluster: onprem), not {self.cluster}"
            )
        return self


@settings_dataclass(kw_only=True)
class ObservabilityConfig(ObservabilitySettings):
    """`rampart:observability`: monitoring settings, on every cluster unless disabled."""

    enabled: bool = True
    grafana_admin_secret: ResourceName = "grafana-admin"
    """Secrets Manager secret (created by `Secrets`) holding Grafana's admin password."""


class StackConfig(BaseModel):
    """Everything one environment is built from."""

    # Unknown keys are typos until proven otherwise: reject them instead of silently ignoring them.
    model_config = ConfigDict(extra="forbid", frozen=True)

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
    network: NetworkSettings = NetworkSettings()
    secrets: SecretsSettings = SecretsSettings()
    model_storage: ModelStoreSettings = ModelStoreSettings()
    audit_storage: AuditStoreSettings = AuditStoreSettings()
    model_hub_token: SecretStr | None = Field(default=None, json_schema_extra={"secret": True})
    """Token for the model hub, stored in Secrets Manager; set with `pulumi config set --secret`."""
    require_image_digest: bool = True
    """Container images must be pinned by `@sha256:` digest (a tag alone may change under you)."""
    eks: EksConfig = EksConfig()
    onprem: OnPremConfig = OnPremConfig()
    onprem_kubeconfig: SecretStr | None = Field(default=None, json_schema_extra={"secret": True})
    """Kubeconfig of the on-prem cluster; set with `pulumi config set --secret rampart:onprem_kubeconfig`."""
    inference_platforms: tuple[InferencePlatformConfig, ...] = ()
    observability: ObservabilityConfig = ObservabilityConfig()
    serving_image: ServingImageSettings | None = None
    """The serving image's ECR repository, publisher and tag; required when any inference platform is listed."""
    state_database: StateDatabaseSettings = StateDatabaseSettings()
    """The RDS PostgreSQL every gateway replica on the EKS cluster shares (review queue, feedback, promotions)."""
    onprem_state_database: OnPremStateDatabaseSettings = OnPremStateDatabaseSettings()
    """The state database of each on-prem platform: a CloudNativePG cluster in its namespace, or a site's server."""

    @field_validator("eks")
    @classmethod
    def _spot_only_where_allowed(cls, eks: EksConfig, info: ValidationInfo) -> EksConfig:
        if "spot_allowed" in info.data:
            eks.check_spot_allowed(info.data["spot_allowed"])
        return eks

    @field_validator("inference_platforms")
    @classmethod
    def _platforms_fit_their_clusters(
        cls, platforms: tuple[InferencePlatformConfig, ...], info: ValidationInfo
    ) -> tuple[InferencePlatformConfig, ...]:
        names = [platform.name for platform in platforms]
        if len(set(names)) != len(names):
            raise ValueError("names must be unique")
        for index, platform in enumerate(platforms):
            cluster = info.data.get(platform.cluster)  # absent when its own block failed (reported there)
            if cluster is not None and not cluster.enabled:
                raise ValueError(
                    f"{index}.cluster: {platform.cluster} is not enabled (set {NAMESPACE}:{platform.cluster}.enabled)"
                )
        return platforms

    @model_validator(mode="after")
    def _platforms_have_an_image(self) -> StackConfig:
        if not self.inference_platforms:
            return self
        if self.serving_image is None:
            raise ValueError(
                "serving_image: required when inference_platforms are listed (the tag the image workflow pushed, "
                "`sha-<commit>`, and the GitHub repository allowed to publish it)"
            )
        on_prem = [platform.name for platform in self.inference_platforms if platform.cluster == "onprem"]
        if on_prem and self.serving_image.onprem_registry is None:
            raise ValueError(
                f"serving_image.onprem_registry: required because {', '.join(on_prem)} runs on the on-prem cluster, "
                "which pulls the image from a mirror of ECR (it holds no AWS credentials)"
            )
        return self

    @model_validator(mode="after")
    def _protected_environments_protect_their_state(self) -> StackConfig:
        if self.deletion_protection and not self.state_database.deletion_protection:
            raise ValueError(
                "state_database.deletion_protection: must stay on where deletion_protection is on (the review queue, "
                "feedback and promotion history live there)"
            )
        return self

    @model_validator(mode="after")
    def _onprem_has_a_kubeconfig(self) -> StackConfig:
        if self.onprem.enabled and self.onprem_kubeconfig is None:
            raise ValueError(
                f"onprem.enabled needs {NAMESPACE}:onprem_kubeconfig (set it with "
                f"`pulumi config set --secret {NAMESPACE}:onprem_kubeconfig < kubeconfig.yaml`)"
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
    return "invalid stack configuration:\n  " + "\n  ".join(describe_errors(error, _config_key))


def _config_key(location: Location) -> str:
    """The key as `pulumi config` spells it: `aws:region`, `rampart:network.nat`."""
    dotted = ".".join(str(part) for part in location)
    return "aws:region" if dotted == "region" else f"{NAMESPACE}:{dotted}"
