"""What the plan says each cluster runs: the RayService specs of a rendered stack, as plain data.

One `ClusterSpec` per RayService of the plan (per inference platform): the image, environment,
volumes and mounts, security context and Ray start parameters of the head and of each worker
group, the `serveConfigV2` parsed, and the ConfigMaps and Secrets of the platform's namespace
that the pods mount. Nothing here starts anything or changes a value: the substitutions are
`tools.rehearse.substitutions`' job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from stacks.plan import PlanGraph, PlannedResource

__all__ = [
    "CloudNames",
    "ClusterSpec",
    "Mount",
    "PlanSpecError",
    "PodSpec",
    "Volume",
    "WorkerGroupSpec",
    "cloud_names",
    "cluster_specs",
]

RAY_SERVICE = "kubernetes:ray.io/v1:RayService"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
GATEWAY_SERVICE = "gateway"
"""The Service the platform's Ingress sends client traffic to."""
GROUP_LABEL = "ray.io/group"
BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
AWS_SECRET = "aws:secretsmanager/secret:Secret"
KMS_KEY = "aws:kms/key:Key"
HIDDEN = "[secret]"
"""How the plan shows a value it never holds (`stacks.mocks.plain`)."""

VolumeKind = Literal["empty_dir", "memory", "config_map", "secret", "persistent_claim", "host_path"]


class PlanSpecError(ValueError):
    """The plan's RayService cannot be read as a cluster; the message names the resource and field."""


@dataclass(frozen=True)
class Volume:
    """A pod volume: what backs it and, for ConfigMaps, Secrets and claims, the object's name."""

    name: str
    kind: VolumeKind
    source: str = ""
    """ConfigMap, Secret or PersistentVolumeClaim name (or the host path)."""
    items: tuple[tuple[str, str], ...] = ()
    """(key, path) pairs when the volume projects only some keys."""


@dataclass(frozen=True)
class Mount:
    path: str
    volume: str
    read_only: bool = False
    sub_path: str = ""


@dataclass(frozen=True)
class PodSpec:
    """The one container of a Ray pod, with what its pod spec says around it."""

    image: str
    env: Mapping[str, str]
    env_from_refs: tuple[str, ...]
    """Names of variables set from a Secret or field reference (`valueFrom`): resolved by the substitutions."""
    mounts: tuple[Mount, ...]
    volumes: tuple[Volume, ...]
    run_as_user: int | None
    fs_group: int | None
    read_only_root: bool
    dropped_capabilities: tuple[str, ...]
    allow_privilege_escalation: bool
    service_account: str
    ray_start_params: Mapping[str, str]
    cpu: str
    memory: str
    gpus: int
    ray_resources: Mapping[str, str] = field(default_factory=dict)
    """The group's `resources` (KubeRay passes them to `ray start`): `CPU`, `GPU`, `memory` and custom ones."""


@dataclass(frozen=True)
class WorkerGroupSpec:
    name: str
    replicas: int
    pod: PodSpec
    max_replicas: int = 1


