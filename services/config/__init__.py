"""Ray Serve configuration, one file per environment: the single source of truth for replicas,
autoscaling, batching and resources.

`make up` and the tests deploy `serve-local.yaml`; the Kubernetes `RayService` embeds
`serve_config(env)` as its `serveConfigV2`. This module needs only PyYAML, so the infra-only
install (no Ray, no torch) can read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["CONFIG_DIR", "ENVIRONMENTS", "ServeConfigError", "serve_config", "serve_config_path"]

ENVIRONMENTS: tuple[str, ...] = ("local", "dev", "staging", "prod")
CONFIG_DIR = Path(__file__).resolve().parent

_REQUIRED_TOP_LEVEL = ("proxy_location", "http_options", "applications")
_REQUIRED_APPLICATION = ("name", "route_prefix", "import_path", "args", "deployments")


class ServeConfigError(ValueError):
    """A Serve config file is missing or malformed; the message names the file and the key."""


def serve_config_path(env: str) -> Path:
    """Path of the Serve config file for `env` (one of `ENVIRONMENTS`)."""
    if env not in ENVIRONMENTS:
        raise ServeConfigError(f"env: unknown environment {env!r}; expected one of {', '.join(ENVIRONMENTS)}")
    return CONFIG_DIR / f"serve-{env}.yaml"


def serve_config(env: str) -> dict[str, Any]:
    """The parsed Ray Serve config (standard Serve config-file schema) for `env`.

    Each call returns a fresh dict, so callers may adjust it (a test's port) without affecting
    anyone else.
    """
    path = serve_config_path(env)
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ServeConfigError(f"{path.name}: expected a mapping at the top level")
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
