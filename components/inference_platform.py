"""`InferencePlatform`: the Serve application on Kubernetes as a KubeRay `RayService`.

The `serveConfigV2` is the same Ray Serve config file the local environment deploys
(`services/config/serve-<name>.yaml`), and the gateway's config (`gateway-<name>.yaml`) becomes a
ConfigMap the pods mount; both are rendered here with the stack's outputs (`config_values`: bucket
names, secret ARN, region), so no name in them is copied by hand. Only the gateway is reachable from
outside the namespace (Service + TLS Ingress, from the ingress controller's namespace, TLS again
from the load balancer to the pod); the Ray dashboard, GCS and client ports stay inside, behind a
default-deny NetworkPolicy and Ray token authentication. The pods keep a read-only root: every
path the services write is a volume (`WRITABLE_PATHS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import AfterValidator, Field, model_validator

from components._kubernetes import SERVING_IMAGE_CONTAINER_SECURITY, secured_namespace
from components.settings import DataClass, ResourceName, settings_dataclass
from platform_facts.kubernetes import GPU_NODE_LABEL, GPU_TOLERATION, platform_labels
from platform_facts.ports import GATEWAY_PORT, INTERNAL_RAY_PORTS, METRICS_PORT, RAY_DASHBOARD_PORT
from platform_facts.project import PROJECT_NAME, label, type_token
from services.config.render import render

__all__ = [
    "API_KEYS_MOUNT",
    "BACKEND_TLS_MOUNT",
    "GATEWAY_CONFIG_MOUNT",
    "GATEWAY_GROUP",
    "GATEWAY_RESOURCE",
    "MODEL_VOLUME_MOUNT",
    "WRITABLE_PATHS",
    "InferencePlatform",
    "InferencePlatformArgs",
    "InferencePlatformSettings",
    "WorkerGroup",
    "gateway_args",
    "ray_service_spec",
]

RAY_VERSION = "2.60.0"
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

WRITABLE_PATHS = {
    "home": f"/home/{PROJECT_NAME}",
    "cache": f"/var/cache/{PROJECT_NAME}",
    "state": f"/var/lib/{PROJECT_NAME}",
    "tmp": "/tmp",
}
"""The serving image's declared volumes (deploy/Containerfile `VOLUME`): everything its processes
write — HOME, model and library caches, the gateway's audit log and review queue, Ray's temp dir."""
GATEWAY_CONFIG_MOUNT = f"/etc/{PROJECT_NAME}/gateway"
"""Where the rendered gateway config (ConfigMap `gateway-config`, key `gateway.yaml`) is mounted."""
API_KEYS_MOUNT = f"/etc/{PROJECT_NAME}/keys"
"""Where `api_keys_secret` is mounted: gateway configs with `keys: {source: file}` read `keys.yaml` here."""
MODEL_VOLUME_MOUNT = f"/var/lib/{PROJECT_NAME}-models"
"""Where `model_volume` is mounted, read-only: on-prem serve configs name model directories under it."""
BACKEND_TLS_MOUNT = f"/etc/{PROJECT_NAME}/tls"
"""Where `backend_tls_secret` is mounted: Serve's HTTP proxy answers HTTPS with its `tls.crt`/`tls.key`."""
GATEWAY_GROUP = "gateway"
"""The worker group that runs the gateway (the Serve `Ingress` deployment) and nothing else."""
GATEWAY_RESOURCE = f"{PROJECT_NAME}_gateway"
"""The Ray resource only the gateway group's nodes offer (one per CPU of the pod, and no `CPU`): the
serve configs' `Ingress` asks for it instead of CPUs, so gateway replicas never share a node with a
model replica, and losing a model node never loses a request a gateway replica holds."""


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
    hostname: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")]
    """DNS name of the gateway's Ingress (TLS)."""
    tls_secret: ResourceName = "gateway-tls"
    """Kubernetes TLS secret for the Ingress where the controller terminates TLS itself (ingress-nginx;
    cert-manager or your PKI writes it). The AWS load balancer uses the cluster's ACM certificate."""
    backend_tls_secret: ResourceName = "gateway-backend-tls"
    """Kubernetes TLS secret (`tls.crt`, `tls.key`) for the hop from the ingress controller to the
    pods: Serve's proxy answers HTTPS with it. cert-manager or your PKI writes it, for the name
    `gateway.<namespace>.svc`."""
    model_volume: ResourceName | None = None
    """A PersistentVolumeClaim holding the models, mounted read-only at `/var/lib/rampart-models`
    (on-prem: models never come from AWS). `None`: models come from the model bucket."""
    state_volume: ResourceName | None = None
    """A PersistentVolumeClaim (ReadWriteMany) for `/var/lib/rampart` — the audit log and review queue
    outlive pods (on-prem, where no bucket takes sealed audit segments). `None`: an `emptyDir`."""
    api_keys_secret: ResourceName | None = None
    """A Kubernetes Secret holding `keys.yaml` (the tenants' API key hashes), mounted at
    `/etc/rampart/keys` for gateway configs with `keys: {source: file}` (on-prem). The platform creates
    it empty; operators write its content. `None`: keys come from Secrets Manager."""
    cpu_workers: WorkerGroup = WorkerGroup()
    gpu_workers: WorkerGroup = WorkerGroup(min_replicas=2, max_replicas=8, cpu="8", memory="48Gi", gpus=1)
    gateway_workers: WorkerGroup = WorkerGroup(min_replicas=2, max_replicas=6, cpu="4", memory="16Gi")
    """The gateway's own nodes (`GATEWAY_GROUP`): two at least, so a node's loss leaves a gateway answering."""

    @model_validator(mode="after")
    def _gpus_only_in_the_gpu_group(self) -> InferencePlatformSettings:
        if self.gpu_workers.gpus == 0:
            raise ValueError("gpu_workers.gpus must be at least 1")
        if self.cpu_workers.gpus != 0:
            raise ValueError("cpu_workers.gpus must be 0")
        if self.gateway_workers.gpus != 0:
            raise ValueError("gateway_workers.gpus must be 0")
        return self


