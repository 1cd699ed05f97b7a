"""The one composition function: every environment is built here, from data alone.

Environments differ only in their `StackConfig` (flags and override blocks in
`stacks/Pulumi.<env>.yaml`); there is no branch on the environment's name.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from components.container_registry import ContainerRegistry, ContainerRegistryArgs
from components.ebs_encryption import EbsEncryption, EbsEncryptionArgs
from components.inference_platform import gateway_args
from components.network import plan_subnets
from components.postgres import POSTGRES_PORT, StateDatabase, StateDatabaseArgs
from components.postgres_bootstrap import StateRoleBootstrap, StateRoleBootstrapArgs
from components.postgres_onprem import (
    OnPremStateDatabase,
    OnPremStateDatabaseArgs,
    onprem_password_secret,
    onprem_state_url,
)
from components.secrets import PLATFORM_SECRETS
from components.serving_identity import SERVING_SERVICE_ACCOUNT, ServingIdentity, ServingIdentityArgs
from platform_facts.kubernetes import platform_labels
from platform_facts.project import config_key, environment_prefix, platform_namespace
from platform_facts.tags import platform_tags
from services.config import config_document, serve_config
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
    registry: ContainerRegistry | None = None
    """The serving image's repository; `registry.image_reference(cluster)` is what a RayService runs."""
    serving_identities: dict[str, ServingIdentity] = field(default_factory=dict)
    """Per inference platform on EKS (by platform name): the pods' AWS identity. None on-prem."""
    state_database: StateDatabase | None = None
    """The RDS PostgreSQL the gateways on the EKS cluster share; None without an EKS cluster."""
    onprem_state_databases: dict[str, OnPremStateDatabase] = field(default_factory=dict)
    """Per on-prem inference platform (by platform name): its gateways' shared state database."""


def build_platform(config: StackConfig) -> Platform:
    """Declare every resource of one environment and export its outputs."""
    prefix = environment_prefix(config.environment)
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
    registry = _registry(config, prefix, secrets, uses_aws)

    gpu_cluster: GpuCluster | None = None
    onprem_cluster: OnPremCluster | None = None
    observability: list[Observability] = []
    inference_platforms: list[InferencePlatform] = []
    clusters: dict[str, tuple[k8s.Provider, PlatformAddons]] = {}
    serving_identities: dict[str, ServingIdentity] = {}
    state_database: StateDatabase | None = None
    onprem_state_databases: dict[str, OnPremStateDatabase] = {}
    if config.eks.enabled:
        state_database = _state_database(config, prefix, network, secrets, uses_aws)
        pulumi.export("state_database_address", state_database.address)
        gpu_cluster = _gpu_cluster(config, prefix, network, secrets, uses_aws)
        clusters["eks"] = (gpu_cluster.provider, gpu_cluster.addons)
        pulumi.export("eks_cluster_name", gpu_cluster.cluster_name)
        pulumi.export("eks_kubeconfig", gpu_cluster.kubeconfig)
        if gpu_cluster.interruption_queue_url is not None:
            pulumi.export("karpenter_interruption_queue_url", gpu_cluster.interruption_queue_url)
        if gpu_cluster.addons.ingress.certificate_validation is not None:
            pulumi.export("eks_ingress_certificate_validation", gpu_cluster.addons.ingress.certificate_validation)
        # Only cloud pods get an AWS identity: on-prem pods hold no AWS credentials at all.
        for platform_config in config.inference_platforms:
            if platform_config.cluster == "eks":
                identity = _serving_identity(
                    config, prefix, platform_config, gpu_cluster, secrets, model_store, audit_store, state_database,
                    uses_aws,
                )
                serving_identities[platform_config.name] = identity
                pulumi.export(f"serving_role_arn_{platform_config.name}", identity.role_arn)
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
    platforms = config.inference_platforms
    if platforms and registry is not None and registry.image_digest is None:
        # A new account: the repository exists only after this `pulumi up`, the image only after the workflow ran.
        pulumi.log.warn(
            "serving_image.tag is unset: the inference platforms wait for the first image. Run the image workflow, "
            f"then `pulumi config set --path {config_key('serving_image')}.tag sha-<commit>` and `pulumi up` again."
        )
        platforms = ()
    if gpu_cluster is not None and state_database is not None and any(p.cluster == "eks" for p in platforms):
        assert registry is not None  # StackConfig requires serving_image wherever platforms are listed
        _state_role_bootstrap(config, prefix, gpu_cluster, state_database, secrets, registry, uses_aws)
    for platform_config in platforms:
        provider, addons = clusters[platform_config.cluster]
        assert registry is not None  # StackConfig requires serving_image wherever platforms are listed
        state_name = f"{prefix}-{platform_config.name}-state"
        if platform_config.cluster == "eks":
            assert state_database is not None  # an EKS cluster always has its state database
            values = config_values(config, secrets, model_store, audit_store, state_database)
            secret_env: dict[str, tuple[str, str]] = {}
        else:
            # On-prem configs name no AWS resource: only their own state database's URL (no password in it).
            values = {"state_url": onprem_state_url(state_name, _platform_namespace(platform_config.name),
                                                    config.onprem_state_database)}
            secret_env = {"PGPASSWORD": (onprem_password_secret(state_name, config.onprem_state_database), "password")}
        inference = _inference_platform(
            config,
            prefix,
            platform_config,
            provider,
            addons,
            registry.image_reference(platform_config.cluster),
            values,
            secret_env,
        )
        inference_platforms.append(inference)
        pulumi.export(f"gateway_url_{platform_config.name}", inference.gateway_url)
        if platform_config.cluster == "onprem":
            onprem_state_databases[platform_config.name] = _onprem_state_database(
                config, state_name, platform_config, provider, inference
            )

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
        registry,
        serving_identities,
        state_database,
        onprem_state_databases,
    )


