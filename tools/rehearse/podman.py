"""Podman, as the rehearsal uses it: one network of its own, containers it names, and their removal.

Every container and the network are recorded when created, and `Podman.clean_up` removes exactly
those (never anything by pattern), so a failed rehearsal leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Podman", "PodmanError", "PublishedPorts"]

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "deploy" / "containers.conf"


class PodmanError(RuntimeError):
    """A podman command failed; the message has the command and podman's own words."""


@dataclass(frozen=True)
class PublishedPorts:
    """Container port → the 127.0.0.1 port it is published on."""

    ports: dict[int, int]

    def url(self, container_port: int) -> str:
        return f"http://127.0.0.1:{self.ports[container_port]}"


@dataclass
class Podman:
    network: str
    containers: list[str] = field(default_factory=list)
    network_created: bool = False
    subnet: str = ""
    """The network's subnet (CIDR), once created."""

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
        done = subprocess.run(
            ["podman", *args], env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise PodmanError(f"podman {' '.join(args[:3])}...: {done.stderr.strip() or done.stdout.strip()}")
        return done

    def create_network(self) -> str:
        """Create the rehearsal's network (removing a leftover of the same name) and return its gateway IP."""
        if self.run("network", "exists", self.network, check=False).returncode == 0:
            self.run("network", "rm", "--force", self.network)
        self.run("network", "create", self.network)
        self.network_created = True
        inspected = json.loads(self.run("network", "inspect", self.network).stdout)[0]
        self.subnet = str(inspected["subnets"][0]["subnet"])
        return str(inspected["subnets"][0]["gateway"])

    def start(self, name: str, options: Sequence[str], image: str, command: Sequence[str]) -> None:
        self.run("rm", "--force", "--time", "0", name, check=False)
        self.containers.append(name)
        self.run("run", "--detach", "--name", name, "--network", self.network, *options, image, *command)

    def published(self, name: str) -> PublishedPorts:
        inspected = json.loads(self.run("inspect", name).stdout)[0]
        ports: dict[int, int] = {}
        for key, bindings in (inspected["NetworkSettings"]["Ports"] or {}).items():
            if bindings:
                ports[int(key.split("/")[0])] = int(bindings[0]["HostPort"])
        return PublishedPorts(ports)

    def is_running(self, name: str) -> bool:
        done = self.run("inspect", "--format", "{{.State.Running}}", name, check=False)
        return done.stdout.strip() == "true"

    def kill(self, name: str) -> None:
        self.run("kill", name)

    def start_again(self, name: str) -> None:
        """Start a stopped container of this rehearsal again (what KubeRay does by recreating the pod)."""
        self.run("start", name, timeout=120)

    def restart(self, name: str) -> None:
        self.run("restart", "--time", "5", name, timeout=180)

    def exec(self, name: str, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run("exec", name, *command, timeout=timeout, check=False)

    def logs(self, name: str, tail: int = 60) -> str:
        done = self.run("logs", "--tail", str(tail), name, check=False)
        return done.stdout + done.stderr

    def clean_up(self) -> list[str]:
        """Remove what this rehearsal started; returns the problems (empty when all went)."""
        problems = []
        for name in reversed(self.containers):
            done = self.run("rm", "--force", "--time", "2", name, check=False, timeout=120)
            if done.returncode != 0:
                problems.append(f"container {name}: {done.stderr.strip()}")
        self.containers.clear()
        if self.network_created:
            done = self.run("network", "rm", "--force", self.network, check=False)
            if done.returncode != 0:
                problems.append(f"network {self.network}: {done.stderr.strip()}")
            self.network_created = False
        return problems
