"""Building blocks shared by the cluster and platform components: pinned Helm charts, labelled
namespaces that deny ingress by default, and the platform add-ons every GPU cluster gets.

Internal to `components/`: the public surface is the components that use these helpers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import Field

from components.settings import settings_dataclass
from platform_facts.kubernetes import GPU_NODE_LABEL, GPU_TOLERATION, platform_labels

if TYPE_CHECKING:
    from components.ingress_controller import ClusterIngress

__all__ = [
    "CHARTS",
    "SERVING_IMAGE_CONTAINER_SECURITY",
    "Chart",
    "GpuSharing",
    "GpuSharingMode",
    "GpuSoftware",
    "PlatformAddonSettings",
    "PlatformAddons",
    "gpu_software_values",
    "helm_release",
    "install_platform_addons",
    "secured_namespace",
    "time_slicing_config",
]

SERVING_IMAGE_CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""A container of the serving image (Ray pods, the state-role Job): Kubernetes' restricted profile,
as the image's own non-root user 1000 (deploy/Containerfile)."""


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned to one version."""

    repository: str
    name: str
    version: str


CHARTS: Mapping[str, Chart] = {
    "karpenter": Chart("oci://public.ecr.aws/karpenter", "karpenter", "1.8.1"),
    "gpu-operator": Chart("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v25.10.0"),
    "device-plugin": Chart("https://nvidia.github.io/k8s-device-plugin", "nvidia-device-plugin", "0.18.0"),
    "dcgm-exporter": Chart("https://nvidia.github.io/dcgm-exporter/helm-charts", "dcgm-exporter", "4.6.0"),
    "kuberay-operator": Chart("https://ray-project.github.io/kuberay-helm/", "kuberay-operator", "1.6.0"),
    "kube-prometheus-stack": Chart(
        "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "79.5.0"
    ),
    "opentelemetry-collector": Chart(
        "https://open-telemetry.github.io/opentelemetry-helm-charts", "opentelemetry-collector", "0.140.0"
    ),
    "external-secrets": Chart("https://charts.external-secrets.io", "external-secrets", "1.1.0"),
    "aws-load-balancer-controller": Chart("https://aws.github.io/eks-charts", "aws-load-balancer-controller", "1.13.0"),
    "ingress-nginx": Chart("https://kubernetes.github.io/ingress-nginx", "ingress-nginx", "4.13.0"),
    "cluster-autoscaler": Chart("https://kubernetes.github.io/autoscaler", "cluster-autoscaler", "9.46.0"),
}
"""Every chart the platform installs, in one place: upgrade a version here, on purpose."""


def helm_release(
    resource_name: str,
    chart: str,
    *,
    namespace: pulumi.Input[str],
    values: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Release:
    """A `helm.v3.Release` of a pinned chart: one resource a preview and the policies can see."""
    pinned = CHARTS[chart]
    oci = pinned.repository.startswith("oci://")
    return k8s.helm.v3.Release(
        resource_name,
        chart=f"{pinned.repository}/{pinned.name}" if oci else pinned.name,
        version=pinned.version,
        repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=pinned.repository),
        namespace=namespace,
        values=dict(values),
        atomic=True,
        cleanup_on_fail=True,
        opts=opts,
    )


PodSecurity = Literal["restricted", "baseline", "privileged"]


def secured_namespace(
    resource_name: str,
    *,
    name: str,
    labels: Mapping[str, str],
    pod_security: PodSecurity,
    allow_from_namespaces: Sequence[str] = (),
    webhook_ports: Sequence[int] = (),
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Namespace:
    """A namespace whose pods accept no ingress except from their own namespace and the ones named.

    The default-deny NetworkPolicy selects every pod; a second policy re-opens traffic between the
    namespace's own pods and from `allow_from_namespaces` (Prometheus, the ingress controller).
    `webhook_ports` are opened to every source: admission webhooks are called by the API server,
    from outside the pod network.
    """
    namespace = k8s.core.v1.Namespace(
        resource_name,
        metadata={
            "name": name,
            "labels": {
                **labels,
                "pod-security.kubernetes.io/enforce": pod_security,
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
        opts=opts,
    )
    in_namespace = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    k8s.networking.v1.NetworkPolicy(
        f"{resource_name}-default-deny",
        metadata={"name": "default-deny-ingress", "namespace": name, "labels": dict(labels)},
        spec={"podSelector": {}, "policyTypes": ["Ingress"]},
        opts=in_namespace,
    )
    sources: list[dict[str, Any]] = [{"podSelector": {}}]
    sources += [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": source}}}
        for source in allow_from_namespaces
    ]
    k8s.networking.v1.NetworkPolicy(
        f"{resource_name}-allow-known",
        metadata={"name": "allow-same-namespace-and-known-sources", "namespace": name, "labels": dict(labels)},
        spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": sources}]},
        opts=in_namespace,
    )
    if webhook_ports:
        k8s.networking.v1.NetworkPolicy(
            f"{resource_name}-allow-webhooks",
            metadata={"name": "allow-admission-webhooks", "namespace": name, "labels": dict(labels)},
            spec={
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": port} for port in webhook_ports]}],
            },
            opts=in_namespace,
        )
    return namespace


GpuSoftware = Literal["gpu_operator", "device_plugin"]
"""The NVIDIA GPU Operator, or only the device plugin plus the DCGM exporter."""
GpuSharingMode = Literal["none", "time_slicing", "mig"]


@settings_dataclass
class GpuSharing:
    """Sharing one GPU between pods: off, NVIDIA time-slicing, or MIG partitions."""

    mode: GpuSharingMode = "none"
    time_slicing_replicas: Annotated[int, Field(ge=2, le=16)] = 4
    """Pods per GPU with time-slicing (no memory isolation between them)."""
    mig_profile: str = "all-1g.10gb"
    """MIG manager profile applied to GPU nodes with MIG (A100/H100 class)."""


@dataclass(frozen=True)
class PlatformAddons:
    """What `install_platform_addons` installed, for the components that build on it."""

    gpu_namespace: str
    gpu_software: k8s.helm.v3.Release
    kuberay_namespace: str
    kuberay_operator: k8s.helm.v3.Release
    ingress: ClusterIngress
    """The cluster's ingress controller: the class and certificate every platform `Ingress` uses."""


