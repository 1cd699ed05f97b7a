"""Kubernetes facts: the labels every object carries, and how GPU nodes are marked and asked for."""

from __future__ import annotations

from typing import Final

from platform_facts.project import PROJECT_NAME, label

__all__ = [
    "GPU_NODE_LABEL",
    "GPU_RESOURCE",
    "GPU_TAINT",
    "GPU_TOLERATION",
    "REQUIRED_LABELS",
    "platform_labels",
]

REQUIRED_LABELS: Final = (
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    label("environment"),
    label("data-class"),
)
"""Labels every platform object must carry: what it belongs to, who manages it, environment, data class."""

GPU_RESOURCE: Final = "nvidia.com/gpu"
"""The extended resource a container requests to get a whole GPU."""
GPU_TAINT: Final = {"key": GPU_RESOURCE, "value": "true", "effect": "NoSchedule"}
"""Every GPU node carries this taint, so only pods that ask for a GPU land there."""
GPU_TOLERATION: Final = {"key": GPU_RESOURCE, "operator": "Equal", "value": "true", "effect": "NoSchedule"}
GPU_NODE_LABEL: Final = label("gpu")


def platform_labels(*, environment: str, data_class: str, component: str) -> dict[str, str]:
    """Labels every Kubernetes object of the platform carries (policies and cost reports read them)."""
    return {
        "app.kubernetes.io/part-of": PROJECT_NAME,
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/component": component,
        label("environment"): environment,
        label("data-class"): data_class,
    }
