"""The leaf package of platform facts: generated facts stay in step with the pinned SDK, and the plan
and the pack's budget policy price a stack with the one cost model."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest
from pulumi_policy import PolicyResource

from platform_facts.cost import BilledResource, cost_inputs, latest_price_table
from platform_facts.tags import TAGGABLE_TYPES_FILE, is_taggable
from policy_rules.cost import plan_estimate
from stacks.config import load_stack_config, read_stack_file
from stacks.plan import PlanGraph, environment_cost
from tests.policies.harness import policy_resource_options
from tools.policy_facts import render_taggable_types

Render = Callable[[str], PlanGraph]


def test_the_taggable_types_file_is_generated_from_the_pinned_sdk() -> None:
    assert TAGGABLE_TYPES_FILE.read_text() == render_taggable_types(), "run python -m tools.policy_facts"


def _sdk_class_has_tags_all(type_token: str) -> bool:
    module_path, class_name = type_token.split(":")[1:]
    module = module_path.split("/")[0]
    sdk_module = importlib.import_module("pulumi_aws" if module == "index" else f"pulumi_aws.{module}")
    return hasattr(getattr(sdk_module, class_name), "tags_all")


def test_taggable_matches_the_sdk_classes_for_every_type_a_stack_declares(rendered: Render) -> None:
    types = {r.type for e in ("dev", "prod") for r in rendered(e).resources if r.type.startswith("aws:")}
    assert {t: is_taggable(t) for t in types} == {t: _sdk_class_has_tags_all(t) for t in types}
    assert is_taggable("aws:ec2/vpc:Vpc") and not is_taggable("aws:iam/rolePolicy:RolePolicy")


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_plan_and_budget_policy_price_a_stack_the_same(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    config = load_stack_config(*read_stack_file(environment))
    planned = environment_cost(graph, config)
    options = policy_resource_options()
    policy_view = [
        PolicyResource(r.type, r.inputs, r.urn, r.name, options, None, None, [], {}) for r in graph.resources
    ]
    assert plan_estimate(policy_view, config.region).total_usd == pytest.approx(
        planned.total_usd - (config.onprem.monthly_cost_usd if config.onprem.enabled else 0.0)
    )


def test_cost_inputs_tolerate_what_a_preview_leaves_unset() -> None:
    inputs = cost_inputs(
        [
            BilledResource("aws:eks/nodeGroup:NodeGroup", "bare", {}),
            BilledResource("aws:ec2/vpcEndpoint:VpcEndpoint", "ep", {"vpcEndpointType": "Interface"}),
            BilledResource("kubernetes:karpenter.sh/v1:NodePool", "gpu", {"spec": {"limits": {"nvidia.com/gpu": "8"}}}),
        ],
        latest_price_table("us-east-1"),
    )
    assert [(p.instance_type, p.count) for p in inputs.node_pools] == [("t3.medium", 0)]
    assert inputs.interface_endpoint_zones == 1
    assert (inputs.autoscaling_gpu_ceiling, inputs.autoscaling_instance_type) == (0, None), "no families, no price"
