"""GPU policies: scheduling GPU pods correctly, which GPUs a stack may buy, and watching them.

None of the public packs (AWSGuard, Pulumi's compliance packs, Checkov, Kyverno's library) has these.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from platform_facts.kubernetes import GPU_NODE_LABEL, GPU_RESOURCE
from policy_rules.core import Report, Setting, dig, is_mapping, items, number, resource_policy, stack_policy, strings
from policy_rules.workloads import Container, PodTemplate, containers, pod_templates

__all__ = ["POLICIES", "gpu_families", "instance_family", "is_gpu_instance_type", "requests_gpu"]

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
_GPU_FAMILY = re.compile(r"^(g\d+[a-z]*|gr\d+[a-z]*|p\d+[a-z]*)(-[a-z0-9]+)?$")
_MIG_RESOURCE = re.compile(r"^nvidia\.com/mig-(.+)$")


def instance_family(instance_type: str) -> str:
    """`p5.48xlarge` → `p5`; `p6-b200.48xlarge` → `p6-b200`."""
    return instance_type.split(".", 1)[0]


def is_gpu_family(family: str) -> bool:
    return bool(_GPU_FAMILY.match(family))


def is_gpu_instance_type(instance_type: Any) -> bool:
    return isinstance(instance_type, str) and is_gpu_family(instance_family(instance_type))


def _requirements(props: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for requirement in items(dig(props, "spec", "template", "spec", "requirements")):
        if is_mapping(requirement):
            yield requirement


def _requirement_values(props: Mapping[str, Any], key: str) -> list[str]:
    return [
        value
        for requirement in _requirements(props)
        if requirement.get("key") == key and requirement.get("operator") == "In"
        for value in strings(requirement.get("values"))
    ]


def gpu_families(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """GPU instance families a node-provisioning resource may launch."""
    if resource_type == NODE_GROUP:
        types = strings(props.get("instanceTypes"))
    elif resource_type in ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"):
        types = strings(props.get("instanceType"))
    elif resource_type == NODE_POOL:
        families = _requirement_values(props, "karpenter.k8s.aws/instance-family")
        types = _requirement_values(props, "node.kubernetes.io/instance-type")
        return [family for family in families + [instance_family(t) for t in types] if is_gpu_family(family)]
    else:
        return []
    return [instance_family(t) for t in types if is_gpu_instance_type(t)]


def _is_gpu_node_pool(props: Mapping[str, Any]) -> bool:
    categories = _requirement_values(props, "karpenter.k8s.aws/instance-category")
    taints = [dig(taint, "key") for taint in items(dig(props, "spec", "template", "spec", "taints"))]
    return (
        bool(gpu_families(NODE_POOL, props))
        or any(category in ("g", "p") for category in categories)
        or bool(_requirement_values(props, "karpenter.k8s.aws/instance-gpu-count"))
        or any(
            r.get("key") == "karpenter.k8s.aws/instance-gpu-count" and r.get("operator") in ("Gt", "Exists")
            for r in _requirements(props)
        )
        or GPU_RESOURCE in taints
    )


def provisions_gpus(resource_type: str, props: Mapping[str, Any]) -> bool:
    if resource_type == NODE_POOL:
        return _is_gpu_node_pool(props)
    return bool(gpu_families(resource_type, props))


def _gpu_resources(container: Container) -> dict[str, tuple[Any, Any]]:
    """GPU resource name → (request, limit) for a container's NVIDIA resources."""
    requests = dig(container.spec, "resources", "requests")
    limits = dig(container.spec, "resources", "limits")
    names = {name for group in (requests, limits) if is_mapping(group) for name in group}
    return {
        name: (dig(requests, name), dig(limits, name))
        for name in sorted(names)
        if name == GPU_RESOURCE or _MIG_RESOURCE.match(name) or name.startswith("nvidia.com/gpu.")
    }


def _quantity(value: Any) -> str:
    """GPU counts are integers, written as 1, 1.0 (on the wire) or "1"."""
    count = number(value)
    return str(int(count)) if count is not None and float(count).is_integer() else str(value)