@dataclass(frozen=True)
class InferencePlatformArgs:
    """Inputs of an `InferencePlatform`: the environment's settings and how the stack places it."""

    settings: InferencePlatformSettings
    environment: str
    image: pulumi.Input[str]
    """The serving image, `<repository>@sha256:<digest>` (the stack resolves the digest from the registry)."""
    serve_config: Mapping[str, Any]
    """Parsed Ray Serve config (`services.config.serve_config(name)`), rendered and embedded as `serveConfigV2`."""
    namespace: str
    gateway_config: Mapping[str, Any] | None = None
    """Parsed gateway config (`gateway-<name>.yaml`), rendered into the `gateway-config` ConfigMap the
    serve config's `gateway.config_path` then names. Required when the serve config has a gateway."""
    config_values: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Stack outputs the configs' `${name}` placeholders are filled with (services/config/render.py)."""
    service_account: str = "ray"
    """The Ray pods' service account; on EKS the one the serving role is bound to (Pod Identity)."""
    ingress_class: str = "nginx"
    ingress_namespace: str = "ingress-nginx"
    """Namespace of the ingress controller, the only source allowed to reach the gateway."""
    certificate_arn: pulumi.Input[str] | None = None
    """ACM certificate of the AWS load balancer (`ingress_class: alb`); `None` for ingress-nginx."""
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
    secret_env: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Variables of every Ray node set from a Secret of the namespace: name -> (secret, key). On-prem the
    state database's password (`PGPASSWORD`, which libpq reads when the state URL names none)."""
    aws_region: str | None = None
    """Cloud platforms: the region the pods' AWS SDK calls go to (`AWS_REGION`); `None` on-prem,
    where the pods have no AWS endpoint and no credentials."""

    def __post_init__(self) -> None:
        if self.require_image_digest and isinstance(self.image, str) and not _DIGEST.search(self.image):
            raise ValueError(f"image: {self.image} must be pinned by digest (@sha256:<64 hex>)")
        if not self.serve_config.get("applications"):
            raise ValueError("serve_config: has no applications")
        if gateway_args(self.serve_config) is not None and self.gateway_config is None:
            raise ValueError("gateway_config: required, the serve config runs the gateway")


