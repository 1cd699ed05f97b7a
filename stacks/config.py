"""Typed stack configuration: one loader turns Pulumi config into a validated `StackConfig`.

The same loader serves `pulumi up` (values from the engine) and the offline plan (values read from
`stacks/Pulumi.<env>.yaml`). Defaults are the secure, highly available choices; a cheap environment
says so explicitly in its stack file. A bad value fails with the key's dotted name and the reason,
before any resource is declared.
"""

from __future__ import annotations

import ipaddress
import json
import re
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

__all__ = [
    "NAMESPACE",
    "BootstrapConfig",
    "EksConfig",
    "GpuNodePoolConfig",
    "GpuSharingConfig",
    "InferencePlatformConfig",
    "KarpenterConfig",
    "ObservabilityConfig",
    "OnPremConfig",
    "OnPremGpuNodeConfig",
    "SystemNodePoolConfig",
    "WorkerGroupConfig",
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


_NAME = r"^[a-z][a-z0-9-]{0,30}$"
_IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_KUBERNETES_VERSION = r"^1\.\d{2}$"


class SystemNodePoolConfig(_Model):
    """The managed node group that runs cluster add-ons (no GPUs)."""

    instance_type: str = "m7i.xlarge"
    """EC2 instance type of the system nodes."""
    min_size: Annotated[int, Field(ge=1)] = 3
    desired_size: Annotated[int, Field(ge=1)] = 3
    max_size: Annotated[int, Field(ge=1)] = 6


class GpuNodePoolConfig(_Model):
    """One managed GPU node group (used when `eks.gpu_capacity` is `managed`)."""

    name: Annotated[str, Field(pattern=_NAME)]
    """Pool name; part of the node group's name."""
    instance_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]
    """GPU instance type (`g6e.2xlarge`); the NVIDIA AMI type follows from its family."""
    min_size: Annotated[int, Field(ge=0)] = 2
    desired_size: Annotated[int, Field(ge=0)] = 2
    max_size: Annotated[int, Field(ge=1)] = 6
    capacity_type: Literal["on_demand", "spot"] = "on_demand"
    """`spot` only where `rampart:spot_allowed` is true."""
    disk_size_gb: Annotated[int, Field(ge=50)] = 200
    """Encrypted gp3 root volume; model weights are cached on it."""

    @model_validator(mode="after")
    def _sizes_are_ordered(self) -> GpuNodePoolConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(f"min_size <= desired_size <= max_size must hold (got {self.min_size}, "
                             f"{self.desired_size}, {self.max_size})")
        return self


class KarpenterConfig(_Model):
    """GPU capacity from Karpenter (used when `eks.gpu_capacity` is `karpenter`)."""

    instance_families: tuple[str, ...] = ("g6", "g6e")
    """GPU instance families Karpenter may launch."""
    capacity_types: tuple[Literal["on-demand", "spot"], ...] = ("on-demand",)
    """`spot` only where `rampart:spot_allowed` is true."""
    gpu_limit: Annotated[int, Field(ge=1)] = 16
    """Hard ceiling on GPUs the pool may hold at once (`limits.nvidia.com/gpu`)."""
    cpu_limit: Annotated[int, Field(ge=1)] = 512
    """Hard ceiling on vCPUs the pool may hold at once."""
    disruption_budget: Annotated[str, Field(pattern=r"^(\d+|\d{1,3}%)$")] = "10%"
    """Most nodes Karpenter may disrupt at once (count or percentage)."""
    consolidate_after: Annotated[str, Field(pattern=r"^\d+[smh]$")] = "10m"
    """How long a node must be empty or underused before it is consolidated."""
    ami_alias: Annotated[str, Field(pattern=r"^(al2023|bottlerocket)@v\d{8}$")] = "al2023@v20251117"
    """Pinned EKS-optimized AMI release (never `@latest`: node images change only on purpose)."""


class GpuSharingConfig(_Model):
    """Sharing one GPU between pods: off, NVIDIA time-slicing, or MIG partitions."""

    mode: Literal["none", "time_slicing", "mig"] = "none"
    time_slicing_replicas: Annotated[int, Field(ge=2, le=16)] = 4
    """Pods per GPU with time-slicing (no memory isolation between them)."""
    mig_profile: str = "all-1g.10gb"
    """MIG manager profile applied to GPU nodes with MIG (A100/H100 class)."""