def requests_gpu(pod: PodTemplate) -> bool:
    return any(_gpu_resources(container) for container in containers(pod))


def _where(args: ResourceValidationArgs, pod: PodTemplate) -> str:
    kind = args.resource_type.rsplit(":", 1)[-1]
    return f"{kind} {args.name}" + ("" if pod.where == "pod" else f" {pod.where}")


def _requests_equal_limits(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    for pod in pod_templates(args.resource_type, args.props):
        for container in containers(pod):
            for name, (request, limit) in _gpu_resources(container).items():
                if limit is None or (request is not None and _quantity(request) != _quantity(limit)):
                    report(f"{_where(args, pod)} container {container.name} must set {name} requests equal to limits.")


def _tolerates(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    for pod in pod_templates(args.resource_type, args.props):
        if not requests_gpu(pod):
            continue
        tolerations = [t for t in items(pod.spec.get("tolerations")) if is_mapping(t)]
        if not any(
            t.get("key") in (settings["taintKey"], None)
            and t.get("effect") in ("NoSchedule", None)
            and (t.get("key") is not None or t.get("operator") == "Exists")
            for t in tolerations
        ):
            report(f"{_where(args, pod)} must tolerate the {settings['taintKey']} taint.")


def _selects_gpu_nodes(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    labels = set(settings["gpuNodeLabels"])
    for pod in pod_templates(args.resource_type, args.props):
        if not requests_gpu(pod):
            continue
        selector = pod.spec.get("nodeSelector")
        selected = isinstance(selector, Mapping) and bool(labels & set(selector))
        terms = dig(
            pod.spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"
        )
        for term in items(terms):
            if any(dig(expression, "key") in labels for expression in items(dig(term, "matchExpressions"))):
                selected = True
        if not selected:
            report(f"{_where(args, pod)} must select GPU nodes by nodeSelector or node affinity.")


def _allowed_families(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    allowed = set(settings["allowedFamilies"])
    for family in gpu_families(args.resource_type, args.props):
        if family not in allowed:
            report(f"{args.name} must use GPU instance families from {', '.join(sorted(allowed))}, not {family}.")
    if args.resource_type == NODE_POOL and _is_gpu_node_pool(args.props) and not gpu_families(NODE_POOL, args.props):
        report(f"NodePool {args.name} must restrict GPU nodes to allowed instance families.")


def _spot(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if settings["allowSpot"]:
        return
    if (
        args.resource_type == NODE_GROUP
        and args.props.get("capacityType") == "SPOT"
        and gpu_families(NODE_GROUP, args.props)
    ):
        report(f"GPU node group {args.name} must use on-demand capacity in this environment, not SPOT.")
    elif (
        args.resource_type == NODE_POOL
        and _is_gpu_node_pool(args.props)
        and "spot" in _requirement_values(args.props, "karpenter.sh/capacity-type")
    ):
        report(f"GPU NodePool {args.name} must use on-demand capacity in this environment, not spot.")


def _node_pool_limits(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != NODE_POOL:
        return
    limits = dig(args.props, "spec", "limits")
    required = ["cpu"] + ([GPU_RESOURCE] if _is_gpu_node_pool(args.props) else [])
    missing = [name for name in required if dig(limits, name) is None]
    if missing:
        report(f"NodePool {args.name} must set spec.limits for {', '.join(missing)}.")


def _runs_dcgm_exporter(resource: PolicyResource) -> bool:
    if resource.resource_type == "kubernetes:helm.sh/v3:Release":
        chart = str(resource.props.get("chart") or "")
        if "dcgm-exporter" in chart:
            return True
        return "gpu-operator" in chart and dig(resource.props, "values", "dcgmExporter", "enabled") is not False
    return any(
        "dcgm-exporter" in str(container.spec.get("image") or "")
        for pod in pod_templates(resource.resource_type, resource.props)
        for container in containers(pod)
    )


def _dcgm(args: StackValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    gpu_capacity = [r for r in args.resources if provisions_gpus(r.resource_type, r.props)]
    if gpu_capacity and not any(_runs_dcgm_exporter(r) for r in args.resources):
        for resource in gpu_capacity:
            report(f"{resource.name} provides GPU nodes, so the stack must run the NVIDIA DCGM exporter.", resource.urn)


def _time_slicing_replicas(document: Any) -> Iterator[int]:
    for resource in items(dig(document, "sharing", "timeSlicing", "resources")):
        replicas = number(dig(resource, "replicas"))
        if replicas is not None:
            yield int(replicas)


def _sharing(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    for pod in pod_templates(args.resource_type, args.props):
        for container in containers(pod):
            for name in _gpu_resources(container):
                match = _MIG_RESOURCE.match(name)
                if match and match.group(1) not in settings["allowedMigProfiles"]:
                    report(
                        f"{_where(args, pod)} container {container.name} must request an allowed MIG profile, "
                        f"not {match.group(1)}."
                    )
    if args.resource_type == "kubernetes:core/v1:ConfigMap":
        raw = args.props.get("data")
        data: Mapping[str, Any] = raw if is_mapping(raw) else {}
        for key in data:
            value = data[key]
            if not isinstance(value, str) or "timeSlicing" not in value:
                continue
            try:
                document = yaml.safe_load(value)
            except yaml.YAMLError:
                continue
            for replicas in _time_slicing_replicas(document):
                limit = int(settings["maxTimeSlicingReplicas"])
                if replicas > limit:
                    report(
                        f"ConfigMap {args.name} must not time-slice a GPU into more than {limit} replicas "
                        f"(got {replicas})."
                    )


POLICIES = [
    resource_policy(
        "gpu-requests-equal-limits",
        "GPU containers must request exactly the GPUs they limit.",
        _requests_equal_limits,
    ),
    resource_policy(
        "gpu-pods-tolerate-gpu-taint",
        "Pods requesting GPUs must tolerate the GPU node taint.",
        _tolerates,
        {"taintKey": Setting("string", GPU_RESOURCE, "Taint that keeps non-GPU pods off GPU nodes.")},
    ),
    resource_policy(
        "gpu-pods-select-gpu-nodes",
        "Pods requesting GPUs must select GPU nodes explicitly.",
        _selects_gpu_nodes,
        {
            "gpuNodeLabels": Setting(
                "array",
                [
                    "nvidia.com/gpu.present",
                    "nvidia.com/gpu.product",
                    "karpenter.k8s.aws/instance-gpu-count",
                    "karpenter.k8s.aws/instance-gpu-name",
                    "karpenter.k8s.aws/instance-family",
                    "karpenter.sh/nodepool",
                    "node.kubernetes.io/instance-type",
                    "eks.amazonaws.com/nodegroup",
                    GPU_NODE_LABEL,
                ],
                "Node labels that identify GPU nodes.",
            )
        },
    ),
    resource_policy(
        "gpu-instance-families-allowed",
        "GPU node pools must use the environment's allowed instance families.",
        _allowed_families,
        {"allowedFamilies": Setting("array", ["g5", "g6", "g6e", "p4d", "p5"], "GPU instance families allowed.")},
    ),
    resource_policy(
        "gpu-spot-only-outside-prod",
        "GPU capacity must be on-demand unless the environment allows spot.",
        _spot,
        {"allowSpot": Setting("boolean", False, "Whether GPU node pools may use spot capacity.")},
    ),
    resource_policy(
        "karpenter-nodepool-limits",
        "Karpenter NodePools must cap the CPU and GPUs they may launch.",
        _node_pool_limits,
    ),
    stack_policy(
        "dcgm-exporter-present",
        "Stacks with GPU nodes must run the NVIDIA DCGM exporter.",
        _dcgm,
    ),
    resource_policy(
        "gpu-sharing-profiles-allowed",
        "GPU sharing must use allowed MIG profiles and bounded time-slicing.",
        _sharing,
        {
            "allowedMigProfiles": Setting(
                "array",
                ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
                "MIG profiles containers may request (nvidia.com/mig-<profile>).",
            ),
            "maxTimeSlicingReplicas": Setting("integer", 4, "Most pods one GPU may be time-sliced between."),
        },
    ),
]
