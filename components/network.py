"""`Network`: the VPC every environment runs in.

Public subnets hold only NAT gateways and load balancers; workloads live in private subnets that
reach AWS APIs through VPC endpoints and everything else through NAT. Flow logs go to a
KMS-encrypted log group, and the default security group is stripped of its rules so that nothing
silently lands in an open group.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Annotated, Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field, field_validator

from components.settings import settings_dataclass
from platform_facts.project import type_token

__all__ = ["Network", "NetworkArgs", "NetworkSettings", "SubnetPlan", "plan_subnets"]

MAX_ZONES = 6


@dataclass(frozen=True)
class SubnetPlan:
    """CIDR blocks of the subnets in each availability zone, index-aligned by zone."""

    public: tuple[str, ...]
    private: tuple[str, ...]


def plan_subnets(vpc_cidr: str, zone_count: int) -> SubnetPlan:
    """Split a VPC block into one private and one public subnet per zone.

    The VPC is cut into eight equal blocks: the first `zone_count` are the private subnets (large:
    the VPC CNI gives every pod an address), the last is cut into eight again for the small public
    subnets, and the rest stays free for later use.
    """
    vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    if not 1 <= zone_count <= MAX_ZONES:
        raise ValueError(f"zone_count: {zone_count} is outside 1..{MAX_ZONES}")
    blocks = list(vpc.subnets(prefixlen_diff=3))
    public_blocks = list(blocks[-1].subnets(prefixlen_diff=3))
    return SubnetPlan(
        public=tuple(str(block) for block in public_blocks[:zone_count]),
        private=tuple(str(block) for block in blocks[:zone_count]),
    )


@settings_dataclass
class NetworkSettings:
    """What an environment chooses about its VPC (stack config `rampart:network`)."""

    cidr: str = "10.0.0.0/16"
    """VPC CIDR block: a private (RFC 1918) range, /16 to /22 so that every subnet gets a useful size."""
    availability_zones: Annotated[int, Field(ge=2, le=MAX_ZONES)] = 3
    """Number of zones; each gets one public and one private subnet."""
    nat: Literal["single", "per_az"] = "per_az"
    """`per_az`: one NAT gateway per zone (survives a zone outage); `single`: one shared, cheaper."""
    interface_endpoints: tuple[str, ...] = ("ecr.api", "ecr.dkr", "sts", "secretsmanager", "logs", "ec2")
    """AWS services reached through private interface endpoints instead of the NAT."""
    flow_log_retention_days: Annotated[int, Field(gt=0)] = 365
    """Days VPC flow logs are kept in CloudWatch Logs."""

    @field_validator("cidr")
    @classmethod
    def _cidr_is_a_private_block(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            raise ValueError(f"{value!r} is not an IPv4 network ({error})") from None
        if not network.is_private:
            raise ValueError(f"{value} is not a private (RFC 1918) range")
        if not 16 <= network.prefixlen <= 22:
            raise ValueError(f"{value} must have a prefix between /16 and /22")
        return value


@dataclass(frozen=True)
class NetworkArgs:
    """Inputs of a `Network`: the environment's settings and what other resources provide."""

    settings: NetworkSettings
    kms_key_arn: pulumi.Input[str]
    """Key that encrypts the flow-log group."""
    region: str
    """AWS region, for endpoint service names."""


class Network(pulumi.ComponentResource):
    """VPC with public/private subnets over N zones, NAT, VPC endpoints and flow logs.

    Outputs: `vpc_id`, `private_subnet_ids`, `public_subnet_ids`, `private_route_table_ids`.
    """

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    private_route_table_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("Network"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        plan = plan_subnets(settings.cidr, settings.availability_zones)
        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)

        public_subnets = [
            aws.ec2.Subnet(
                f"{name}-public-{index}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zones.names[index],
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{index}", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            for index, cidr in enumerate(plan.public)
        ]
        private_subnets = [
            aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zones.names[index],
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{index}", "kubernetes.io/role/internal-elb": "1"},
                opts=child,
            )
            for index, cidr in enumerate(plan.private)
        ]

        public_routes = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            opts=child,
        )
        for index, subnet in enumerate(public_subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{index}", subnet_id=subnet.id, route_table_id=public_routes.id, opts=child
            )

        nat_count = settings.availability_zones if settings.nat == "per_az" else 1
        nat_gateways = []
        for index in range(nat_count):
            address = aws.ec2.Eip(f"{name}-nat-eip-{index}", domain="vpc", opts=child)
            nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{index}",
                    allocation_id=address.id,
                    subnet_id=public_subnets[index].id,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                )
            )

        private_tables = []
        for index, subnet in enumerate(private_subnets):
            nat = nat_gateways[index % nat_count]
            table = aws.ec2.RouteTable(
                f"{name}-private-rt-{index}",
                vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rta-{index}", subnet_id=subnet.id, route_table_id=table.id, opts=child
            )
            private_tables.append(table)

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in private_tables],
            opts=child,
        )
        endpoint_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=vpc.id,
            description="HTTPS from inside the VPC to AWS interface endpoints",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [settings.cidr]}],
            egress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [settings.cidr]}],
            opts=child,
        )
        for service in settings.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[subnet.id for subnet in private_subnets],
                security_group_ids=[endpoint_group.id],
                opts=child,
            )

        flow_log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=settings.flow_log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )
        flow_log_role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=flow_log_role.id,
            policy=flow_log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=flow_log_group.arn,
            iam_role_arn=flow_log_role.arn,
            opts=child,
        )

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in public_subnets])
        self.private_route_table_ids = pulumi.Output.all(*[table.id for table in private_tables])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
                "private_route_table_ids": self.private_route_table_ids,
            }
        )