def gpu_software_values(
    software: GpuSoftware, sharing_mode: GpuSharingMode, mig_profile: str, sharing_config: str | None
) -> dict[str, Any]:
    """Helm values for the NVIDIA GPU Operator or the device plugin (pure, tested).

    Drivers and the container toolkit come with the node image (EKS AL2023 NVIDIA AMI, or the
    on-prem bootstrap), so the operator does not install them; it runs the device plugin, GPU
    feature discovery, the DCGM exporter and, with MIG, the MIG manager.
    """
    on_gpu_nodes = {"tolerations": [GPU_TOLERATION], "nodeSelector": {GPU_NODE_LABEL: "true"}}
    if software == "gpu_operator":
        values: dict[str, Any] = {
            "driver": {"enabled": False},
            "toolkit": {"enabled": False},
            "dcgmExporter": {"enabled": True},
            "daemonsets": {"tolerations": [GPU_TOLERATION]},
            "node-feature-discovery": {"worker": {"tolerations": [GPU_TOLERATION]}},
            "mig": {"strategy": "single" if sharing_mode == "mig" else "none"},
            "migManager": {"enabled": sharing_mode == "mig", "config": {"default": mig_profile}},
        }
        if sharing_config is not None:
            values["devicePlugin"] = {"config": {"name": sharing_config, "default": "any"}}
        return values
    values = {**on_gpu_nodes, "gfd": {"enabled": True}}
    if sharing_mode == "mig":
        values["migStrategy"] = "single"
    if sharing_config is not None:
        values["config"] = {"name": sharing_config, "default": "any"}
    return values


