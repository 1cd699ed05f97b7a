"""`OnPremCluster`: an existing on-prem Kubernetes cluster adopted into the platform.

Pulumi does not create this cluster: it reaches it through a kubeconfig held as a Pulumi secret,
labels and taints the GPU nodes named in config, and installs the same add-ons as the cloud
cluster (GPU software, KubeRay operator; monitoring comes from `Observability`). The hosts
themselves are prepared with the cloud-init this component renders (`bootstrap_cloud_init`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components._kubernetes import PlatformAddons, install_platform_addons
from components.bootstrap import BootstrapSpec, render_cloud_init
from platform_facts.kubernetes import GPU_NODE_LABEL, GPU_TAINT, platform_labels

__all__ = ["OnPremCluster", "OnPremClusterArgs", "OnPremGpuNode"]


@dataclass(frozen=True)
class OnPremGpuNode:
    """A GPU host already joined to the cluster."""

    hostname: str
    gpu_model: str
    gpu_count: int


@dataclass(frozen=True)
class OnPremClusterArgs:
    """Inputs of an `OnPremCluster`."""

    environment: str
    kubeconfig: pulumi.Input[str]
    """Kubeconfig of the cluster; must be a Pulumi secret (`Output.secret`)."""
    gpu_nodes: Sequence[OnPremGpuNode]
    bootstrap: BootstrapSpec
    gpu_software: Literal["gpu_operator", "device_plugin"] = "gpu_operator"
    gpu_sharing: Literal["none", "time_slicing", "mig"] = "none"
    time_slicing_replicas: int = 4
    mig_profile: str = "all-1g.10gb"
    data_class: str = "regulated"
    monitoring_namespace: str = "monitoring"

    def __post_init__(self) -> None:
        if not self.gpu_nodes:
            raise ValueError("gpu_nodes: list at least one GPU host")
        names = [node.hostname for node in self.gpu_nodes]
        for index, node in enumerate(self.gpu_nodes):
            if names.count(node.hostname) > 1:
                raise ValueError(f"gpu_nodes[{index}].hostname: {node.hostname} is listed twice")
            if node.gpu_count < 1:
                raise ValueError(f"gpu_nodes[{index}].gpu_count: must be at least 1")
        if isinstance(self.kubeconfig, str):
            raise ValueError("kubeconfig: must be a Pulumi secret (pulumi.Output.secret), never plain text")


class OnPremCluster(pulumi.ComponentResource):
    """GPU node labels and taints, GPU software and the KubeRay operator on an existing cluster.

    Outputs: `bootstrap_cloud_init` (the host bootstrap document); `provider` and `addons` for
    the components deployed onto this cluster.
    """

    bootstrap_cloud_init: pulumi.Output[str]
    provider: k8s.Provider
    addons: PlatformAddons

    def __init__(self, name: str, args: OnPremClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rampart:index:OnPremCluster", name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(args.kubeconfig),
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)
        labels = platform_labels(environment=args.environment, data_class=args.data_class, component="nodes")
        node_patches = [
            # Server-side apply patch: Pulumi owns only these labels and the taint, not the node.
            k8s.core.v1.NodePatch(
                f"{name}-node-{node.hostname.replace('.', '-')}",
                metadata={
                    "name": node.hostname,
                    "labels": {
                        **labels,
                        GPU_NODE_LABEL: "true",
                        "rampart.dev/gpu-model": node.gpu_model,
                        "rampart.dev/gpu-count": str(node.gpu_count),
                    },
                    "annotations": {"pulumi.com/patchForce": "true"},
                },
                spec={"taints": [dict(GPU_TAINT)]},
                opts=on_cluster,
            )
            for node in args.gpu_nodes
        ]
        self.addons = install_platform_addons(name, args, parent=self, provider=self.provider, depends_on=node_patches)
        self.bootstrap_cloud_init = pulumi.Output.from_input(render_cloud_init(args.bootstrap))
        self.register_outputs({"bootstrap_cloud_init": self.bootstrap_cloud_init})
