"""`InferencePlatform`: the Serve application on Kubernetes as a KubeRay `RayService`.

The `serveConfigV2` is the same Ray Serve config file the local environment deploys
(`services/config/serve-<env>.yaml`), passed in already parsed: one source of truth. Only the
gateway is reachable from outside the namespace (Service + TLS Ingress, from the ingress
controller's namespace); the Ray dashboard, GCS and client ports stay inside, behind a
default-deny NetworkPolicy and Ray token authentication.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import AfterValidator, Field, model_validator

from components._kubernetes import secured_namespace
from components.settings import DataClass, ResourceName, settings_dataclass
from platform_facts.kubernetes import GPU_NODE_LABEL, GPU_TOLERATION, platform_labels
from platform_facts.ports import GATEWAY_PORT, INTERNAL_RAY_PORTS, METRICS_PORT, RAY_DASHBOARD_PORT

__all__ = [
    "InferencePlatform",
    "InferencePlatformArgs",
    "InferencePlatformSettings",
    "WorkerGroup",
    "ray_service_spec",
]

RAY_VERSION = "2.60.0"
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _is_a_quantity(pattern: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} is not a Kubernetes quantity")
        return value

    return AfterValidator(check)


@settings_dataclass
class WorkerGroup:
    """A Ray worker group: replica bounds and per-pod resources (requests == limits)."""

    min_replicas: Annotated[int, Field(ge=0)] = 1
    max_replicas: Annotated[int, Field(ge=1)] = 4
    cpu: Annotated[str, _is_a_quantity(r"\d+m?")] = "4"
    """CPU per pod (`4`, `500m`)."""
    memory: Annotated[str, _is_a_quantity(r"\d+(Mi|Gi)")] = "16Gi"
    """Memory per pod (`16Gi`, `512Mi`)."""
    gpus: Annotated[int, Field(ge=0, le=8)] = 0
    """`nvidia.com/gpu` per pod; 0 for a CPU group."""

    @model_validator(mode="after")
    def _replicas_are_ordered(self) -> WorkerGroup:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        return self


@settings_dataclass(kw_only=True)
class InferencePlatformSettings:
    """What an environment chooses about one inference platform (an entry of `rampart:inference_platforms`)."""

    data_class: DataClass
    """Most sensitive data the platform handles (`rampart.dev/data-class` on every object)."""
    image: Annotated[str, Field(min_length=1)]
    """Serving image (Ray + services/); pinned by digest where the environment requires it."""
    hostname: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")]
    """DNS name of the gateway's Ingress (TLS)."""
    tls_secret: ResourceName = "gateway-tls"
    """Kubernetes TLS secret for the Ingress (cert-manager or your PKI writes it)."""
    ingress_class: str = "nginx"
    ingress_namespace: str = "ingress-nginx"
    """Namespace of the ingress controller, the only source allowed to reach the gateway."""
    cpu_workers: WorkerGroup = WorkerGroup()
    gpu_workers: WorkerGroup = WorkerGroup(min_replicas=2, max_replicas=8, cpu="8", memory="48Gi", gpus=1)

    @model_validator(mode="after")
    def _gpus_only_in_the_gpu_group(self) -> InferencePlatformSettings:
        if self.gpu_workers.gpus == 0:
            raise ValueError("gpu_workers.gpus must be at least 1")
        if self.cpu_workers.gpus != 0:
            raise ValueError("cpu_workers.gpus must be 0")
        return self

    def check_image_pinned(self) -> None:
        """Refuse an image given by tag alone: a tag may change under you, a digest cannot."""
        if not _DIGEST.search(self.image):
            raise ValueError(f"image: {self.image} must be pinned by digest (@sha256:<64 hex>)")


