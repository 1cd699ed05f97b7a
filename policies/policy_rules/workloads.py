"""Reading Kubernetes objects as the kubernetes provider registers them (`metadata`, `spec`, camelCase).

Pod templates are found wherever a workload keeps them, including KubeRay's RayService and
RayCluster custom resources, so that every container-level policy covers Ray head and workers too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policy_rules.core import dig, is_mapping, items

__all__ = [
    "Container",
    "PodTemplate",
    "containers",
    "is_kubernetes",
    "kind_of",
    "labels_of",
    "namespace_of",
    "pod_templates",
]

# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Pod": (("spec",),),
    "Deployment": (("spec", "template", "spec"),),
    "StatefulSet": (("spec", "template", "spec"),),
    "DaemonSet": (("spec", "template", "spec"),),
    "ReplicaSet": (("spec", "template", "spec"),),
    "ReplicationController": (("spec", "template", "spec"),),
    "Job": (("spec", "template", "spec"),),
    "CronJob": (("spec", "jobTemplate", "spec", "template", "spec"),),
    "RayCluster": (("spec", "headGroupSpec", "template", "spec"),),
    "RayService": (("spec", "rayClusterConfig", "headGroupSpec", "template", "spec"),),
    "RayJob": (("spec", "rayClusterSpec", "headGroupSpec", "template", "spec"),),
}
# Worker groups: the path to the list of groups, each with `template.spec`.
WORKER_GROUP_PATHS = {
    "RayCluster": ("spec", "workerGroupSpecs"),
    "RayService": ("spec", "rayClusterConfig", "workerGroupSpecs"),
    "RayJob": ("spec", "rayClusterSpec", "workerGroupSpecs"),
}


def is_kubernetes(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:") and not resource_type.startswith("kubernetes:helm")


def kind_of(resource_type: str) -> str:
    """`kubernetes:apps/v1:Deployment` → `Deployment`."""
    return resource_type.rsplit(":", 1)[-1]


def labels_of(props: Mapping[str, Any]) -> Mapping[str, Any]:
    labels = dig(props, "metadata", "labels")
    return labels if is_mapping(labels) else {}


def namespace_of(props: Mapping[str, Any]) -> str:
    namespace = dig(props, "metadata", "namespace")
    return namespace if isinstance(namespace, str) and namespace else "default"


@dataclass(frozen=True)
class PodTemplate:
    """A pod spec inside a workload; `where` names it in messages (`worker group gpu`)."""

    where: str
    spec: Mapping[str, Any]
    worker_group: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Container:
    name: str
    spec: Mapping[str, Any]
    pod: PodTemplate


def pod_templates(resource_type: str, props: Mapping[str, Any]) -> Iterator[PodTemplate]:
    if not is_kubernetes(resource_type):
        return
    kind = kind_of(resource_type)
    for path in POD_SPEC_PATHS.get(kind, ()):
        spec = dig(props, *path)
        if is_mapping(spec):
            yield PodTemplate("head group" if kind.startswith("Ray") else "pod", spec)
    groups_path = WORKER_GROUP_PATHS.get(kind)
    if groups_path:
        for index, group in enumerate(items(dig(props, *groups_path))):
            spec = dig(group, "template", "spec")
            if is_mapping(spec):
                name = dig(group, "groupName") or index
                yield PodTemplate(f"worker group {name}", spec, group)


def containers(pod: PodTemplate) -> Iterator[Container]:
    """Every container of a pod, init and ephemeral containers included."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(items(pod.spec.get(key))):
            if is_mapping(container):
                yield Container(str(container.get("name") or index), container, pod)
