"""`Network`: subnet math as a pure function, and the rendered VPC under mocks.

The AWS provider cannot run here; the stack is rendered with Pulumi mocks (see
tests/fixtures/pulumi_mocks.py) and assertions are made on what the engine would receive.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from components.network import NetworkSettings, plan_subnets
from components.settings import SettingsError
from platform_facts import project
from stacks.plan import PlanGraph
from tests.stacks.helpers import component, under

Render = Callable[[str], PlanGraph]


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.0.0/18", "192.168.0.0/22"])
@pytest.mark.parametrize("zones", [1, 2, 3, 6])
def test_subnets_are_disjoint_and_inside_the_vpc(cidr: str, zones: int) -> None:
    plan = plan_subnets(cidr, zones)
    vpc = ipaddress.IPv4Network(cidr)
    blocks = [ipaddress.IPv4Network(b) for b in (*plan.public, *plan.private)]
    assert len(plan.public) == len(plan.private) == zones
    assert all(block.subnet_of(vpc) for block in blocks)
    for i, first in enumerate(blocks):
        for second in blocks[i + 1 :]:
            assert not first.overlaps(second), f"{first} overlaps {second}"


def test_private_subnets_are_larger_than_public_ones() -> None:
    plan = plan_subnets("10.0.0.0/16", 3)
    assert plan.private == ("10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19")
    assert plan.public == ("10.0.224.0/22", "10.0.228.0/22", "10.0.232.0/22")


@pytest.mark.parametrize("zones", [0, 7])
def test_zone_count_outside_range_is_refused(zones: int) -> None:
    with pytest.raises(ValueError, match=r"zone_count: .* is outside 1..6"):
        plan_subnets("10.0.0.0/16", zones)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nat": "both"}, "nat: Input should be 'single' or 'per_az' (got 'both')"),
        ({"flow_log_retention_days": 0}, "flow_log_retention_days: Input should be greater than 0 (got 0)"),
        ({"availability_zones": 1}, "availability_zones: Input should be greater than or equal to 2 (got 1)"),
        ({"cidr": "8.8.0.0/16"}, "cidr: 8.8.0.0/16 is not a private (RFC 1918) range (got '8.8.0.0/16')"),
        ({"cidrr": "10.0.0.0/16"}, "cidrr: unknown key"),
    ],
)
def test_settings_validate_in_the_constructor(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        NetworkSettings(**changes)  # type: ignore[arg-type]
    assert str(raised.value) == f"NetworkSettings: {message}"


@pytest.mark.parametrize(("environment", "nat_count"), [("prod", 3), ("staging", 3), ("dev", 1)])
def test_every_private_subnet_routes_through_a_nat(rendered: Render, environment: str, nat_count: int) -> None:
    graph = rendered(environment)
    network = component(graph, project.type_token("Network"))
    nats = under(graph, network, "aws:ec2/natGateway:NatGateway")
    assert len(nats) == nat_count
    nat_ids = {nat.id for nat in nats}
    public_ids = {s.id for s in under(graph, network, "aws:ec2/subnet:Subnet") if "-public-" in s.name}
    assert all(nat.inputs["subnetId"] in public_ids for nat in nats), "NAT gateways must sit in public subnets"

    private = [s for s in under(graph, network, "aws:ec2/subnet:Subnet") if "-private-" in s.name]
    associations = under(graph, network, "aws:ec2/routeTableAssociation:RouteTableAssociation")
    used_nats = set()
    for subnet in private:
        (association,) = [a for a in associations if a.inputs["subnetId"] == subnet.id]
        table = graph.by_id(association.inputs["routeTableId"])
        default_routes = [r for r in table.inputs["routes"] if r["cidrBlock"] == "0.0.0.0/0"]
        assert len(default_routes) == 1, f"{table.urn} must have one default route"
        assert default_routes[0].get("natGatewayId") in nat_ids, f"{table.urn} must route through a NAT"
        used_nats.add(default_routes[0]["natGatewayId"])
    assert len(used_nats) == nat_count, "with NAT per AZ each zone must use its own gateway"


def test_subnets_span_distinct_zones_and_never_map_public_ips(rendered: Render) -> None:
    graph = rendered("prod")
    subnets = graph.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 6
    for subnet in subnets:
        assert subnet.inputs["mapPublicIpOnLaunch"] is False, subnet.urn
    private_zones = [s.inputs["availabilityZone"] for s in subnets if "-private-" in s.name]
    assert private_zones == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_endpoints_keep_aws_traffic_private(rendered: Render) -> None:
    graph = rendered("prod")
    network = component(graph, project.type_token("Network"))
    endpoints = under(graph, network, "aws:ec2/vpcEndpoint:VpcEndpoint")
    private_ids = sorted(s.id for s in under(graph, network, "aws:ec2/subnet:Subnet") if "-private-" in s.name)
    private_tables = sorted(t.id for t in under(graph, network, "aws:ec2/routeTable:RouteTable") if "-private-" in t.name)

    gateway = [e for e in endpoints if e.inputs["vpcEndpointType"] == "Gateway"]
    assert [e.inputs["serviceName"] for e in gateway] == ["com.amazonaws.us-east-1.s3"]
    assert sorted(gateway[0].inputs["routeTableIds"]) == private_tables

    interface = {e.inputs["serviceName"].rsplit(".", 1)[-1]: e for e in endpoints if e.inputs["vpcEndpointType"] == "Interface"}
    expected = {"com.amazonaws.us-east-1." + s for s in ("ecr.api", "ecr.dkr", "sts", "secretsmanager", "logs", "ec2")}
    assert {e.inputs["serviceName"] for e in endpoints if e.inputs["vpcEndpointType"] == "Interface"} == expected
    for endpoint in interface.values():
        assert endpoint.inputs["privateDnsEnabled"] is True, endpoint.urn
        assert sorted(endpoint.inputs["subnetIds"]) == private_ids, endpoint.urn


def test_flow_logs_go_to_an_encrypted_group(rendered: Render) -> None:
    graph = rendered("prod")
    (flow_log,) = graph.of_type("aws:ec2/flowLog:FlowLog")
    (vpc,) = graph.of_type("aws:ec2/vpc:Vpc")
    assert flow_log.inputs["vpcId"] == vpc.id and flow_log.inputs["trafficType"] == "ALL"
    (group,) = [g for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup") if g.outputs["arn"] == flow_log.inputs["logDestination"]]
    (key,) = graph.of_type("aws:kms/key:Key")
    assert group.inputs["kmsKeyId"] == key.outputs["arn"], group.urn
    assert group.inputs["retentionInDays"] == 365


def test_default_security_group_is_stripped(rendered: Render) -> None:
    (default_group,) = rendered("prod").of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default_group.inputs.get("ingress", []) == [] and default_group.inputs.get("egress", []) == [], default_group.urn
