"""The one composition function: every environment is built here, from data alone.

Environments differ only in their `StackConfig` (flags and override blocks in
`stacks/Pulumi.<env>.yaml`); there is no branch on the environment's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import (
    AuditStore,
    AuditStoreArgs,
    CloudIntegration,
    GpuCluster,
    GpuClusterArgs,
    InferencePlatform,
    InferencePlatformArgs,
    ModelStore,
    ModelStoreArgs,
    Network,
    NetworkArgs,
    Observability,
    ObservabilityArgs,
    OnPremCluster,
    OnPremClusterArgs,
    Secrets,
    SecretsArgs,
)
from components._kubernetes import PlatformAddons
from components.ebs_encryption import EbsEncryption, EbsEncryptionArgs
from components.secrets import PLATFORM_SECRETS
from platform_facts.tags import platform_tags
from services.config import serve_config
from stacks.config import InferencePlatformConfig, StackConfig

__all__ = ["Platform", "build_platform"]


@dataclass(frozen=True)
class Platform:
    """What `build_platform` declared, for stack outputs and tests."""

    aws_provider: aws.Provider
    secrets: Secrets
    network: Network
    model_store: ModelStore
    audit_store: AuditStore
    gpu_cluster: GpuCluster | None = None
    onprem_cluster: OnPremCluster | None = None
    observability: list[Observability] = field(default_factory=list)
    inference_platforms: list[InferencePlatform] = field(default_factory=list)


def build_platform(config: StackConfig) -> Platform:
    """Declare every resource of one environment and export its outputs."""
    prefix = f"rampart-{config.environment}"
    aws_provider = aws.Provider(
        f"{prefix}-aws",
        region=config.region,
        default_tags={
            "tags": platform_tags(
                environment=config.environment,
                owner=config.tags.owner,
                cost_center=config.tags.cost_center,
                data_class=config.tags.data_class,
            )
        },
    )
    uses_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})
    protect_state = pulumi.ResourceOptions(providers={"aws": aws_provider}, protect=config.deletion_protection)

    initial_values = {}
    if config.model_hub_token is not None:
        initial_values["model-hub-token"] = pulumi.Output.secret(config.model_hub_token.get_secret_value())
    secrets = Secrets(
        f"{prefix}-secrets",
        SecretsArgs(
            region=config.region,
            settings=config.secrets,
            platform_secrets=(*PLATFORM_SECRETS, *_grafana_secret(config)),
            initial_values=initial_values,
        ),
        opts=protect_state,
    )
    network = Network(
        f"{prefix}-net",
        NetworkArgs(config.network, kms_key_arn=secrets.key_arn, region=config.region),
        opts=uses_aws,
    )
    model_store = ModelStore(
        f"{prefix}-models",
        ModelStoreArgs(secrets.key_arn, config.model_storage, protect=config.deletion_protection),
        opts=uses_aws,
    )
    audit_store = AuditStore(
        f"{prefix}-audit",
        AuditStoreArgs(secrets.key_arn, config.audit_storage),
        opts=uses_aws,
    )
    # Root volumes that come from an AMI, with no block-device mapping, are encrypted too.
    EbsEncryption(f"{prefix}-ebs", EbsEncryptionArgs(), opts=uses_aws)

    gpu_cluster: GpuCluster | None = None
    onprem_cluster: OnPremCluster | None = None
    observability: list[Observability] = []
    inference_platforms: list[InferencePlatform] = []
    clusters: dict[str, tuple[k8s.Provider, PlatformAddons]] = {}
    if config.eks.enabled:
        gpu_cluster = _gpu_cluster(config, prefix, network, secrets, uses_aws)
        clusters["eks"] = (gpu_cluster.provider, gpu_cluster.addons)
        pulumi.export("eks_cluster_name", gpu_cluster.cluster_name)
        pulumi.export("eks_kubeconfig", gpu_cluster.kubeconfig)
        if gpu_cluster.interruption_queue_url is not None:
            pulumi.export("karpenter_interruption_queue_url", gpu_cluster.interruption_queue_url)
    if config.onprem.enabled:
        onprem_cluster = _onprem_cluster(config, prefix)
        clusters["onprem"] = (onprem_cluster.provider, onprem_cluster.addons)
        pulumi.export("onprem_bootstrap_cloud_init", onprem_cluster.bootstrap_cloud_init)
    if config.observability.enabled:
        for cluster_key, (provider, addons) in clusters.items():
            cloud = None
            if gpu_cluster is not None and provider is gpu_cluster.provider:
                cloud = CloudIntegration(
                    region=config.region,
                    cluster_name=gpu_cluster.cluster_name,
                    oidc_provider_arn=gpu_cluster.oidc_provider_arn,
                    oidc_issuer=gpu_cluster.oidc_issuer,
                    kms_key_arn=secrets.key_arn,
                    grafana_admin_secret_arn=secrets.secret_arns[config.observability.grafana_admin_secret],
                    log_retention_days=config.log_retention_days,
                )
            observability.append(
                Observability(
                    f"{prefix}-{cluster_key}-obs",
                    ObservabilityArgs(
                        config.observability,
                        environment=config.environment,
                        data_class=_cluster_data_class(config, cluster_key),
                        gpu_namespace=addons.gpu_namespace,
                        cloud=cloud,
                        trace_sources=tuple(
                            _platform_namespace(platform.name)
                            for platform in config.inference_platforms
                            if platform.cluster == cluster_key
                        ),
                    ),
                    provider=provider,
                    opts=uses_aws,
                )
            )
    for platform_config in config.inference_platforms:
        provider, addons = clusters[platform_config.cluster]
        inference = _inference_platform(config, prefix, platform_config, provider, addons)
        inference_platforms.append(inference)
        pulumi.export(f"gateway_url_{platform_config.name}", inference.gateway_url)

    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export("private_subnet_ids", network.private_subnet_ids)
    pulumi.export("kms_key_arn", secrets.key_arn)
    pulumi.export("secret_arns", secrets.secret_arns)
    pulumi.export("model_bucket", model_store.bucket_name)
    pulumi.export("audit_bucket", audit_store.bucket_name)
    return Platform(
        aws_provider,
        secrets,
        network,
        model_store,
        audit_store,
        gpu_cluster,
        onprem_cluster,
        observability,
        inference_platforms,
    )


def _grafana_secret(config: StackConfig) -> tuple[str, ...]:
    """Grafana runs on the cloud cluster; its admin password lives in Secrets Manager."""
    return (config.observability.grafana_admin_secret,) if config.observability.enabled and config.eks.enabled else ()


def _cluster_data_class(config: StackConfig, cluster_key: str) -> str:
    return {"eks": config.eks.data_class, "onprem": config.onprem.data_class}[cluster_key]


def _gpu_cluster(
    config: StackConfig, prefix: str, network: Network, secrets: Secrets, opts: pulumi.ResourceOptions
) -> GpuCluster:
    return GpuCluster(
        f"{prefix}-eks",
        GpuClusterArgs(
            config.eks,
            environment=config.environment,
            region=config.region,
            private_subnet_ids=network.private_subnet_ids,
            kms_key_arn=secrets.key_arn,
            spot_allowed=config.spot_allowed,
            log_retention_days=config.log_retention_days,
        ),
        opts=opts,
    )


def _onprem_cluster(config: StackConfig, prefix: str) -> OnPremCluster:
    assert config.onprem_kubeconfig is not None  # StackConfig refuses onprem.enabled without it
    return OnPremCluster(
        f"{prefix}-onprem",
        OnPremClusterArgs(
            config.onprem,
            environment=config.environment,
            kubeconfig=pulumi.Output.secret(config.onprem_kubeconfig.get_secret_value()),
        ),
    )


def _platform_namespace(platform_name: str) -> str:
    """The namespace an inference platform's RayService, gateway and Generator run in."""
    return f"rampart-{platform_name}"


def _inference_platform(
    config: StackConfig,
    prefix: str,
    platform: InferencePlatformConfig,
    provider: k8s.Provider,
    addons: PlatformAddons,
) -> InferencePlatform:
    return InferencePlatform(
        f"{prefix}-{platform.name}",
        InferencePlatformArgs(
            platform,
            environment=config.environment,
            serve_config=serve_config(platform.serve_config or config.environment),
            namespace=_platform_namespace(platform.name),
            require_image_digest=config.require_image_digest,
            operator_namespace=addons.kuberay_namespace,
        ),
        provider=provider,
        operator=addons.kuberay_operator,
    )