def gateway_args(serve_config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The serve config's `gateway:` app args (`None`: the application runs without the gateway)."""
    gateway: dict[str, Any] | None = serve_config["applications"][0]["args"].get("gateway")
    return gateway


def rendered_serve_config(args: InferencePlatformArgs, values: Mapping[str, str]) -> dict[str, Any]:
    """The Serve config as the cluster runs it (pure): placeholders filled, the gateway reading the
    mounted ConfigMap, the proxy answering HTTPS with the mounted backend certificate."""
    document: dict[str, Any] = render(args.serve_config, values, source="serve config")
    document["http_options"] = {
        **document["http_options"],
        "ssl_certfile": f"{BACKEND_TLS_MOUNT}/tls.crt",
        "ssl_keyfile": f"{BACKEND_TLS_MOUNT}/tls.key",
    }
    for application in document["applications"]:
        if application["args"].get("gateway") is not None:
            application["args"]["gateway"]["config_path"] = f"{GATEWAY_CONFIG_MOUNT}/gateway.yaml"
    return document


def _rendered(args: InferencePlatformArgs, document: Callable[[dict[str, str]], Any]) -> pulumi.Output[str]:
    """`document(values)` as YAML, once the stack outputs in `args.config_values` are known."""
    values = pulumi.Output.all(**args.config_values) if args.config_values else pulumi.Output.from_input({})
    return values.apply(lambda known: yaml.safe_dump(document(known), sort_keys=False))


def _pod_template(
    args: InferencePlatformArgs,
    labels: Mapping[str, str],
    container_name: str,
    resources: Mapping[str, str],
    ports: list[dict[str, Any]],
    *,
    gpu: bool,
) -> dict[str, Any]:
    mounts, volumes = _volumes(args)
    pod: dict[str, Any] = {
        "serviceAccountName": args.service_account,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": container_name,
                "image": args.image,
                "imagePullPolicy": "IfNotPresent",
                "env": [{"name": key, "value": value} for key, value in sorted(_environment(args).items())]
                + [
                    {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": secret_key}}}
                    for key, (secret, secret_key) in sorted(args.secret_env.items())
                ],
                "ports": ports,
                "resources": {"requests": dict(resources), "limits": dict(resources)},
                "securityContext": SERVING_IMAGE_CONTAINER_SECURITY,
                "volumeMounts": mounts,
                # Serve's proxy answers HTTPS only (TLS on every hop that leaves a pod); the probe says so.
                "readinessProbe": {
                    "exec": {"command": ["wget", "-T", "2", "-q", "-O-", "--no-check-certificate",
                                         f"https://localhost:{GATEWAY_PORT}/-/healthz"]},
                    "periodSeconds": 5,
                    "failureThreshold": 3,
                },
            }
        ],
        "volumes": volumes,
    }
    if gpu:
        pod["tolerations"] = [dict(GPU_TOLERATION)]
        pod["nodeSelector"] = {GPU_NODE_LABEL: "true"}
    return {"metadata": {"labels": dict(labels)}, "spec": pod}


def _environment(args: InferencePlatformArgs) -> dict[str, str]:
    region = {"AWS_REGION": args.aws_region, "AWS_DEFAULT_REGION": args.aws_region} if args.aws_region else {}
    return {**args.env, **region}


