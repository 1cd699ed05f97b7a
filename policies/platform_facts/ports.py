"""The ports of the serving layer: the one the gateway serves, and Ray's that must stay inside."""

from __future__ import annotations

from typing import Final

__all__ = [
    "GATEWAY_PORT", "INTERNAL_RAY_PORTS", "METRICS_PORT", "OTLP_GRPC_PORT", "RAY_DASHBOARD_PORT", "RAY_PORT_NAMES",
]

GATEWAY_PORT: Final = 8000
"""Ray Serve's HTTP port, where the gateway answers."""
METRICS_PORT: Final = 8080
"""Ray's metrics export port, scraped by Prometheus."""
RAY_DASHBOARD_PORT: Final = 8265
INTERNAL_RAY_PORTS: Final = {"gcs": 6379, "dashboard": RAY_DASHBOARD_PORT, "client": 10001}
"""Ports that must never be reachable from outside the namespace (an open dashboard runs code)."""
RAY_PORT_NAMES: Final = ("dashboard", "gcs", "gcs-server", "client", "redis")
"""Names KubeRay and Ray's charts give those ports, for manifests that name a port instead of numbering it."""
# The OpenTelemetry collector's OTLP/gRPC receiver: the gateway and the Generator send spans there.
OTLP_GRPC_PORT: Final = 4317
