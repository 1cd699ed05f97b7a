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
from pathlib import Path
from string import Template
from typing import Annotated

from pydantic import AfterValidator, field_validator

from components.settings import KubernetesVersion, settings_dataclass
from platform_facts.project import DISPLAY_NAME, PROJECT_NAME

__all__ = ["BOOTSTRAP_MARKER", "BootstrapSpec", "render_cloud_init"]

TEMPLATE = Path(__file__).resolve().parent / "gpu-node.cloud-init.yaml.tmpl"
BOOTSTRAP_MARKER = f"/etc/{PROJECT_NAME}/bootstrap.json"
ENCRYPTION_CHECK = f"/usr/local/sbin/{PROJECT_NAME}-check-disk-encryption"
"""Where a bootstrapped host records what it was bootstrapped to."""

_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


def _is_a_host(server: str) -> str:
    if not _HOST.match(server):
        raise ValueError(f"{server!r} is not a host name or address")
    return server


@settings_dataclass
class BootstrapSpec:
    """What an on-prem GPU host is bootstrapped to (stack config `rampart:onprem.bootstrap`)."""

    nvidia_driver_branch: str = "570"
    """NVIDIA datacenter driver branch (server package `nvidia-driver-<branch>-server`)."""
    container_toolkit_version: str = "1.17.8"
    """NVIDIA container toolkit release (`X.Y.Z`)."""
    kubernetes_version: KubernetesVersion = "1.33"
    """kubelet and kubeadm minor version; the cluster's own."""
    ntp_servers: tuple[Annotated[str, AfterValidator(_is_a_host)], ...] = ("0.pool.ntp.org", "1.pool.ntp.org")
    """Time sources for chrony; use your own in an air-gapped site."""
    require_disk_encryption: bool = True
    """Refuse to finish bootstrap when the root filesystem is not on LUKS (dm-crypt)."""

    @field_validator("nvidia_driver_branch")
    @classmethod
    def _is_a_branch(cls, branch: str) -> str:
        if not re.fullmatch(r"\d{3}", branch):
            raise ValueError(f"{branch!r} must be a three-digit NVIDIA branch")
        return branch

    @field_validator("container_toolkit_version")
    @classmethod
    def _is_a_release(cls, version: str) -> str:
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise ValueError(f"{version!r} must be X.Y.Z")
        return version

    @field_validator("ntp_servers")
    @classmethod
    def _has_a_time_source(cls, servers: tuple[str, ...]) -> tuple[str, ...]:
        if not servers:
            raise ValueError("name at least one time source")
        return servers


def render_cloud_init(spec: BootstrapSpec, *, environment: str) -> str:
    """The `#cloud-config` document for one environment's GPU hosts (a pure function of its inputs)."""
    # What the host records having been bootstrapped to; tests/hosts reads these keys.
    expected = {
        "environment": environment,
        "driver_branch": spec.nvidia_driver_branch,
        "container_toolkit_version": spec.container_toolkit_version,
        "kubernetes_version": spec.kubernetes_version,
        "ntp_servers": list(spec.ntp_servers),
        "require_disk_encryption": spec.require_disk_encryption,
    }
    check = ENCRYPTION_CHECK
    return Template(TEMPLATE.read_text()).substitute(
        environment=environment,
        project=PROJECT_NAME,
        display_name=DISPLAY_NAME,
        bootstrap_marker=BOOTSTRAP_MARKER,
        check_script=ENCRYPTION_CHECK,
        driver_branch=spec.nvidia_driver_branch,
        toolkit_version=spec.container_toolkit_version,
        kubernetes_version=spec.kubernetes_version,
        expected_json=json.dumps(expected, sort_keys=True),
        chrony_sources="\n".join(f"      server {server} iburst" for server in spec.ntp_servers),
        encryption_check=check if spec.require_disk_encryption else f"{check} || true",
    )