def _volumes(args: InferencePlatformArgs) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Mounts and volumes of every Ray pod: the image's writable paths, `/dev/shm`, the configs and secrets."""
    settings = args.settings
    state: dict[str, Any] = (
        {"persistentVolumeClaim": {"claimName": settings.state_volume}}
        if settings.state_volume
        else {"emptyDir": {"sizeLimit": "10Gi"}}
    )
    sources: dict[str, tuple[str, dict[str, Any], bool]] = {
        "home": (WRITABLE_PATHS["home"], {"emptyDir": {"sizeLimit": "1Gi"}}, False),
        "cache": (WRITABLE_PATHS["cache"], {"emptyDir": {"sizeLimit": "50Gi"}}, False),
        "state": (WRITABLE_PATHS["state"], state, False),
        "tmp": (WRITABLE_PATHS["tmp"], {"emptyDir": {"sizeLimit": "20Gi"}}, False),
        "dshm": ("/dev/shm", {"emptyDir": {"medium": "Memory", "sizeLimit": args.shm_size}}, False),
        "backend-tls": (BACKEND_TLS_MOUNT, {"secret": {"secretName": settings.backend_tls_secret}}, True),
    }
    if args.gateway_config is not None:
        sources["gateway-config"] = (GATEWAY_CONFIG_MOUNT, {"configMap": {"name": "gateway-config"}}, True)
    if settings.api_keys_secret:
        sources["api-keys"] = (API_KEYS_MOUNT, {"secret": {"secretName": settings.api_keys_secret}}, True)
    if settings.model_volume:
        model_claim = {"persistentVolumeClaim": {"claimName": settings.model_volume, "readOnly": True}}
        sources["models"] = (MODEL_VOLUME_MOUNT, model_claim, True)
    mounts = [
        {"name": name, "mountPath": path, **({"readOnly": True} if read_only else {})}
        for name, (path, _, read_only) in sources.items()
    ]
    volumes = [{"name": name, **source} for name, (_, source, _) in sources.items()]
    return mounts, volumes