class EksConfig(_Model):
    """The cloud GPU cluster (EKS)."""

    enabled: bool = True
    kubernetes_version: Annotated[str, Field(pattern=_KUBERNETES_VERSION)] = "1.33"
    public_access_cidrs: tuple[str, ...] = ()
    """CIDR allow-list for a public API endpoint; empty keeps the endpoint private only."""
    system_pool: SystemNodePoolConfig = SystemNodePoolConfig()
    gpu_capacity: Literal["managed", "karpenter"] = "managed"
    """`managed`: the node groups in `gpu_node_pools`; `karpenter`: a NodePool bounded by `karpenter`."""
    gpu_node_pools: tuple[GpuNodePoolConfig, ...] = (GpuNodePoolConfig(name="inference", instance_type="g6e.2xlarge"),)
    karpenter: KarpenterConfig = KarpenterConfig()
    gpu_software: Literal["gpu_operator", "device_plugin"] = "gpu_operator"
    """NVIDIA GPU Operator, or only the device plugin plus the DCGM exporter."""
    gpu_sharing: GpuSharingConfig = GpuSharingConfig()
    data_class: DataClass = "confidential"
    """Most sensitive data workloads on this cluster may handle; never `regulated` (on-prem only)."""

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs_are_networks(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in cidrs:
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError as error:
                raise ValueError(f"{cidr!r} is not a CIDR block ({error})") from None
            if network.prefixlen == 0:
                raise ValueError(f"{cidr} would open the API endpoint to the internet; list your own ranges")
        return cidrs

    @field_validator("data_class")
    @classmethod
    def _regulated_stays_on_premises(cls, value: str) -> str:
        if value == "regulated":
            raise ValueError("regulated data may only be handled on the on-prem cluster")
        return value


class OnPremGpuNodeConfig(_Model):
    """One GPU host of the on-prem cluster."""

    hostname: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$")]
    """Kubernetes node name (usually the host name)."""
    gpu_model: Annotated[str, Field(min_length=1)]
    """GPU model, e.g. `H100-SXM5-80GB`; becomes the `rampart.dev/gpu-model` label."""
    gpu_count: Annotated[int, Field(ge=1, le=16)] = 8


class BootstrapConfig(_Model):
    """What the cloud-init for on-prem GPU hosts installs and checks."""

    nvidia_driver_branch: Annotated[str, Field(pattern=r"^\d{3}$")] = "570"
    """NVIDIA datacenter driver branch (server package `nvidia-driver-<branch>-server`)."""
    container_toolkit_version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+")] = "1.17.8"
    kubernetes_version: Annotated[str, Field(pattern=_KUBERNETES_VERSION)] = "1.33"
    ntp_servers: tuple[str, ...] = ("0.pool.ntp.org", "1.pool.ntp.org")
    """Time sources for chrony; use your own in an air-gapped site."""
    require_disk_encryption: bool = True
    """Refuse to finish bootstrap when the root filesystem is not on LUKS (dm-crypt)."""


class OnPremConfig(_Model):
    """The existing on-prem Kubernetes cluster adopted through `rampart:onprem_kubeconfig`."""

    enabled: bool = False
    gpu_nodes: tuple[OnPremGpuNodeConfig, ...] = ()
    gpu_software: Literal["gpu_operator", "device_plugin"] = "gpu_operator"
    gpu_sharing: GpuSharingConfig = GpuSharingConfig()
    bootstrap: BootstrapConfig = BootstrapConfig()
    monthly_cost_usd: Annotated[float, Field(ge=0)] = 0.0
    """Amortised hardware, power and rack space per month, for the cost estimate."""
    data_class: DataClass = "regulated"
    """Most sensitive data workloads on this cluster may handle."""

    @model_validator(mode="after")
    def _gpu_nodes_when_enabled(self) -> OnPremConfig:
        if self.enabled and not self.gpu_nodes:
            raise ValueError("gpu_nodes must list at least one host when the on-prem cluster is enabled")
        names = [node.hostname for node in self.gpu_nodes]
        if len(set(names)) != len(names):
            raise ValueError("gpu_nodes hostnames must be unique")
        return self


class WorkerGroupConfig(_Model):
    """A Ray worker group of an inference platform."""

    min_replicas: Annotated[int, Field(ge=0)] = 1
    max_replicas: Annotated[int, Field(ge=1)] = 4
    cpu: Annotated[str, Field(pattern=r"^\d+(m)?$")] = "4"
    memory: Annotated[str, Field(pattern=r"^\d+(Mi|Gi)$")] = "16Gi"
    gpus: Annotated[int, Field(ge=0, le=8)] = 0
    """`nvidia.com/gpu` per worker (requests == limits); 0 for a CPU group."""

    @model_validator(mode="after")
    def _replicas_are_ordered(self) -> WorkerGroupConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        return self


class InferencePlatformConfig(_Model):
    """One KubeRay `RayService` running the Serve application, reachable only through its gateway."""

    name: Annotated[str, Field(pattern=_NAME)]
    cluster: Literal["eks", "onprem"]
    data_class: DataClass
    """Most sensitive data the platform handles; `regulated` runs only on the on-prem cluster."""
    image: Annotated[str, Field(min_length=1)]
    """Serving image (Ray + services/); pinned by digest where `rampart:require_image_digest` is true."""
    hostname: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")]
    """DNS name of the gateway's Ingress (TLS)."""
    tls_secret: Annotated[str, Field(pattern=_NAME)] = "gateway-tls"
    """Kubernetes TLS secret for the Ingress (cert-manager or your PKI writes it)."""
    ingress_class: str = "nginx"
    ingress_namespace: str = "ingress-nginx"
    """Namespace of the ingress controller, the only source allowed to reach the gateway."""
    serve_config: str | None = None
    """Which `services/config/serve-<name>.yaml` to embed; defaults to the environment's name."""
    cpu_workers: WorkerGroupConfig = WorkerGroupConfig()
    gpu_workers: WorkerGroupConfig = WorkerGroupConfig(min_replicas=2, max_replicas=8, cpu="8", memory="48Gi", gpus=1)

    @model_validator(mode="after")
    def _residency(self) -> InferencePlatformConfig:
        if self.data_class == "regulated" and self.cluster != "onprem":
            raise ValueError(
                f"data residency: '{self.name}' handles regulated data and may only run on the on-prem cluster "
                f"(cluster: onprem), not {self.cluster}"
            )
        if self.gpu_workers.gpus == 0:
            raise ValueError("gpu_workers.gpus must be at least 1")
        if self.cpu_workers.gpus != 0:
            raise ValueError("cpu_workers.gpus must be 0")
        return self


class ObservabilityConfig(_Model):
    """Monitoring on every cluster: Prometheus, Grafana, OpenTelemetry, CloudWatch logs."""

    enabled: bool = True
    grafana_admin_secret: Annotated[str, Field(pattern=_NAME)] = "grafana-admin"
    """Secrets Manager secret (created by `Secrets`) holding Grafana's admin password."""
    latency_slo_ms: Annotated[int, Field(gt=0)] = 1000
    """p99 latency objective of the gateway; the burn-rate alerts are built on it."""
    monthly_budget_usd: Annotated[float, Field(gt=0)] = 50000.0
    """Model spend per month that the budget alert compares against."""
    prometheus_retention: Annotated[str, Field(pattern=r"^\d+[dhw]$")] = "15d"

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
    require_image_digest: bool = True
    """Container images must be pinned by `@sha256:` digest (a tag alone may change under you)."""
    eks: EksConfig = EksConfig()
    onprem: OnPremConfig = OnPremConfig()
    onprem_kubeconfig: SecretStr | None = Field(default=None, json_schema_extra={"secret": True})
    """Kubeconfig of the on-prem cluster; set with `pulumi config set --secret rampart:onprem_kubeconfig`."""
    inference_platforms: tuple[InferencePlatformConfig, ...] = ()
    observability: ObservabilityConfig = ObservabilityConfig()

    @field_validator("eks")
    @classmethod
    def _spot_only_where_allowed(cls, eks: EksConfig, info: ValidationInfo) -> EksConfig:
        if info.data.get("spot_allowed") is False:
            for index, pool in enumerate(eks.gpu_node_pools):
                if pool.capacity_type == "spot":
                    raise ValueError(f"gpu_node_pools.{index}.capacity_type: spot is not allowed "
                                     "(rampart:spot_allowed is false)")
            if "spot" in eks.karpenter.capacity_types:
                raise ValueError("karpenter.capacity_types: spot is not allowed (rampart:spot_allowed is false)")
        return eks

    @field_validator("inference_platforms")
    @classmethod
    def _platforms_fit_their_clusters(
        cls, platforms: tuple[InferencePlatformConfig, ...], info: ValidationInfo
    ) -> tuple[InferencePlatformConfig, ...]:
        clusters = {"eks": info.data.get("eks"), "onprem": info.data.get("onprem")}
        names = [platform.name for platform in platforms]
        if len(set(names)) != len(names):
            raise ValueError("names must be unique")
        for index, platform in enumerate(platforms):
            cluster = clusters[platform.cluster]
            if cluster is None or not cluster.enabled:
                raise ValueError(
                    f"{index}.cluster: {platform.cluster} is not enabled (set rampart:{platform.cluster}.enabled)"
                )
            if info.data.get("require_image_digest") and not _IMAGE_DIGEST.search(platform.image):
                raise ValueError(f"{index}.image: {platform.image} must be pinned by digest (@sha256:<64 hex>)")
        return platforms

    @model_validator(mode="after")
    def _archive_before_retention_ends(self) -> StackConfig:
        if self.audit_storage.archive_after_days >= self.audit_storage.retention_days:
            raise ValueError(
                "audit_storage.archive_after_days must be shorter than audit_storage.retention_days"
            )
        return self

    @model_validator(mode="after")
    def _onprem_has_a_kubeconfig(self) -> StackConfig:
        if self.onprem.enabled and self.onprem_kubeconfig is None:
            raise ValueError(
                "onprem.enabled needs rampart:onprem_kubeconfig (set it with "
                "`pulumi config set --secret rampart:onprem_kubeconfig < kubeconfig.yaml`)"
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
            reason = issue["msg"].removeprefix("Value error, ")
            given = issue.get("input")
            # A whole block as "got" buries the reason: cross-field checks name their keys themselves.
            shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
            lines.append(f"{key}: {reason}{shown}" if issue["loc"] else f"{reason}{shown}")
    return "invalid stack configuration:\n  " + "\n  ".join(lines)