@dataclass(frozen=True)
class InferencePlatformArgs:
    """Inputs of an `InferencePlatform`: the environment's settings and how the stack places it."""

    settings: InferencePlatformSettings
    environment: str
    serve_config: Mapping[str, Any]
    """Parsed Ray Serve config (`services.config.serve_config(env)`), embedded as `serveConfigV2`."""
    namespace: str
    require_image_digest: bool = True
    monitoring_namespace: str = "monitoring"
    operator_namespace: str = "kuberay-system"
    """The KubeRay operator's namespace: it alone may reach the head's dashboard port to deploy Serve."""
    head_cpu: str = "2"
    head_memory: str = "8Gi"
    shm_size: str = "8Gi"
    """Size of the memory-backed `/dev/shm` (Ray's object store and PyTorch data loaders use it)."""
    env: Mapping[str, str] = field(default_factory=lambda: {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"})
    """Environment of every Ray node, head and workers alike."""

    def __post_init__(self) -> None:
        if self.require_image_digest:
            self.settings.check_image_pinned()
        if not self.serve_config.get("applications"):
            raise ValueError("serve_config: has no applications")


_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _pod_template(
    args: InferencePlatformArgs,
    labels: Mapping[str, str],
    container_name: str,
    resources: Mapping[str, str],
    ports: list[dict[str, Any]],
    *,
    gpu: bool,
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": "ray",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": container_name,
                "image": args.settings.image,
                "imagePullPolicy": "IfNotPresent",
                "env": [{"name": key, "value": value} for key, value in sorted(args.env.items())],
                "ports": ports,
                "resources": {"requests": dict(resources), "limits": dict(resources)},
                "securityContext": _CONTAINER_SECURITY,
                "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": args.shm_size}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
        ],
    }
    if gpu:
        pod["tolerations"] = [dict(GPU_TOLERATION)]
        pod["nodeSelector"] = {GPU_NODE_LABEL: "true"}
    return {"metadata": {"labels": dict(labels)}, "spec": pod}


def _worker_group(
    name: str, group: WorkerGroup, args: InferencePlatformArgs, labels: Mapping[str, str]
) -> dict[str, Any]:
    resources = {"cpu": group.cpu, "memory": group.memory}
    if group.gpus:
        resources["nvidia.com/gpu"] = str(group.gpus)
    return {
        "groupName": name,
        "replicas": group.min_replicas,
        "minReplicas": group.min_replicas,
        "maxReplicas": group.max_replicas,
        "rayStartParams": {},
        "template": _pod_template(
            args,
            labels,
            "ray-worker",
            resources,
            [{"name": "metrics", "containerPort": METRICS_PORT}],
            gpu=bool(group.gpus),
        ),
    }


def ray_service_spec(args: InferencePlatformArgs, labels: Mapping[str, str]) -> dict[str, Any]:
    """The `RayService` spec (pure): Serve config, token auth, a CPU-less head, CPU and GPU workers."""
    head_ports = [
        {"name": "gcs", "containerPort": INTERNAL_RAY_PORTS["gcs"]},
        {"name": "dashboard", "containerPort": INTERNAL_RAY_PORTS["dashboard"]},
        {"name": "client", "containerPort": INTERNAL_RAY_PORTS["client"]},
        {"name": "serve", "containerPort": GATEWAY_PORT},
        {"name": "metrics", "containerPort": METRICS_PORT},
    ]
    return {
        "serveConfigV2": yaml.safe_dump(dict(args.serve_config), sort_keys=False),
        "rayClusterConfig": {
            "rayVersion": RAY_VERSION,
            "enableInTreeAutoscaling": True,
            "authOptions": {"mode": "token"},
            "headGroupSpec": {
                "serviceType": "ClusterIP",
                # The head schedules no tasks: a busy head slows every deployment's control plane.
                "rayStartParams": {"num-cpus": "0"},
                "template": _pod_template(
                    args, labels, "ray-head", {"cpu": args.head_cpu, "memory": args.head_memory}, head_ports, gpu=False
                ),
            },
            "workerGroupSpecs": [
                _worker_group("cpu", args.settings.cpu_workers, args, labels),
                _worker_group("gpu", args.settings.gpu_workers, args, labels),
            ],
        },
    }