def _whole_cpus(quantity: str) -> int:
    """A CPU quantity rounded up to whole CPUs (`500m` → 1), as Ray counts a pod's CPUs."""
    if quantity.endswith("m"):
        return max(1, -(-int(quantity[:-1]) // 1000))
    return max(1, int(quantity))


def _worker_group(
    name: str, group: WorkerGroup, args: InferencePlatformArgs, labels: Mapping[str, str]
) -> dict[str, Any]:
    resources = {"cpu": group.cpu, "memory": group.memory}
    if group.gpus:
        resources["nvidia.com/gpu"] = str(group.gpus)
    spec: dict[str, Any] = {
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
    if name == GATEWAY_GROUP:
        # Ray's logical resources of the node (KubeRay passes them to `ray start`; the autoscaler reads them
        # to know which group to scale for a pending gateway replica): no CPU for anything else to claim.
        spec["resources"] = {"CPU": "0", GATEWAY_RESOURCE: str(_whole_cpus(group.cpu))}
    return spec


def ray_service_spec(args: InferencePlatformArgs, labels: Mapping[str, str]) -> dict[str, Any]:
    """The `RayService` spec (pure): Serve config, token auth, a CPU-less head, gateway, CPU and GPU workers."""
    head_ports = [
        {"name": "gcs", "containerPort": INTERNAL_RAY_PORTS["gcs"]},
        {"name": "dashboard", "containerPort": INTERNAL_RAY_PORTS["dashboard"]},
        {"name": "client", "containerPort": INTERNAL_RAY_PORTS["client"]},
        {"name": "serve", "containerPort": GATEWAY_PORT},
        {"name": "metrics", "containerPort": METRICS_PORT},
    ]
    return {
        "serveConfigV2": _rendered(args, lambda values: rendered_serve_config(args, values)),
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
                _worker_group(GATEWAY_GROUP, args.settings.gateway_workers, args, labels),
                _worker_group("cpu", args.settings.cpu_workers, args, labels),
                _worker_group("gpu", args.settings.gpu_workers, args, labels),
            ],
        },
    }


def ingress_annotations(args: InferencePlatformArgs) -> dict[str, pulumi.Input[str]]:
    """TLS at the controller and again to the pod, for the controller the cluster runs."""
    if args.ingress_class == "alb":
        if args.certificate_arn is None:
            raise ValueError("certificate_arn: required with ingress_class 'alb' (the load balancer's ACM certificate)")
        return {
            "alb.ingress.kubernetes.io/scheme": "internal",
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]',
            "alb.ingress.kubernetes.io/certificate-arn": args.certificate_arn,
            "alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "alb.ingress.kubernetes.io/backend-protocol": "HTTPS",
            "alb.ingress.kubernetes.io/healthcheck-protocol": "HTTPS",
            "alb.ingress.kubernetes.io/healthcheck-path": "/-/healthz",
        }
    return {
        "nginx.ingress.kubernetes.io/ssl-redirect": "true",
        "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
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
        super().__init__(type_token("InferencePlatform"), name, None, opts)
        labels = {
            **platform_labels(environment=args.environment, data_class=args.settings.data_class, component="inference"),
            "app.kubernetes.io/instance": name,
        }
        namespace_name = args.namespace
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = secured_namespace(
            f"{name}-ns", name=namespace_name, labels=labels, pod_security="restricted", opts=on_cluster
        )
        # What another component's objects in this namespace depend on (the on-prem state database).
        self.namespace_resource = namespace
        inside = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[namespace]))

        def meta(object_name: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
            return {"name": object_name, "namespace": namespace_name, "labels": {**labels, **(extra or {})}}

        instance = {"app.kubernetes.io/instance": name}
        # Client connections go to the pods whose Serve proxy is up. With RAY_SERVE_THROUGHPUT_OPTIMIZED (direct
        # ingress) Serve runs its one HTTP proxy on the head, which serves no model: a model node's loss drops no
        # client connection, and the gateway replicas behind the proxy run on the gateway group.
        serving = {**instance, "ray.io/serve": "true"}
        self._allow(
            f"{name}-allow-gateway",
            meta("allow-gateway-from-ingress"),
            serving,
            args.ingress_namespace,
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
            f"{name}-ray-sa", metadata=meta(args.service_account), automount_service_account_token=False, opts=inside
        )
        configs: list[pulumi.Resource] = []
        if args.gateway_config is not None:
            gateway_config = args.gateway_config

            def rendered_gateway_config(values: dict[str, str]) -> Any:
                return render(gateway_config, values, source="gateway config")

            configs.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-gateway-config",
                    metadata=meta("gateway-config"),
                    data={"gateway.yaml": _rendered(args, rendered_gateway_config)},
                    opts=inside,
                )
            )
        # Volumes whose data outlives the platform: kept when the stack is destroyed.
        kept = pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(retain_on_delete=True))
        for claim, size in ((args.settings.model_volume, "200Gi"), (args.settings.state_volume, "50Gi")):
            if claim:
                configs.append(
                    k8s.core.v1.PersistentVolumeClaim(
                        f"{name}-{claim}",
                        metadata=meta(claim),
                        spec={"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": size}}},
                        opts=kept,
                    )
                )
        if args.settings.api_keys_secret:
            # Created empty so the pods can mount it; operators write the key hashes, Pulumi leaves them be.
            operators_own_the_content = pulumi.ResourceOptions(ignore_changes=["data", "stringData"])
            configs.append(
                k8s.core.v1.Secret(
                    f"{name}-api-keys",
                    metadata=meta(args.settings.api_keys_secret),
                    string_data={"keys.yaml": "keys: []\n"},
                    opts=pulumi.ResourceOptions.merge(inside, operators_own_the_content),
                )
            )
        ray_service = k8s.apiextensions.CustomResource(
            f"{name}-rayservice",
            api_version="ray.io/v1",
            kind="RayService",
            metadata=meta(name),
            spec=ray_service_spec(args, labels),
            opts=pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(depends_on=[operator, *configs])),
        )
        gateway = k8s.core.v1.Service(
            f"{name}-gateway",
            metadata=meta("gateway"),
            spec={
                "type": "ClusterIP",
                "selector": serving,
                "ports": [{"name": "https", "port": GATEWAY_PORT, "targetPort": GATEWAY_PORT, "protocol": "TCP"}],
            },
            opts=pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(depends_on=[ray_service])),
        )
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata={**meta("gateway"), "annotations": ingress_annotations(args)},
            spec={
                "ingressClassName": args.ingress_class,
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
            metadata=meta("ray-metrics", {label("metrics"): "ray"}),
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
                "selector": {"matchLabels": {**instance, label("metrics"): "ray"}},
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
