"""The substitution list and what it changes in a Serve config (and nothing else)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from platform_facts import project
from tools.rehearse.smoke import canary_within_tolerance
from tools.rehearse.substitutions import (
    SUBSTITUTIONS,
    aws_environment,
    chat_models,
    format_substitutions,
    ray_cpus,
    substitute_serve_config,
)

TINY_SHA = "a" * 64


def serve_config() -> dict[str, Any]:
    return {
        "proxy_location": "EveryNode",
        "applications": [
            {
                "name": project.PROJECT_NAME,
                "args": {
                    "embedder": {"model_name": "minilm", "source": {"uri": "s3://models/e", "sha256": "b" * 64}},
                    "generator": {"engine": "transformers", "model_name": "chat-v1", "device": "cuda",
                                  "source": {"uri": "s3://models/llm/v1", "sha256": "0" * 64}},
                    "generators": [
                        {"engine": "transformers", "model_name": "chat-v2", "source": {"uri": "s3://models/llm/v2"}},
                        {"engine": "extractive", "model_name": "extractive"},
                    ],
                },
                "deployments": [
                    {"name": "Generator", "ray_actor_options": {"num_cpus": 4, "num_gpus": 1},
                     "autoscaling_config": {"min_replicas": 2, "initial_replicas": 3, "max_replicas": 8}},
                    {"name": "Ingress", "num_replicas": 3, "ray_actor_options": {"num_cpus": 1, "num_gpus": 0}},
                ],
            }
        ],
    }


def test_every_substitution_says_what_it_replaces_and_why() -> None:
    assert len(SUBSTITUTIONS) >= 5
    for item in SUBSTITUTIONS:
        assert item.real and item.here and item.why
    printed = format_substitutions()
    assert all(item.why in printed for item in SUBSTITUTIONS)


def test_chat_models_are_the_transformers_generators_in_every_list() -> None:
    assert [(m.model_name, m.uri) for m in chat_models(serve_config())] == [
        ("chat-v1", "s3://models/llm/v1"),
        ("chat-v2", "s3://models/llm/v2"),
    ]


def test_substitution_changes_checksums_devices_gpus_and_replica_floors_only() -> None:
    planned = serve_config()
    changed = substitute_serve_config(planned, {"chat-v1": TINY_SHA, "chat-v2": "c" * 64})
    args = changed["applications"][0]["args"]
    assert args["generator"]["source"] == {"uri": "s3://models/llm/v1", "sha256": TINY_SHA}
    assert args["generator"]["device"] == "cpu"
    assert args["generators"][0]["source"]["sha256"] == "c" * 64
    assert args["generators"][1] == {"engine": "extractive", "model_name": "extractive"}
    assert args["embedder"] == planned["applications"][0]["args"]["embedder"]
    generator, ingress = changed["applications"][0]["deployments"]
    assert generator["ray_actor_options"] == {"num_cpus": 4, "num_gpus": 0, "resources": {"rehearsal_gpu": 1}}
    assert generator["autoscaling_config"] == {"min_replicas": 2, "initial_replicas": 2, "max_replicas": 8}
    assert ingress["num_replicas"] == 2
    # The planned config itself is untouched.
    assert planned["applications"][0]["args"]["generator"]["device"] == "cuda"


def test_a_chat_model_without_a_tiny_stand_in_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="chat-v2"):
        substitute_serve_config(serve_config(), {"chat-v1": TINY_SHA})


@pytest.mark.parametrize(("quantity", "cpus"), [("4", 4), ("500m", 1), ("2500m", 3), ("0.5", 1)])
def test_ray_cpus_from_a_pod_cpu_limit(quantity: str, cpus: int) -> None:
    assert ray_cpus(quantity) == cpus
    assert ray_cpus(quantity, pods=3) == 3 * cpus


def test_aws_environment_points_boto3_at_the_stand_in() -> None:
    env = aws_environment("http://10.89.0.1:5000", "eu-west-1")
    assert env["AWS_ENDPOINT_URL"] == "http://10.89.0.1:5000"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_canary_split_within_and_outside_tolerance() -> None:
    weights = {"v1": 90.0, "v2": 10.0}
    assert canary_within_tolerance(Counter({"v1": 54, "v2": 6}), weights) == ""
    assert "v1: 50%" in canary_within_tolerance(Counter({"v1": 30, "v2": 30}), weights)
    assert "outside the route" in canary_within_tolerance(Counter({"v1": 54, "v2": 5, "v9": 1}), weights)
    assert canary_within_tolerance(Counter(), weights) == "no answers counted"