@dataclass(frozen=True)
class ClusterSpec:
    """One RayService: a head, worker groups, and the Serve config KubeRay deploys on it."""

    environment: str
    platform: str
    cluster: str
    """The stack's cluster key the platform runs on (`eks`, `onprem`)."""
    namespace: str
    resource_name: str
    serve_config: Mapping[str, Any]
    head: PodSpec
    workers: tuple[WorkerGroupSpec, ...]
    config_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """ConfigMaps of the namespace: name → {key: text}."""
    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Secrets of the namespace: name → {key: value as planned (`[secret]` when the plan hides it)}."""
    auth_mode: str | None = None
    """`rayClusterConfig.authOptions.mode` (`token`: every node and the dashboard API need the cluster's token)."""
    entry_group: str | None = None
    """The worker group whose pods the gateway Service selects (`ray.io/group`): client connections enter
    the cluster there. `None`: the Service selects no group, and the head's Serve port stands in."""

    @property
    def key(self) -> str:
        """`<environment>-<platform>`: how the rehearsal names this cluster's containers."""
        return f"{self.environment}-{self.platform}"


@dataclass(frozen=True)
class CloudNames:
    """The AWS names the plan creates, which the rehearsal's stand-in cloud must carry."""

    region: str
    buckets: tuple[str, ...]
    object_lock_buckets: tuple[str, ...]
    secrets: tuple[str, ...]
    kms_keys: tuple[str, ...]
    secret_arns: tuple[tuple[str, str], ...] = ()
    """(name, ARN as the plan computes it) per secret: the cloud issues the real ARN, the stand-in its own."""


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise PlanSpecError(f"{where}.{key}: missing")
    return mapping[key]


def _quantity_gpus(resources: Mapping[str, Any]) -> int:
    limits = resources.get("limits") or {}
    return int(float(limits.get("nvidia.com/gpu", 0)))


def _volume(raw: Mapping[str, Any], where: str) -> Volume:
    name = str(_require(raw, "name", where))
    if "emptyDir" in raw:
        medium = (raw["emptyDir"] or {}).get("medium")
        return Volume(name, "memory" if medium == "Memory" else "empty_dir")
    if "configMap" in raw:
        ref = raw["configMap"]
        items = tuple((item["key"], item["path"]) for item in ref.get("items") or [])
        return Volume(name, "config_map", str(_require(ref, "name", f"{where}.configMap")), items)
    if "secret" in raw:
        ref = raw["secret"]
        items = tuple((item["key"], item["path"]) for item in ref.get("items") or [])
        return Volume(name, "secret", str(_require(ref, "secretName", f"{where}.secret")), items)
    if "persistentVolumeClaim" in raw:
        ref = raw["persistentVolumeClaim"]
        return Volume(name, "persistent_claim", str(_require(ref, "claimName", f"{where}.persistentVolumeClaim")))
    if "hostPath" in raw:
        return Volume(name, "host_path", str(_require(raw["hostPath"], "path", f"{where}.hostPath")))
    raise PlanSpecError(f"{where}: volume {name!r} has a kind the rehearsal cannot provide ({', '.join(raw)})")


def _pod(
    template: Mapping[str, Any],
    ray_start_params: Mapping[str, Any],
    where: str,
    ray_resources: Mapping[str, Any] | None = None,
) -> PodSpec:
    spec = _require(template, "spec", where)
    containers = _require(spec, "containers", f"{where}.spec")
    if len(containers) != 1:
        raise PlanSpecError(f"{where}.spec.containers: expected the one Ray container, found {len(containers)}")
    container = containers[0]
    where_container = f"{where}.spec.containers[0]"
    env: dict[str, str] = {}
    refs: list[str] = []
    for variable in container.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
        else:
            refs.append(variable["name"])
    volumes = tuple(
        _volume(raw, f"{where}.spec.volumes[{index}]") for index, raw in enumerate(spec.get("volumes") or [])
    )
    declared = {volume.name for volume in volumes}
    mounts = []
    for index, raw in enumerate(container.get("volumeMounts") or []):
        if raw["name"] not in declared:
            raise PlanSpecError(f"{where_container}.volumeMounts[{index}]: volume {raw['name']!r} is not declared")
        mounts.append(Mount(raw["mountPath"], raw["name"], bool(raw.get("readOnly", False)), raw.get("subPath", "")))
    security = container.get("securityContext") or {}
    pod_security = spec.get("securityContext") or {}
    run_as_user = security.get("runAsUser", pod_security.get("runAsUser"))
    resources = container.get("resources") or {}
    limits = resources.get("limits") or resources.get("requests") or {}
    return PodSpec(
        image=str(_require(container, "image", where_container)),
        env=env,
        env_from_refs=tuple(refs),
        mounts=tuple(mounts),
        volumes=volumes,
        run_as_user=int(run_as_user) if run_as_user is not None else None,
        fs_group=int(pod_security["fsGroup"]) if "fsGroup" in pod_security else None,
        read_only_root=bool(security.get("readOnlyRootFilesystem", False)),
        dropped_capabilities=tuple((security.get("capabilities") or {}).get("drop") or ()),
        allow_privilege_escalation=bool(security.get("allowPrivilegeEscalation", True)),
        service_account=str(spec.get("serviceAccountName", "default")),
        ray_start_params={str(key): str(value) for key, value in ray_start_params.items()},
        cpu=str(limits.get("cpu", "1")),
        memory=str(limits.get("memory", "")),
        gpus=_quantity_gpus(resources),
        ray_resources={str(key): str(value) for key, value in (ray_resources or {}).items()},
    )


def _namespace_objects(graph: PlanGraph, type_token: str, namespace: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for resource in graph.of_type(type_token):
        metadata = resource.inputs.get("metadata") or {}
        if metadata.get("namespace") != namespace:
            continue
        data: dict[str, str] = {}
        for field_name in ("data", "stringData"):
            value = resource.inputs.get(field_name)
            if isinstance(value, dict):
                data.update({str(k): str(v) for k, v in value.items()})
            elif value is not None and resource.inputs.get("type") == "kubernetes.io/tls":
                data.update(dict.fromkeys(("tls.crt", "tls.key"), HIDDEN))  # a secret whole: its keys are the type's
        found[str(metadata.get("name", resource.name))] = data
    return found


def _cluster_spec(
    graph: PlanGraph, resource: PlannedResource, clusters_by_namespace: Mapping[str, tuple[str, str]]
) -> ClusterSpec:
    where = f"{resource.name} (RayService)"
    metadata = _require(resource.inputs, "metadata", where)
    namespace = str(_require(metadata, "namespace", f"{where}.metadata"))
    if namespace not in clusters_by_namespace:
        raise PlanSpecError(f"{where}.metadata.namespace: {namespace!r} belongs to no inference platform of the stack")
    platform, cluster = clusters_by_namespace[namespace]
    spec = _require(resource.inputs, "spec", where)
    serve_text = _require(spec, "serveConfigV2", f"{where}.spec")
    serve_config = yaml.safe_load(serve_text) if isinstance(serve_text, str) else None
    if not isinstance(serve_config, dict):
        raise PlanSpecError(f"{where}.spec.serveConfigV2: not a YAML mapping")
    ray_cluster = _require(spec, "rayClusterConfig", f"{where}.spec")
    head = _require(ray_cluster, "headGroupSpec", f"{where}.spec.rayClusterConfig")
    head_pod = _pod(
        _require(head, "template", f"{where}.headGroupSpec"),
        head.get("rayStartParams") or {},
        f"{where}.headGroupSpec.template",
    )
    workers = []
    for index, group in enumerate(ray_cluster.get("workerGroupSpecs") or []):
        group_where = f"{where}.workerGroupSpecs[{index}]"
        workers.append(
            WorkerGroupSpec(
                name=str(_require(group, "groupName", group_where)),
                replicas=int(float(group.get("replicas", group.get("minReplicas", 1)))),
                max_replicas=int(float(group.get("maxReplicas", group.get("replicas", 1)))),
                pod=_pod(
                    _require(group, "template", group_where),
                    group.get("rayStartParams") or {},
                    f"{group_where}.template",
                    group.get("resources"),
                ),
            )
        )
    if not workers:
        raise PlanSpecError(f"{where}.spec.rayClusterConfig.workerGroupSpecs: no worker group")
    return ClusterSpec(
        environment=graph.environment,
        platform=platform,
        cluster=cluster,
        namespace=namespace,
        resource_name=resource.name,
        serve_config=serve_config,
        head=head_pod,
        workers=tuple(workers),
        config_maps=_namespace_objects(graph, CONFIG_MAP, namespace),
        secrets=_namespace_objects(graph, SECRET, namespace),
        auth_mode=(ray_cluster.get("authOptions") or {}).get("mode"),
        entry_group=_entry_group(graph, namespace, {group.name for group in workers}, where),
    )


def _entry_group(graph: PlanGraph, namespace: str, groups: set[str], where: str) -> str | None:
    """The worker group the namespace's gateway Service sends client connections to (None: no group named)."""
    for service in graph.of_type(SERVICE):
        metadata = service.inputs.get("metadata") or {}
        if metadata.get("namespace") != namespace or metadata.get("name") != GATEWAY_SERVICE:
            continue
        group = ((service.inputs.get("spec") or {}).get("selector") or {}).get(GROUP_LABEL)
        if group is None:
            return None
        if group not in groups:
            raise PlanSpecError(f"{where}: Service {GATEWAY_SERVICE!r} selects worker group {group!r}, "
                                f"which the RayService does not have ({', '.join(sorted(groups))})")
        return str(group)
    return None


def cluster_specs(graph: PlanGraph, platforms: Sequence[tuple[str, str, str]]) -> list[ClusterSpec]:
    """Every RayService of the plan as a `ClusterSpec`.

    `platforms` is the stack's (platform name, cluster key, namespace) triples: how a RayService's
    namespace says which platform and cluster it is.
    """
    by_namespace = {namespace: (platform, cluster) for platform, cluster, namespace in platforms}
    specs = [_cluster_spec(graph, resource, by_namespace) for resource in graph.of_type(RAY_SERVICE)]
    if not specs:
        raise PlanSpecError(f"plan of {graph.environment}: no RayService")
    return specs


def _output_name(resource: PlannedResource, *keys: str) -> str:
    for key in keys:
        value = resource.outputs.get(key) or resource.inputs.get(key)
        if isinstance(value, str) and value:
            return value
    return resource.name


def cloud_names(graph: PlanGraph, region: str) -> CloudNames:
    """Bucket, secret and key names as the plan's resources carry them (what `pulumi up` would create)."""
    buckets = [resource for type_token in BUCKET_TYPES for resource in graph.of_type(type_token)]
    return CloudNames(
        region=region,
        buckets=tuple(sorted(_output_name(bucket, "bucket") for bucket in buckets)),
        object_lock_buckets=tuple(
            sorted(
                _output_name(bucket, "bucket")
                for bucket in buckets
                if bucket.inputs.get("objectLockEnabled") or bucket.outputs.get("objectLockEnabled")
            )
        ),
        secrets=tuple(sorted(_output_name(secret, "name") for secret in graph.of_type(AWS_SECRET))),
        kms_keys=tuple(sorted(_output_name(key, "arn") for key in graph.of_type(KMS_KEY))),
        secret_arns=tuple(
            sorted(
                (_output_name(secret, "name"), str(secret.outputs["arn"]))
                for secret in graph.of_type(AWS_SECRET)
                if secret.outputs.get("arn")
            )
        ),
    )