def time_slicing_config(replicas: int) -> str:
    """The device plugin's sharing config: each GPU advertised `replicas` times."""
    document = {
        "version": "v1",
        "flags": {"migStrategy": "none"},
        "sharing": {"timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": replicas}]}},
    }
    return yaml.safe_dump(document, sort_keys=False)


class PlatformAddonSettings(Protocol):
    """The settings of a cluster that choose its add-ons (GpuClusterSettings, OnPremClusterSettings)."""

    @property
    def data_class(self) -> str: ...
    @property
    def gpu_software(self) -> GpuSoftware: ...
    @property
    def gpu_sharing(self) -> GpuSharing: ...


def install_platform_addons(
    name: str,
    settings: PlatformAddonSettings,
    *,
    environment: str,
    monitoring_namespace: str,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    ingress: ClusterIngress,
    depends_on: Sequence[pulumi.Resource] = (),
) -> PlatformAddons:
    """GPU software (operator or device plugin + DCGM exporter) and the KubeRay operator; `ingress`,
    installed by the cluster component (it differs between EKS and on-prem), is handed on with them.

    The same add-ons go onto the EKS and the on-prem cluster, so a workload sees one platform.
    """
    opts = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on))
    gpu_labels = platform_labels(environment=environment, data_class=settings.data_class, component="gpu")
    gpu_namespace = "gpu-system"
    # The GPU software needs host access (device nodes, driver libraries): privileged by necessity.
    namespace = secured_namespace(
        f"{name}-gpu-ns",
        name=gpu_namespace,
        labels=gpu_labels,
        pod_security="privileged",
        allow_from_namespaces=[monitoring_namespace],
        opts=opts,
    )
    in_gpu_namespace = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    sharing_config = None
    if settings.gpu_sharing.mode == "time_slicing":
        sharing_config = "gpu-sharing"
        k8s.core.v1.ConfigMap(
            f"{name}-gpu-sharing",
            metadata={"name": sharing_config, "namespace": gpu_namespace, "labels": gpu_labels},
            data={"any": time_slicing_config(settings.gpu_sharing.time_slicing_replicas)},
            opts=in_gpu_namespace,
        )
    sharing = settings.gpu_sharing
    values = gpu_software_values(settings.gpu_software, sharing.mode, sharing.mig_profile, sharing_config)
    if settings.gpu_software == "gpu_operator":
        gpu_release = helm_release(
            f"{name}-gpu-operator", "gpu-operator", namespace=gpu_namespace, values=values, opts=in_gpu_namespace
        )
    else:
        gpu_release = helm_release(
            f"{name}-device-plugin", "device-plugin", namespace=gpu_namespace, values=values, opts=in_gpu_namespace
        )
        helm_release(
            f"{name}-dcgm-exporter",
            "dcgm-exporter",
            namespace=gpu_namespace,
            values={"tolerations": [GPU_TOLERATION], "nodeSelector": {GPU_NODE_LABEL: "true"}},
            opts=in_gpu_namespace,
        )

    kuberay_labels = platform_labels(environment=environment, data_class=settings.data_class, component="kuberay")
    kuberay_namespace = "kuberay-system"
    kuberay_ns = secured_namespace(
        f"{name}-kuberay-ns",
        name=kuberay_namespace,
        labels=kuberay_labels,
        pod_security="restricted",
        allow_from_namespaces=[monitoring_namespace],
        opts=opts,
    )
    kuberay = helm_release(
        f"{name}-kuberay",
        "kuberay-operator",
        namespace=kuberay_namespace,
        values={
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "securityContext": {
                "runAsNonRoot": True,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "labels": kuberay_labels,
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[kuberay_ns])),
    )
    return PlatformAddons(gpu_namespace, gpu_release, kuberay_namespace, kuberay, ingress)