def _registry(
    config: StackConfig, prefix: str, secrets: Secrets, opts: pulumi.ResourceOptions
) -> ContainerRegistry | None:
    """The serving image's repository and publisher; its outputs are what the image workflow is configured with."""
    if config.serving_image is None:
        return None
    registry = ContainerRegistry(
        f"{prefix}-registry",
        ContainerRegistryArgs(config.serving_image, repository_name=f"{prefix}/serving", kms_key_arn=secrets.key_arn),
        opts=opts,
    )
    pulumi.export("serving_image_repository_url", registry.repository_url)
    pulumi.export("serving_image_publisher_role_arn", registry.publisher_role_arn)
    if registry.image_digest is not None:
        pulumi.export("serving_image_digest", registry.image_digest)
    return registry


def _serving_identity(
    config: StackConfig,
    prefix: str,
    platform: InferencePlatformConfig,
    cluster: GpuCluster,
    secrets: Secrets,
    model_store: ModelStore,
    audit_store: AuditStore,
    state_database: StateDatabase | None,
    opts: pulumi.ResourceOptions,
) -> ServingIdentity:
    return ServingIdentity(
        f"{prefix}-{platform.name}-identity",
        ServingIdentityArgs(
            region=config.region,
            cluster_name=cluster.cluster_name,
            cluster_arn=cluster.cluster_arn,
            namespace=_platform_namespace(platform.name),
            model_bucket_arn=model_store.bucket_arn,
            audit_bucket_arn=audit_store.bucket_arn,
            gateway_keys_secret_arn=secrets.secret_arns["gateway-api-keys"],
            kms_key_arn=secrets.key_arn,
            pod_identity_agent=cluster.pod_identity_agent,
            state_connect_arn=state_database.connect_resource_arn if state_database is not None else None,
        ),
        opts=opts,
    )


def _state_database(
    config: StackConfig, prefix: str, network: Network, secrets: Secrets, opts: pulumi.ResourceOptions
) -> StateDatabase:
    """The cloud gateways' shared state: in the private subnets, reachable from them only (where EKS puts pods)."""
    zones = config.network.availability_zones

    def private_subnet(zone: int) -> pulumi.Output[str]:
        return network.private_subnet_ids.apply(lambda ids: str(ids[zone]))

    return StateDatabase(
        f"{prefix}-state",
        StateDatabaseArgs(
            vpc_id=network.vpc_id,
            private_subnet_ids=[private_subnet(zone) for zone in range(zones)],
            client_cidrs=plan_subnets(config.network.cidr, zones).private,
            kms_key_arn=secrets.key_arn,
            settings=config.state_database,
        ),
        opts=opts,
    )