class InferencePlatform(pulumi.ComponentResource):
    """Namespace, RayService, gateway Service + TLS Ingress, NetworkPolicies, PDBs, ServiceMonitor.

    Outputs: `namespace`, `gateway_url`.
    """

    namespace: pulumi.Output[str]
    gateway_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: InferencePlatformArgs,
        *,
        provider: k8s.Provider,
        operator: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rampart:index:InferencePlatform", name, None, opts)
        labels = {
            **platform_labels(environment=args.environment, data_class=args.settings.data_class, component="inference"),
            "app.kubernetes.io/instance": name,
        }
        namespace_name = args.namespace
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = secured_namespace(
            f"{name}-ns", name=namespace_name, labels=labels, pod_security="restricted", opts=on_cluster
        )
        inside = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[namespace]))

        def meta(object_name: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
            return {"name": object_name, "namespace": namespace_name, "labels": {**labels, **(extra or {})}}

        instance = {"app.kubernetes.io/instance": name}
        serving = {**instance, "ray.io/serve": "true"}
        self._allow(
            f"{name}-allow-gateway",
            meta("allow-gateway-from-ingress"),
            serving,
            args.settings.ingress_namespace,
            GATEWAY_PORT,
            inside,
        )
        self._allow(
            f"{name}-allow-metrics",
            meta("allow-metrics-from-monitoring"),
            instance,
            args.monitoring_namespace,
            METRICS_PORT,
            inside,
        )
        self._allow(
            f"{name}-allow-operator",
            meta("allow-dashboard-from-kuberay"),
            {**instance, "ray.io/node-type": "head"},
            args.operator_namespace,
            RAY_DASHBOARD_PORT,
            inside,
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-ray-sa", metadata=meta("ray"), automount_service_account_token=False, opts=inside
        )
        ray_service = k8s.apiextensions.CustomResource(
            f"{name}-rayservice",
            api_version="ray.io/v1",
            kind="RayService",
            metadata=meta(name),
            spec=ray_service_spec(args, labels),
            opts=pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(depends_on=[operator])),
        )
        gateway = k8s.core.v1.Service(
            f"{name}-gateway",
            metadata=meta("gateway"),
            spec={
                "type": "ClusterIP",
                "selector": serving,
                "ports": [{"name": "http", "port": GATEWAY_PORT, "targetPort": GATEWAY_PORT, "protocol": "TCP"}],
            },
            opts=pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(depends_on=[ray_service])),
        )
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata={**meta("gateway"), "annotations": {"nginx.ingress.kubernetes.io/ssl-redirect": "true"}},
            spec={
                "ingressClassName": args.settings.ingress_class,
                "tls": [{"hosts": [args.settings.hostname], "secretName": args.settings.tls_secret}],
                "rules": [
                    {
                        "host": args.settings.hostname,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "gateway", "port": {"number": GATEWAY_PORT}}},
                                }
                            ]
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(depends_on=[gateway])),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-serving-pdb",
            metadata=meta("serving"),
            spec={"minAvailable": 1, "selector": {"matchLabels": serving}},
            opts=inside,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-gpu-pdb",
            metadata=meta("gpu-workers"),
            spec={"maxUnavailable": 1, "selector": {"matchLabels": {**instance, "ray.io/group": "gpu"}}},
            opts=inside,
        )
        k8s.core.v1.Service(
            f"{name}-metrics",
            metadata=meta("ray-metrics", {"rampart.dev/metrics": "ray"}),
            spec={
                "clusterIP": "None",
                "selector": instance,
                "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": METRICS_PORT}],
            },
            opts=inside,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=meta("ray"),
            spec={
                "selector": {"matchLabels": {**instance, "rampart.dev/metrics": "ray"}},
                "endpoints": [{"port": "metrics", "interval": "15s"}],
            },
            opts=inside,
        )
        self.namespace = pulumi.Output.from_input(namespace_name)
        self.gateway_url = pulumi.Output.from_input(f"https://{args.settings.hostname}")
        self.register_outputs({"namespace": self.namespace, "gateway_url": self.gateway_url})

    def _allow(
        self,
        resource_name: str,
        metadata: dict[str, Any],
        pods: Mapping[str, str],
        source_namespace: str,
        port: int,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Admit one port on the selected pods from one other namespace."""
        k8s.networking.v1.NetworkPolicy(
            resource_name,
            metadata=metadata,
            spec={
                "podSelector": {"matchLabels": dict(pods)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": source_namespace}}}
                        ],
                        "ports": [{"protocol": "TCP", "port": port}],
                    }
                ],
            },
            opts=opts,
        )
