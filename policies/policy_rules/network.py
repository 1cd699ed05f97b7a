"""Network policies: what can be reached from the internet, and what leaves a trace."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from platform_facts.eks import CONTROL_PLANE_LOG_TYPES
from policy_rules.core import Report, Setting, dig, is_mapping, items, number, resource_policy, stack_policy, strings

__all__ = ["POLICIES", "IngressRule", "ingress_rules"]

OPEN_CIDRS = ("0.0.0.0/0", "::/0")
NETWORK_ACL_TYPES = ("aws:ec2/networkAcl:NetworkAcl", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")
NETWORK_ACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


@dataclass(frozen=True)
class IngressRule:
    """One ingress permission, whichever resource declared it: protocol, port range and sources."""

    protocol: str
    from_port: int
    to_port: int
    cidrs: tuple[str, ...]

    def covers(self, port: int) -> bool:
        if self.protocol in ("-1", "all"):
            return True
        return self.protocol in ("tcp", "6", "udp", "17") and self.from_port <= port <= self.to_port

    @property
    def open_cidrs(self) -> list[str]:
        return [cidr for cidr in self.cidrs if cidr in OPEN_CIDRS]


def _port(value: Any, default: int) -> int:
    port = number(value)
    return int(port) if port is not None else default


def _rule(protocol: Any, from_port: Any, to_port: Any, cidrs: list[str]) -> IngressRule:
    protocol = str(protocol if protocol is not None else "-1").lower()
    return IngressRule(protocol, _port(from_port, 0), _port(to_port, 65535), tuple(cidrs))


def ingress_rules(resource_type: str, props: Mapping[str, Any]) -> Iterator[IngressRule]:
    """Ingress rules of a security group's inline `ingress`, a `SecurityGroupRule` or an ingress-rule resource."""
    if resource_type == SECURITY_GROUP:
        for entry in items(props.get("ingress")):
            if is_mapping(entry):
                cidrs = strings(entry.get("cidrBlocks")) + strings(entry.get("ipv6CidrBlocks"))
                yield _rule(entry.get("protocol"), entry.get("fromPort"), entry.get("toPort"), cidrs)
    elif resource_type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        cidrs = strings(props.get("cidrBlocks")) + strings(props.get("ipv6CidrBlocks"))
        yield _rule(props.get("protocol"), props.get("fromPort"), props.get("toPort"), cidrs)
    elif resource_type == INGRESS_RULE:
        cidrs = strings(props.get("cidrIpv4")) + strings(props.get("cidrIpv6"))
        yield _rule(props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"), cidrs)


def _allows(action: Any) -> bool:
    return str(action).lower() == "allow"


def acl_ingress_rules(resource_type: str, props: Mapping[str, Any]) -> Iterator[IngressRule]:
    """Allowing ingress entries of a network ACL's inline `ingress`, or one `NetworkAclRule` (not egress)."""
    if resource_type in NETWORK_ACL_TYPES:
        for entry in items(props.get("ingress")):
            if is_mapping(entry) and _allows(entry.get("action")):
                cidrs = strings(entry.get("cidrBlock")) + strings(entry.get("ipv6CidrBlock"))
                yield _rule(entry.get("protocol"), entry.get("fromPort"), entry.get("toPort"), cidrs)
    elif resource_type == NETWORK_ACL_RULE and props.get("egress") is not True and _allows(props.get("ruleAction")):
        cidrs = strings(props.get("cidrBlock")) + strings(props.get("ipv6CidrBlock"))
        yield _rule(props.get("protocol"), props.get("fromPort"), props.get("toPort"), cidrs)


def _no_open_acl_ingress(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    for rule in acl_ingress_rules(args.resource_type, args.props):
        for cidr in rule.open_cidrs:
            for port in (int(p) for p in settings["ports"]):
                if rule.covers(port):
                    report(f"Network ACL {args.name} must not allow ingress from {cidr} to administration port {port}.")


def _no_open_ingress(kind: str) -> Any:
    def check(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
        for rule in ingress_rules(args.resource_type, args.props):
            for cidr in rule.open_cidrs:
                for port in (int(p) for p in settings["ports"]):
                    if rule.covers(port):
                        report(f"{args.name} must not allow ingress from {cidr} to {kind} port {port}.")

    return check


ADMIN_PORTS = Setting("array", [22, 3389, 5985, 5986], "Remote administration ports (SSH, RDP, WinRM).")
DATABASE_PORTS = Setting(
    "array",
    [1433, 1521, 3306, 5432, 5439, 6379, 9042, 9200, 11211, 27017],
    "Database and cache ports (SQL Server, Oracle, MySQL, PostgreSQL, Redshift, Redis, Cassandra, "
    "Elasticsearch, Memcached, MongoDB).",
)


def _eks_endpoint(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if args.resource_type != "aws:eks/cluster:Cluster":
        return
    vpc_config = args.props.get("vpcConfig")
    public = dig(vpc_config, "endpointPublicAccess")
    if public is False:
        return
    # Unset means public: that is the EKS API's default.
    cidrs = strings(dig(vpc_config, "publicAccessCidrs"))
    if not cidrs or any(cidr in OPEN_CIDRS for cidr in cidrs):
        report(f"EKS cluster {args.name} must keep its API endpoint private or restrict publicAccessCidrs.")


def _control_plane_logs(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if args.resource_type != "aws:eks/cluster:Cluster":
        return
    enabled = set(strings(args.props.get("enabledClusterLogTypes")))
    missing = [log_type for log_type in settings["requiredLogTypes"] if log_type not in enabled]
    if missing:
        logs = ", ".join(missing)
        report(f"EKS cluster {args.name} must ship the control-plane logs {logs} (enabledClusterLogTypes).")


def _node_group_ssh(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    # With remoteAccess but no source security groups, EKS opens port 22 of every node to 0.0.0.0/0.
    remote_access = args.props.get("remoteAccess") if args.resource_type == "aws:eks/nodeGroup:NodeGroup" else None
    if (
        is_mapping(remote_access)
        and dig(remote_access, "ec2SshKey")
        and not strings(dig(remote_access, "sourceSecurityGroupIds"))
    ):
        report(f"Node group {args.name} must not open SSH to the internet: name remoteAccess.sourceSecurityGroupIds.")


def _subnet_public_ip(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type == "aws:ec2/subnet:Subnet" and args.props.get("mapPublicIpOnLaunch") is True:
        report(f"Subnet {args.name} must not assign public IP addresses on launch (mapPublicIpOnLaunch).")


def _flow_logs(args: StackValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    logged: set[str] = set()
    vpc_ids: dict[str, str] = {}
    for resource in args.resources:
        if resource.resource_type == "aws:ec2/vpc:Vpc":
            vpc_ids[resource.urn] = str(resource.props.get("id") or "")
    for resource in args.resources:
        if resource.resource_type != "aws:ec2/flowLog:FlowLog":
            continue
        target = resource.props.get("vpcId")
        for dependency in resource.dependencies:
            if dependency.urn in vpc_ids:
                logged.add(dependency.urn)
        logged.update(urn for urn, vpc_id in vpc_ids.items() if vpc_id and vpc_id == target)
    for resource in args.resources:
        if resource.urn in vpc_ids and resource.urn not in logged:
            report(f"VPC {resource.name} must have a flow log.", resource.urn)


def _public_ip_launch_template(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        for interface in items(args.props.get("networkInterfaces")):
            if str(dig(interface, "associatePublicIpAddress")).lower() == "true":
                report(f"Launch template {args.name} must not associate public IP addresses with node interfaces.")
    elif (
        args.resource_type == "aws:ec2/launchConfiguration:LaunchConfiguration"
        and args.props.get("associatePublicIpAddress") is True
    ):
        report(f"Launch configuration {args.name} must not associate public IP addresses with nodes.")


def _public_ip_instance(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type == "aws:ec2/instance:Instance" and args.props.get("associatePublicIpAddress") is True:
        report(f"Instance {args.name} must not have a public IP address.")


def _default_security_group(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":
        return
    if list(items(args.props.get("ingress"))) or list(items(args.props.get("egress"))):
        report(f"Default security group {args.name} must have no ingress or egress rules.")


def _ingress_description(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != SECURITY_GROUP:
        return
    if not args.props.get("description") or args.props.get("description") == "Managed by Pulumi":
        report(f"Security group {args.name} must have a description that says what it admits.")


POLICIES = [
    resource_policy(
        "no-public-admin-ingress",
        "Security groups must not open remote-administration ports to the internet.",
        _no_open_ingress("administration"),
        {"ports": ADMIN_PORTS},
    ),
    resource_policy(
        "no-public-database-ingress",
        "Security groups must not open database or cache ports to the internet.",
        _no_open_ingress("database"),
        {"ports": DATABASE_PORTS},
    ),
    resource_policy(
        "nacl-no-public-admin-ingress",
        "Network ACLs must not open remote-administration ports to the internet.",
        _no_open_acl_ingress,
        {"ports": ADMIN_PORTS},
    ),
    resource_policy(
        "eks-endpoint-private",
        "The EKS API endpoint must be private or limited to known CIDRs.",
        _eks_endpoint,
    ),
    resource_policy(
        "eks-control-plane-audit-logging",
        "EKS clusters must ship every control-plane log type the platform promises, audit included.",
        _control_plane_logs,
        {
            "requiredLogTypes": Setting(
                "array", list(CONTROL_PLANE_LOG_TYPES), "Control-plane log types every cluster must enable."
            )
        },
    ),
    resource_policy(
        "eks-node-group-no-public-ssh",
        "Node groups with remote access must restrict SSH to named security groups.",
        _node_group_ssh,
    ),
    resource_policy(
        "subnets-no-public-ip-on-launch",
        "Subnets must not give instances public IP addresses by default.",
        _subnet_public_ip,
    ),
    stack_policy("vpc-flow-logs-enabled", "Every VPC must have flow logs.", _flow_logs),
    resource_policy(
        "no-public-ip-on-node-launch-templates",
        "Node launch templates must not give nodes public IP addresses.",
        _public_ip_launch_template,
    ),
    resource_policy(
        "no-public-ip-on-instances", "EC2 instances must not have public IP addresses.", _public_ip_instance
    ),
    resource_policy(
        "default-security-group-closed",
        "The VPC's default security group must have no rules.",
        _default_security_group,
    ),
    resource_policy(
        "security-group-described",
        "Security groups must describe what they admit.",
        _ingress_description,
    ),
]
