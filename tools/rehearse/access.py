"""The gateway config each cluster runs, and API keys for its tenants.

The gateway reads the file its Serve args name (`gateway.config_path`, mounted from the plan's
ConfigMap) or, without one, the packaged `services/config/gateway-<env>.yaml` the image carries.
The rehearsal generates one key per tenant with every scope (the plan never holds key values) and
puts the hashed key set where that config loads keys from.
"""

from __future__ import annotations

import tempfile
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.gateway.config import GatewayConfig, Scope, config_path, load_gateway_config
from services.gateway.keys import KeyRecord, generate_api_key, hash_api_key
from tools.rehearse.spec import ClusterSpec

__all__ = ["GatewaySetup", "TenantKey", "gateway_setup", "tenant_keys"]

ALL_SCOPES: tuple[Scope, ...] = typing.get_args(Scope)


@dataclass(frozen=True)
class TenantKey:
    tenant: str
    key: str
    record: KeyRecord


@dataclass(frozen=True)
class GatewaySetup:
    config: GatewayConfig
    source: str
    """Where the gateway reads it: `ConfigMap <name>/<key>` or the packaged file."""
    config_path: str | None
    """The path inside the pods when the config comes from a mounted ConfigMap."""


def tenant_keys(config: GatewayConfig) -> dict[str, TenantKey]:
    keys = {}
    for tenant in sorted(config.tenants):
        key = generate_api_key()
        record = KeyRecord(id=f"rehearsal-{tenant}", tenant=tenant, sha256=hash_api_key(key), scopes=ALL_SCOPES)
        keys[tenant] = TenantKey(tenant, key, record)
    return keys


def _gateway_args(serve_config: Mapping[str, Any]) -> dict[str, Any] | None:
    for application in serve_config.get("applications") or []:
        gateway = (application.get("args") or {}).get("gateway")
        if isinstance(gateway, dict):
            return gateway
    return None


def _mounted_text(spec: ClusterSpec, pod_path: str) -> tuple[str, str]:
    """The text a ConfigMap volume puts at `pod_path` in the worker pods, and a description of it."""
    pod = spec.workers[0].pod
    volumes = {volume.name: volume for volume in pod.volumes}
    for mount in sorted(pod.mounts, key=lambda m: -len(m.path)):
        prefix = mount.path.rstrip("/") + "/"
        if not pod_path.startswith(prefix) and pod_path != mount.path:
            continue
        volume = volumes[mount.volume]
        if volume.kind != "config_map":
            break
        relative = mount.sub_path or pod_path[len(prefix):]
        by_path = {path: key for key, path in volume.items} if volume.items else {}
        key = by_path.get(relative, relative)
        data = spec.config_maps.get(volume.source, {})
        if key not in data:
            raise ValueError(
                f"{spec.key}: gateway.config_path {pod_path}: ConfigMap {volume.source!r} has no key {key!r}"
            )
        return data[key], f"ConfigMap {volume.source}/{key}"
    raise ValueError(f"{spec.key}: gateway.config_path {pod_path} is not on a ConfigMap the worker pods mount")


def gateway_setup(spec: ClusterSpec) -> GatewaySetup | None:
    """The gateway config this cluster's Serve config makes the gateway load (None: no gateway)."""
    args = _gateway_args(spec.serve_config)
    if args is None:
        return None
    if args.get("config_path"):
        text, source = _mounted_text(spec, str(args["config_path"]))
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / f"gateway-{spec.key}.yaml"
            path.write_text(text)
            return GatewaySetup(load_gateway_config(path), source, str(args["config_path"]))
    packaged = config_path(str(args["env"]))
    return GatewaySetup(load_gateway_config(packaged), f"packaged services/config/{packaged.name}", None)
