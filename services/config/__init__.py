"""Ray Serve configuration, one file per environment: the single source of truth for replicas,
autoscaling, batching and resources.

`make up` and the tests deploy `serve-local.yaml`; the Kubernetes `RayService` embeds
`serve_config(env)` as its `serveConfigV2`. This module needs only PyYAML, so the infra-only
install (no Ray, no torch) can read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "CONFIG_DIR",
    "ENVIRONMENTS",
    "ConfigKind",
    "ServeConfigError",
    "config_document",
    "config_names",
    "config_path",
    "serve_config",
    "serve_config_path",
]

ENVIRONMENTS: tuple[str, ...] = ("local", "dev", "staging", "prod")
CONFIG_DIR = Path(__file__).resolve().parent
ConfigKind = Literal["serve", "gateway"]

_REQUIRED_TOP_LEVEL = ("proxy_location", "http_options", "applications")
_REQUIRED_APPLICATION = ("name", "route_prefix", "import_path", "args", "deployments")


class ServeConfigError(ValueError):
    """A Serve config file is missing or malformed; the message names the file and the key."""


def config_names(kind: ConfigKind) -> list[str]:
    """The names of every `<kind>-<name>.yaml` here: the environments, and per-platform files
    such as `prod-onprem` (an environment's on-prem cluster)."""
    files = CONFIG_DIR.glob(f"{kind}-*.yaml")
    return sorted(path.name.removeprefix(f"{kind}-").removesuffix(".yaml") for path in files)


def config_path(kind: ConfigKind, name: str) -> Path:
    """Path of `services/config/<kind>-<name>.yaml`; an unknown name is an error listing the known ones."""
    if name not in config_names(kind):
        known = ", ".join(config_names(kind))
        raise ServeConfigError(f"{kind}_config: unknown config {name!r}; expected one of {known}")
    return CONFIG_DIR / f"{kind}-{name}.yaml"


def serve_config_path(name: str) -> Path:
    """Path of the Serve config file `serve-<name>.yaml` (an environment or a platform's own file)."""
    return config_path("serve", name)


def config_document(kind: ConfigKind, name: str) -> dict[str, Any]:
    """`<kind>-<name>.yaml` parsed, unvalidated beyond being a mapping (cloud files still hold
    `${...}` placeholders; see `services.config.render`)."""
    path = config_path(kind, name)
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ServeConfigError(f"{path.name}: expected a mapping at the top level")
    return loaded


def serve_config(name: str) -> dict[str, Any]:
    """The parsed Ray Serve config (standard Serve config-file schema) `serve-<name>.yaml`.

    Each call returns a fresh dict, so callers may adjust it (a test's port) without affecting
    anyone else.
    """
    path = serve_config_path(name)
    loaded = config_document("serve", name)
    for key in _REQUIRED_TOP_LEVEL:
        if key not in loaded:
            raise ServeConfigError(f"{path.name}: {key} is required")
    applications = loaded["applications"]
    if not isinstance(applications, list) or not applications:
        raise ServeConfigError(f"{path.name}: applications must be a non-empty list")
    for index, application in enumerate(applications):
        for key in _REQUIRED_APPLICATION:
            if key not in application:
                raise ServeConfigError(f"{path.name}: applications[{index}].{key} is required")
        for d_index, deployment in enumerate(application["deployments"]):
            if "name" not in deployment:
                raise ServeConfigError(f"{path.name}: applications[{index}].deployments[{d_index}].name is required")
    return loaded
