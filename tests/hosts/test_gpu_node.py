"""Checks that an on-prem GPU host is what `components/bootstrap` set it up to be.

Run against real hosts with `--hosts=ssh://gpu-node-1`; see conftest.py for what runs locally.
"""

from __future__ import annotations

from typing import Any

import pytest
import testinfra.host

from components.bootstrap import BOOTSTRAP_MARKER
from platform_facts import project

KUBERNETES_PORTS = {10250: "kubelet", 10256: "kube-proxy health", 9400: "DCGM exporter"}


def test_kubernetes_ports_are_free_or_held_by_their_owner(host: testinfra.host.Host) -> None:
    """Before the bootstrap nothing may hold a Kubernetes port; after it the kubelet holds 10250."""
    if not host.exists("ss"):
        pytest.skip("`ss` (iproute2) is not installed on this host: listening sockets cannot be read")
    bootstrapped = host.file(BOOTSTRAP_MARKER).exists
    for port, owner in KUBERNETES_PORTS.items():
        listening = host.socket(f"tcp://{port}").is_listening
        if port == 10250 and bootstrapped:
            assert listening, "the kubelet must listen on 10250"
        elif listening and not bootstrapped:
            pytest.fail(f"port {port} ({owner}) is already taken on a host that is not yet a node")


def test_nvidia_driver_matches_the_configured_branch(host: testinfra.host.Host, bootstrapped: dict[str, Any]) -> None:
    result = host.run("nvidia-smi --query-gpu=driver_version --format=csv,noheader")
    assert result.rc == 0, f"nvidia-smi failed: {result.stderr}"
    versions = {line.strip() for line in result.stdout.splitlines() if line.strip()}
    assert versions, "nvidia-smi lists no GPUs"
    assert all(v.startswith(f"{bootstrapped['driver_branch']}.") for v in versions), versions


def test_container_toolkit_is_installed_and_the_default_runtime(
    host: testinfra.host.Host, bootstrapped: dict[str, Any]
) -> None:
    assert host.package("nvidia-container-toolkit").version.startswith(bootstrapped["container_toolkit_version"])
    config = host.file("/etc/containerd/config.toml").content_string
    assert 'default_runtime_name = "nvidia"' in config, "containerd must default to the NVIDIA runtime"
    assert host.service("containerd").is_running


def test_kubelet_runs_at_the_cluster_minor_version(host: testinfra.host.Host, bootstrapped: dict[str, Any]) -> None:
    kubelet = host.service("kubelet")
    assert kubelet.is_running and kubelet.is_enabled
    assert host.check_output("kubelet --version").startswith(f"Kubernetes v{bootstrapped['kubernetes_version']}.")


def test_kubelet_prerequisites(host: testinfra.host.Host, bootstrapped: dict[str, Any]) -> None:
    assert host.check_output("swapon --show --noheadings") == "", "swap must be off"
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert host.sysctl("net.bridge.bridge-nf-call-iptables") == 1, "br_netfilter must be loaded"


def test_time_is_synchronised_against_the_configured_sources(
    host: testinfra.host.Host, bootstrapped: dict[str, Any]
) -> None:
    assert host.service("chrony").is_running
    tracking = host.check_output("chronyc tracking")
    assert "Leap status     : Normal" in tracking, tracking
    sources = host.file(f"/etc/chrony/sources.d/{project.PROJECT_NAME}.sources").content_string
    for server in bootstrapped["ntp_servers"]:
        assert f"server {server} iburst" in sources


def test_root_filesystem_is_encrypted(host: testinfra.host.Host, bootstrapped: dict[str, Any]) -> None:
    if not bootstrapped["require_disk_encryption"]:
        pytest.skip("this environment's bootstrap does not require disk encryption")
    result = host.run(f"/usr/local/sbin/{project.PROJECT_NAME}-check-disk-encryption")
    assert result.rc == 0, result.stderr
