"""`OnPremCluster`: an existing on-prem Kubernetes cluster adopted into the platform.

Pulumi does not create this cluster: it reaches it through a kubeconfig held as a Pulumi secret,
labels and taints the GPU nodes named in config, and installs the same add-ons as the cloud
cluster (GPU software, KubeRay operator; monitoring comes from `Observability`) plus ingress-nginx.
Nothing here holds or needs AWS credentials. The hosts
themselves are prepared with the cloud-init this component renders (`bootstrap_cloud_init`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, field_validator

from components._kubernetes import GpuSharing, GpuSoftware, PlatformAddons, install_platform_addons
from components.bootstrap import BootstrapSpec, render_cloud_init
from components.ingress_controller import NginxIngressSettings, ingress_nginx
from components.settings import DataClass, settings_dataclass
from platform_facts.kubernetes import GPU_NODE_LABEL, GPU_TAINT, platform_labels
from platform_facts.project import label, type_token

__all__ = ["OnPremCluster", "OnPremClusterArgs", "OnPremClusterSettings", "OnPremGpuNode"]


@settings_dataclass
class OnPremGpuNode:
    """A GPU host already joined to the cluster."""

    hostname: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$")]
    """Kubernetes node name (usually the host name)."""
    gpu_model: Annotated[str, Field(min_length=1)]
    """GPU model, e.g. `H100-SXM5-80GB`; becomes the `rampart.dev/gpu-model` label."""
    gpu_count: Annotated[int, Field(ge=1, le=16)] = 8


@settings_dataclass(kw_only=True)
class OnPremClusterSettings:
    """What an environment chooses about its on-prem cluster: GPU hosts, add-ons, host bootstrap."""

    gpu_nodes: tuple[OnPremGpuNode, ...] = ()
    gpu_software: GpuSoftware = "gpu_operator"
    gpu_sharing: GpuSharing = GpuSharing()
    bootstrap: BootstrapSpec = BootstrapSpec()
    data_class: DataClass = "regulated"
    """Most sensitive data workloads on this cluster may handle."""
    ingress: NginxIngressSettings = NginxIngressSettings()
    """The ingress-nginx controller and the ingress class the platforms' `Ingress` objects name."""

    @field_validator("gpu_nodes")
    @classmethod
    def _hostnames_are_unique(cls, nodes: tuple[OnPremGpuNode, ...]) -> tuple[OnPremGpuNode, ...]:
        names = [node.hostname for node in nodes]
        if len(set(names)) != len(names):
            raise ValueError("hostnames must be unique")
        return nodes

    def check_has_gpu_nodes(self) -> None:
        """An adopted cluster is there for its GPU hosts: refuse one without any."""
        if not self.gpu_nodes:
            raise ValueError("gpu_nodes must list at least one host when the on-prem cluster is enabled")


@dataclass(frozen=True)
class OnPremClusterArgs:
    """Inputs of an `OnPremCluster`: the environment's settings and the cluster's credentials."""

    settings: OnPremClusterSettings
    environment: str
    kubeconfig: pulumi.Input[str]
    """Kubeconfig of the cluster; must be a Pulumi secret (`Output.secret`)."""
    monitoring_namespace: str = "monitoring"

    def __post_init__(self) -> None:
        self.settings.check_has_gpu_nodes()
        if isinstance(self.kubeconfig, str):
            raise ValueError("kubeconfig: must be a Pulumi secret (pulumi.Output.secret), never plain text")


class OnPremCluster(pulumi.ComponentResource):
    """GPU node labels and taints, GPU software, the KubeRay operator and ingress-nginx on an existing cluster.

    Outputs: `bootstrap_cloud_init` (the host bootstrap document); `provider` and `addons` for
    the components deployed onto this cluster.
    """

    bootstrap_cloud_init: pulumi.Output[str]
    provider: k8s.Provider
    addons: PlatformAddons

    def __init__(self, name: str, args: OnPremClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("OnPremCluster"), name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(args.kubeconfig),
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)
        settings = args.settings
        labels = platform_labels(environment=args.environment, data_class=settings.data_class, component="nodes")
        node_patches = [
            # Server-side apply patch: Pulumi owns only these labels and the taint, not the node.
            k8s.core.v1.NodePatch(
                f"{name}-node-{node.hostname.replace('.', '-')}",
                metadata={
                    "name": node.hostname,
                    "labels": {
                        **labels,
                        GPU_NODE_LABEL: "true",
                        label("gpu-model"): node.gpu_model,
                        label("gpu-count"): str(node.gpu_count),
                    },
                    "annotations": {"pulumi.com/patchForce": "true"},
                },
                spec={"taints": [dict(GPU_TAINT)]},
                opts=on_cluster,
            )
            for node in settings.gpu_nodes
        ]
        ingress = ingress_nginx(
            name,
            settings.ingress,
            environment=args.environment,
            data_class=settings.data_class,
            monitoring_namespace=args.monitoring_namespace,
            parent=self,
            provider=self.provider,
            depends_on=node_patches,
        )
        self.addons = install_platform_addons(
            name,
            settings,
            environment=args.environment,
            monitoring_namespace=args.monitoring_namespace,
            parent=self,
            provider=self.provider,
            ingress=ingress,
            depends_on=node_patches,
        )
        cloud_init = render_cloud_init(settings.bootstrap, environment=args.environment)
        self.bootstrap_cloud_init = pulumi.Output.from_input(cloud_init)
        self.register_outputs({"bootstrap_cloud_init": self.bootstrap_cloud_init})
