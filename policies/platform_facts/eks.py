"""EKS facts the cluster component declares and the policy pack checks."""

from __future__ import annotations

from typing import Final

__all__ = ["AUTOSCALER_ENABLED_TAG", "CONTROL_PLANE_LOG_TYPES", "autoscaler_owner_tag"]

CONTROL_PLANE_LOG_TYPES: Final = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log type EKS can ship to CloudWatch: the platform enables all of them."""

AUTOSCALER_ENABLED_TAG: Final = "k8s.io/cluster-autoscaler/enabled"
"""cluster-autoscaler's auto-discovery tag: a node group carrying it (value `true`) is one it may resize."""


def autoscaler_owner_tag(cluster_name: str) -> str:
    """The second discovery tag (value `owned`), naming the cluster whose autoscaler owns the group."""
    return f"k8s.io/cluster-autoscaler/{cluster_name}"
