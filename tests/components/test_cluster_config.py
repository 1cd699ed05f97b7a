"""Config of clusters, platforms and monitoring: a bad value fails with its key's dotted name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from platform_facts import project
from stacks.config import ConfigError, load_stack_config, read_stack_file

# Stack config keys and the loader's messages are `<namespace>:<key>`.
NAMESPACE = project.CONFIG_NAMESPACE


def _with(environment: str, key: str, path: list[str | int], value: Any) -> tuple[dict[str, str], frozenset[str]]:
    values, secret_keys = read_stack_file(environment)
    document = json.loads(values.get(project.config_key(key), "{}"))
    target = document
    for part in path[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    target[path[-1]] = value
    values[project.config_key(key)] = json.dumps(document)
    return values, secret_keys


@pytest.mark.parametrize(
    ("environment", "key", "path", "value", "message"),
    [
        ("prod", "eks", ["kubernetes_version"], "1.3", f"{NAMESPACE}:eks.kubernetes_version: String should match pattern"),
        (
            "prod",
            "eks",
            ["gpu_capacity"],
            "fargate",
            f"{NAMESPACE}:eks.gpu_capacity: Input should be 'managed' or 'karpenter'",
        ),
        (
            "prod",
            "eks",
            ["gpu_node_pools", 0, "desired_size"],
            20,
            f"{NAMESPACE}:eks.gpu_node_pools.0: min_size <= desired_size <= max_size must hold (got 3, 20, 12)",
        ),
        (
            "prod",
            "eks",
            ["karpenter", "ami_alias"],
            "al2023@latest",
            f"{NAMESPACE}:eks.karpenter.ami_alias: String should match",
        ),
        (
            "prod",
            "eks",
            ["karpenter", "gpu_limit"],
            0,
            f"{NAMESPACE}:eks.karpenter.gpu_limit: Input should be greater than or equal to 1",
        ),
        (
            "prod",
            "eks",
            ["gpu_sharing", "mode"],
            "mps",
            f"{NAMESPACE}:eks.gpu_sharing.mode: Input should be 'none', 'time_slicing' or 'mig'",
        ),
        (
            "prod",
            "onprem",
            ["gpu_nodes"],
            [],
            f"{NAMESPACE}:onprem: gpu_nodes must list at least one host when the on-prem cluster is enabled",
        ),
        (
            "prod",
            "onprem",
            ["bootstrap", "nvidia_driver_branch"],
            "latest",
            project.config_key("onprem.bootstrap.nvidia_driver_branch"),
        ),
        (
            "prod",
            "observability",
            ["latency_slo_ms"],
            0,
            f"{NAMESPACE}:observability.latency_slo_ms: Input should be greater than 0",
        ),
        (
            "prod",
            "inference_platforms",
            [1, "gpu_workers", "gpus"],
            0,
            f"{NAMESPACE}:inference_platforms.1: gpu_workers.gpus must be at least 1",
        ),
        (
            "prod",
            "inference_platforms",
            [0, "image"],
            "repo/serving:1",
            f"{NAMESPACE}:inference_platforms.0: image: moved to {NAMESPACE}:serving_image",
        ),
        ("prod", "inference_platforms", [1, "name"], "public", f"{NAMESPACE}:inference_platforms: names must be unique"),
        (
            "dev",
            "inference_platforms",
            [0, "cpu_workers", "memory"],
            "lots",
            project.config_key("inference_platforms.0.cpu_workers.memory"),
        ),
    ],
)
def test_bad_values_name_their_key(environment: str, key: str, path: list[str | int], value: Any, message: str) -> None:
    values, secret_keys = _with(environment, key, path, value)
    with pytest.raises(ConfigError) as failure:
        load_stack_config(values, secret_keys)
    assert message in str(failure.value)


def test_karpenter_spot_needs_spot_allowed() -> None:
    values, secret_keys = _with("staging", "eks", ["karpenter", "capacity_types"], ["spot"])
    with pytest.raises(ConfigError, match=rf"{NAMESPACE}:eks: karpenter.capacity_types: spot is not allowed"):
        load_stack_config(values, secret_keys)


def test_committed_environments_load() -> None:
    configs = {e: load_stack_config(*read_stack_file(e)) for e in ("dev", "staging", "prod")}
    assert configs["prod"].onprem.enabled and configs["staging"].onprem.enabled and not configs["dev"].onprem.enabled
    assert [p.cluster for p in configs["prod"].inference_platforms] == ["eks", "onprem"]
    assert configs["dev"].spot_allowed and not configs["prod"].spot_allowed
