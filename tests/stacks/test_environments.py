"""Every environment rendered end to end under mocks (the cloud cannot run here).

Tags, counts and the data-only difference between environments.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from platform_facts import project
from platform_facts.tags import REQUIRED_TAGS, is_taggable
from stacks.config import load_stack_config, read_stack_file
from stacks.plan import PlanGraph
from tests.stacks.helpers import component

Render = Callable[[str], PlanGraph]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_taggable_aws_resource_carries_the_platform_tags(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    config = load_stack_config(*read_stack_file(environment))
    expected = {
        project.tag("environment"): config.environment,
        project.tag("owner"): config.tags.owner,
        project.tag("cost-center"): config.tags.cost_center,
        project.tag("data-class"): config.tags.data_class,
    }
    taggable = [r for r in graph.resources if is_taggable(r.type)]
    assert len(taggable) > 20
    for resource in taggable:
        tags = resource.outputs.get("tagsAll") or {}
        missing = [t for t in REQUIRED_TAGS if tags.get(t) != expected[t]]
        assert not missing, f"{resource.urn} lacks {missing}"


def test_tags_are_set_once_on_the_provider_not_by_hand(rendered: Render) -> None:
    graph = rendered("prod")
    for resource in graph.resources:
        assert not set(REQUIRED_TAGS) & set(resource.inputs.get("tags") or {}), f"{resource.urn} repeats platform tags"
    aws_resources = [r for r in graph.resources if r.type.startswith("aws:")]
    providers = {r.provider for r in aws_resources}
    assert len(providers) == 1 and "pulumi:providers:aws" in providers.pop()


def test_prod_foundation_counts(rendered: Render) -> None:
    graph = rendered("prod")
    network = component(graph, project.type_token("Network"))
    counts: dict[str, int] = {}
    for resource in graph.descendants(network.urn):
        counts[resource.type] = counts.get(resource.type, 0) + 1
    assert counts == {
        "aws:ec2/vpc:Vpc": 1,
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": 1,
        "aws:ec2/internetGateway:InternetGateway": 1,
        "aws:ec2/subnet:Subnet": 6,
        "aws:ec2/routeTable:RouteTable": 4,
        "aws:ec2/routeTableAssociation:RouteTableAssociation": 6,
        "aws:ec2/eip:Eip": 3,
        "aws:ec2/natGateway:NatGateway": 3,
        "aws:ec2/vpcEndpoint:VpcEndpoint": 7,
        "aws:ec2/securityGroup:SecurityGroup": 1,
        "aws:cloudwatch/logGroup:LogGroup": 1,
        "aws:iam/role:Role": 1,
        "aws:iam/rolePolicy:RolePolicy": 1,
        "aws:ec2/flowLog:FlowLog": 1,
    }
    for type_token in (project.type_token("Secrets"), project.type_token("ModelStore"), project.type_token("AuditStore")):
        component(graph, type_token)


def test_dev_is_smaller_than_prod(rendered: Render) -> None:
    dev, prod = rendered("dev").counts_by_type(), rendered("prod").counts_by_type()
    assert dev["aws:ec2/subnet:Subnet"] == 4 and dev["aws:ec2/natGateway:NatGateway"] == 1
    assert sum(dev.values()) < sum(prod.values())


def test_children_are_named_after_their_component(rendered: Render) -> None:
    graph = rendered("staging")
    by_urn = {r.urn: r for r in graph.resources}
    for resource in graph.resources:
        parent = by_urn.get(resource.parent)
        if parent is not None:
            assert resource.name.startswith(parent.name), f"{resource.urn} is not named after {parent.name}"


def _environment_name_comparisons(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                if isinstance(operand, ast.Constant) and operand.value in {"dev", "staging", "prod"}:
                    found.append(f"{path.name}:{node.lineno}")
    return found


def test_environments_differ_only_in_data() -> None:
    sources = [*ROOT.joinpath("stacks").glob("*.py"), *ROOT.joinpath("components").rglob("*.py")]
    offenders = [hit for path in sources for hit in _environment_name_comparisons(path)]
    assert offenders == [], f"branching on an environment's name: {offenders}"