def _state_role_bootstrap(
    config: StackConfig,
    prefix: str,
    cluster: GpuCluster,
    database: StateDatabase,
    secrets: Secrets,
    registry: ContainerRegistry,
    opts: pulumi.ResourceOptions,
) -> StateRoleBootstrap:
    """The Job that creates the gateway's IAM-authenticated database role, from the serving image."""
    return StateRoleBootstrap(
        f"{prefix}-state-roles",
        StateRoleBootstrapArgs(
            region=config.region,
            cluster_name=cluster.cluster_name,
            cluster_arn=cluster.cluster_arn,
            pod_identity_agent=cluster.pod_identity_agent,
            image=registry.image_reference("eks"),
            address=database.address,
            port=POSTGRES_PORT,
            database=database.database,
            iam_user=database.iam_user,
            master_secret_arn=database.master_secret_arn,
            kms_key_arn=secrets.key_arn,
            labels=platform_labels(environment=config.environment, data_class=config.eks.data_class, component="state"),
        ),
        provider=cluster.provider,
        opts=opts,
    )


def _onprem_state_database(
    config: StackConfig,
    name: str,
    platform: InferencePlatformConfig,
    provider: k8s.Provider,
    inference: InferencePlatform,
) -> OnPremStateDatabase:
    """An on-prem platform's state database, in its namespace: the pods read its Secret, regulated data stays."""
    return OnPremStateDatabase(
        name,
        OnPremStateDatabaseArgs(
            namespace=_platform_namespace(platform.name),
            settings=config.onprem_state_database,
            labels=platform_labels(environment=config.environment, data_class=platform.data_class, component="state"),
        ),
        opts=pulumi.ResourceOptions(providers=[provider], depends_on=[inference.namespace_resource]),
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
            ingress_hostnames=tuple(
                platform.hostname for platform in config.inference_platforms if platform.cluster == "eks"
            ),
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
    return platform_namespace(platform_name)


def _inference_platform(
    config: StackConfig,
    prefix: str,
    platform: InferencePlatformConfig,
    provider: k8s.Provider,
    addons: PlatformAddons,
    image: pulumi.Input[str],
    config_values: Mapping[str, pulumi.Input[str]],
    secret_env: Mapping[str, tuple[str, str]],
) -> InferencePlatform:
    """One platform's RayService, its configs rendered with `config_values` (on-prem: only the state URL,
    as on-prem configs name no AWS resource) and `secret_env` set on its pods from Secrets."""
    serve = serve_config(platform.serve_config or config.environment)
    gateway = gateway_args(serve)
    gateway_name = platform.gateway_config or (gateway["env"] if gateway else None)
    return InferencePlatform(
        f"{prefix}-{platform.name}",
        InferencePlatformArgs(
            platform,
            environment=config.environment,
            image=image,
            serve_config=serve,
            gateway_config=config_document("gateway", gateway_name) if gateway_name else None,
            config_values=config_values,
            secret_env=secret_env,
            aws_region=config.region if platform.cluster == "eks" else None,
            namespace=_platform_namespace(platform.name),
            service_account=SERVING_SERVICE_ACCOUNT,
            ingress_class=addons.ingress.class_name,
            ingress_namespace=addons.ingress.namespace,
            certificate_arn=addons.ingress.certificate_arn,
            require_image_digest=config.require_image_digest,
            operator_namespace=addons.kuberay_namespace,
        ),
        provider=provider,
        operator=addons.kuberay_operator,
    )


def config_values(
    config: StackConfig,
    secrets: Secrets,
    model_store: ModelStore,
    audit_store: AuditStore,
    state_database: StateDatabase,
) -> dict[str, pulumi.Input[str]]:
    """What a cloud config's `${name}` placeholders are filled with: the names this stack created."""
    return {
        "model_bucket": model_store.bucket_name,
        "audit_bucket": audit_store.bucket_name,
        "gateway_keys_secret_arn": secrets.secret_arns["gateway-api-keys"],
        "region": config.region,
        "state_url": state_database.url,
    }
