"""EKS facts the cluster component declares and the policy pack checks."""

from __future__ import annotations

from typing import Final

__all__ = ["CONTROL_PLANE_LOG_TYPES"]

CONTROL_PLANE_LOG_TYPES: Final = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log type EKS can ship to CloudWatch: the platform enables all of them."""
