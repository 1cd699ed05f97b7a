"""The platform's identity: its name and label domain, and every name derived from them.

This module is the one place a fork's name lives. `make fork NAME=<name> DOMAIN=<domain>` rewrites the two
literals `PROJECT_NAME` and `LABEL_DOMAIN` (and the data files that must spell the name, see docs/fork.md);
everything else here is derived, and components, stacks, services, policies and tools read it from here.

The project name ends up in S3 bucket names, IAM role names, Kubernetes namespaces and label values,
ECR repository names, Pulumi type tokens and Prometheus metric names, so it is restricted to what all of
them accept: `tools/fork.py` refuses any other, naming the rule it breaks.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "COMPONENT_PACKAGE",
    "CONFIG_NAMESPACE",
    "DISPLAY_NAME",
    "ENV_VAR_PREFIX",
    "IMAGE_NAME",
    "LABEL_DOMAIN",
    "METRIC_PREFIX",
    "PACK_NAME",
    "PROJECT_NAME",
    "RESOURCE_PREFIX",
    "STATE_DIR_NAME",
    "TAG_PREFIX",
    "config_key",
    "env_var",
    "environment_prefix",
    "label",
    "metric",
    "platform_namespace",
    "tag",
    "type_token",
]

PROJECT_NAME: Final = "rampart"
"""The Pulumi project (`name:` in Pulumi.yaml), and the root of every name below."""
LABEL_DOMAIN: Final = "rampart.dev"
"""DNS domain the platform's Kubernetes label keys live under (`<domain>/environment`)."""

DISPLAY_NAME: Final = PROJECT_NAME.capitalize()
"""How messages meant for people name the platform."""
CONFIG_NAMESPACE: Final = PROJECT_NAME
"""Stack files hold the platform's settings under `<namespace>:<key>` (Pulumi reads the project name)."""
RESOURCE_PREFIX: Final = PROJECT_NAME
"""First part of every cloud resource name: `<prefix>-<environment>-<component>`."""
TAG_PREFIX: Final = PROJECT_NAME
"""AWS tag keys are `<prefix>:<name>` (`rampart:environment`)."""
COMPONENT_PACKAGE: Final = PROJECT_NAME
"""Package part of the components' Pulumi type tokens (`<package>:index:<Type>`)."""
PACK_NAME: Final = PROJECT_NAME
"""The CrossGuard policy pack's name (`pulumi preview --policy-pack`)."""
IMAGE_NAME: Final = "serving"
"""The serving image's repository, under the environment's prefix: `<prefix>-<environment>/serving`."""
METRIC_PREFIX: Final = PROJECT_NAME.replace("-", "_")
"""First part of every metric the services export (Prometheus names allow no `-`); Ray adds `ray_`."""
ENV_VAR_PREFIX: Final = METRIC_PREFIX.upper() + "_"
"""Environment variables the platform reads are `<PREFIX>_<NAME>` (`RAMPART_STATE_DIR`)."""
STATE_DIR_NAME: Final = f".{PROJECT_NAME}"
"""Git-ignored directory at the repository root for local state, plans and generated files."""


def environment_prefix(environment: str) -> str:
    """The name prefix of one environment's resources: `rampart-dev`."""
    return f"{RESOURCE_PREFIX}-{environment}"


def platform_namespace(platform: str) -> str:
    """The Kubernetes namespace an inference platform runs in: `rampart-public`."""
    return f"{RESOURCE_PREFIX}-{platform}"


def label(key: str) -> str:
    """A Kubernetes label key under the platform's domain: `label("pool")` is `rampart.dev/pool`."""
    return f"{LABEL_DOMAIN}/{key}"


def tag(key: str) -> str:
    """An AWS tag key of the platform: `tag("owner")` is `rampart:owner`."""
    return f"{TAG_PREFIX}:{key}"


def config_key(key: str) -> str:
    """A stack config key as `pulumi config` spells it: `config_key("network.nat")` is `rampart:network.nat`."""
    return f"{CONFIG_NAMESPACE}:{key}"


def type_token(type_name: str) -> str:
    """A component's Pulumi type token: `type_token("Network")` is `rampart:index:Network`."""
    return f"{COMPONENT_PACKAGE}:index:{type_name}"


def metric(name: str) -> str:
    """A metric name as the services register it: `metric("gateway_requests_total")`."""
    return f"{METRIC_PREFIX}_{name}"


def env_var(name: str) -> str:
    """An environment variable the platform reads: `env_var("STATE_DIR")` is `RAMPART_STATE_DIR`."""
    return f"{ENV_VAR_PREFIX}{name}"
