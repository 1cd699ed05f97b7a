"""Cloud-init for on-prem GPU hosts, rendered from config (`render_cloud_init`).

The template installs the NVIDIA datacenter driver and container toolkit, containerd with the
NVIDIA runtime, kubelet/kubeadm at the cluster's minor version, chrony against the configured
time sources, the kernel settings Kubernetes needs, and refuses to finish on an unencrypted root
filesystem when config requires encryption. It also writes `/etc/rampart/bootstrap.json`: what the
host was bootstrapped to, which `tests/hosts` verifies on the running host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

__all__ = ["BOOTSTRAP_MARKER", "BootstrapSpec", "render_cloud_init"]

TEMPLATE = Path(__file__).resolve().parent / "gpu-node.cloud-init.yaml.tmpl"
BOOTSTRAP_MARKER = "/etc/rampart/bootstrap.json"
"""Where a bootstrapped host records what it was bootstrapped to."""

_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


@dataclass(frozen=True)
class BootstrapSpec:
    """What an on-prem GPU host is bootstrapped to."""

    environment: str
    driver_branch: str
    container_toolkit_version: str
    kubernetes_version: str
    ntp_servers: Sequence[str]
    require_disk_encryption: bool

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\d{3}", self.driver_branch):
            raise ValueError(f"driver_branch: {self.driver_branch!r} must be a three-digit NVIDIA branch")
        if not re.fullmatch(r"\d+\.\d+\.\d+", self.container_toolkit_version):
            raise ValueError(f"container_toolkit_version: {self.container_toolkit_version!r} must be X.Y.Z")
        if not re.fullmatch(r"1\.\d{2}", self.kubernetes_version):
            raise ValueError(f"kubernetes_version: {self.kubernetes_version!r} must be a minor version like 1.33")
        if not self.ntp_servers:
            raise ValueError("ntp_servers: name at least one time source")
        for index, server in enumerate(self.ntp_servers):
            if not _HOST.match(server):
                raise ValueError(f"ntp_servers[{index}]: {server!r} is not a host name or address")


def render_cloud_init(spec: BootstrapSpec) -> str:
    """The `#cloud-config` document for one environment's GPU hosts (a pure function of `spec`)."""
    expected = {**asdict(spec), "ntp_servers": list(spec.ntp_servers)}
    check = "/usr/local/sbin/rampart-check-disk-encryption"
    return Template(TEMPLATE.read_text()).substitute(
        environment=spec.environment,
        driver_branch=spec.driver_branch,
        toolkit_version=spec.container_toolkit_version,
        kubernetes_version=spec.kubernetes_version,
        expected_json=json.dumps(expected, sort_keys=True),
        chrony_sources="\n".join(f"      server {server} iburst" for server in spec.ntp_servers),
        encryption_check=check if spec.require_disk_encryption else f"{check} || true",
    )
