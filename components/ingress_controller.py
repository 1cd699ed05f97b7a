"""The ingress controller each cluster runs, so the inference platforms' `Ingress` objects get a load balancer.

- EKS: the AWS Load Balancer Controller. Its `IngressClassParams` make every load balancer of its class
  internal and terminate TLS with an ACM certificate (the one config names, or one requested here for
  the platforms' hostnames, validated by DNS). It reaches AWS through EKS Pod Identity with the
  controller's documented permissions, and is told the VPC and region: with an IMDS hop limit of 1 it
  could not look them up.
- On-prem: ingress-nginx, with the ingress class config names (`nginx` by default), HTTPS only.

Internal to `components/`: the cluster components install it and hand `ClusterIngress` to the platforms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pydantic import Field

from components._kubernetes import helm_release, secured_namespace
from components._pod_identity import PodIdentityRole
from components.settings import settings_dataclass
from platform_facts.kubernetes import platform_labels
from platform_facts.project import label

__all__ = [
    "AlbIngressSettings",
    "ClusterIngress",
    "NginxIngressSettings",
    "aws_load_balancer_controller",
    "ingress_nginx",
    "load_balancer_controller_permissions",
]

IngressClassName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
_ACM_ARN = r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$"
LOAD_BALANCER_CONTROLLER_SA = "aws-load-balancer-controller"


@settings_dataclass
class AlbIngressSettings:
    """`rampart:eks.ingress`: the AWS Load Balancer Controller's ingress class and TLS certificate."""

    class_name: IngressClassName = "alb"
    """Ingress class the platforms' `Ingress` objects name."""
    certificate_arn: Annotated[str, Field(pattern=_ACM_ARN)] | None = None
    """ACM certificate the load balancers serve; unset requests one for the EKS platforms' hostnames
    (DNS validation: create the records in `eks_ingress_certificate_validation`)."""
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    """Listener TLS policy: TLS 1.2 and 1.3 only."""


@settings_dataclass
class NginxIngressSettings:
    """`rampart:onprem.ingress`: the on-prem ingress-nginx controller."""

    class_name: IngressClassName = "nginx"
    """Ingress class the platforms' `Ingress` objects name."""
    replicas: Annotated[int, Field(ge=1, le=10)] = 2
    service_type: Literal["LoadBalancer", "NodePort"] = "LoadBalancer"
    """How clients reach the controller: a LoadBalancer (MetalLB or similar) or node ports."""


@dataclass(frozen=True)
class ClusterIngress:
    """What an inference platform's `Ingress` needs from its cluster's controller."""

    class_name: str
    """`spec.ingressClassName` of every Ingress on this cluster."""
    namespace: str
    """Where the controller runs."""
    certificate_arn: pulumi.Output[str] | None
    """ACM certificate the EKS load balancers serve; None on-prem (TLS from the Ingress's secret)."""
    controller: k8s.helm.v3.Release
    certificate_validation: pulumi.Output[list[dict[str, str]]] | None = None
    """DNS records that validate a certificate requested here; None when config named one."""


def aws_load_balancer_controller(
    name: str,
    settings: AlbIngressSettings,
    *,
    cluster_name: pulumi.Input[str],
    cluster_arn: pulumi.Input[str],
    vpc_id: pulumi.Input[str],
    region: str,
    hostnames: Sequence[str],
    labels: dict[str, str],
    pod_identity_agent: pulumi.Resource,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
) -> ClusterIngress:
    """The controller (Helm), its Pod Identity role, and the certificate its load balancers serve."""
    child = pulumi.ResourceOptions(parent=parent)
    namespace = "kube-system"
    validation: pulumi.Output[list[dict[str, str]]] | None = None
    if settings.certificate_arn is not None:
        certificate_arn: pulumi.Output[str] | None = pulumi.Output.from_input(settings.certificate_arn)
    elif hostnames:
        certificate = aws.acm.Certificate(
            f"{name}-ingress-certificate",
            domain_name=hostnames[0],
            subject_alternative_names=list(hostnames[1:]),
            validation_method="DNS",
            opts=child,
        )
        certificate_arn = certificate.arn
        validation = certificate.domain_validation_options.apply(
            lambda options: [
                {
                    "name": option.resource_record_name or "",
                    "type": option.resource_record_type or "",
                    "value": option.resource_record_value or "",
                }
                for option in options or []
            ]
        )
    else:
        certificate_arn = None
    bound = PodIdentityRole(
        f"{name}-lb-controller",
        cluster_name=cluster_name,
        cluster_arn=cluster_arn,
        namespace=namespace,
        service_account=LOAD_BALANCER_CONTROLLER_SA,
        policy=load_balancer_controller_permissions(),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[pod_identity_agent]),
    )
    class_params: dict[str, object] = {"scheme": "internal", "sslPolicy": settings.ssl_policy}
    if certificate_arn is not None:
        class_params["certificateArn"] = [certificate_arn]
    controller = helm_release(
        f"{name}-lb-controller",
        "aws-load-balancer-controller",
        namespace=namespace,
        values={
            "clusterName": cluster_name,
            "region": region,
            "vpcId": vpc_id,
            "replicaCount": 2,
            "serviceAccount": {"create": True, "name": LOAD_BALANCER_CONTROLLER_SA},
            "createIngressClassResource": True,
            "ingressClass": settings.class_name,
            # Every load balancer of this class is internal and serves this certificate, whatever an
            # Ingress's annotations say.
            "ingressClassParams": {"create": True, "name": settings.class_name, "spec": class_params},
            # Only Ingress objects get load balancers; a Service of type LoadBalancer does not silently become one.
            "enableServiceMutatorWebhook": False,
            "nodeSelector": {label("pool"): "system"},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "additionalLabels": labels,
        },
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[bound.association, *depends_on]),
    )
    return ClusterIngress(settings.class_name, namespace, certificate_arn, controller, validation)


def ingress_nginx(
    name: str,
    settings: NginxIngressSettings,
    *,
    environment: str,
    data_class: str,
    monitoring_namespace: str,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
) -> ClusterIngress:
    """ingress-nginx in its own namespace: HTTPS only, reachable on 443 and by the API server's webhook call."""
    opts = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on))
    labels = platform_labels(environment=environment, data_class=data_class, component="ingress")
    namespace_name = "ingress-nginx"
    # The controller binds 443 with NET_BIND_SERVICE, which `restricted` forbids.
    namespace = secured_namespace(
        f"{name}-ingress-ns",
        name=namespace_name,
        labels=labels,
        pod_security="baseline",
        allow_from_namespaces=[monitoring_namespace],
        webhook_ports=[8443],
        opts=opts,
    )
    in_namespace = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    k8s.networking.v1.NetworkPolicy(
        f"{name}-ingress-allow-https",
        metadata={"name": "allow-https-from-clients", "namespace": namespace_name, "labels": labels},
        spec={
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": "controller"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": 443}]}],
        },
        opts=in_namespace,
    )
    controller = helm_release(
        f"{name}-ingress-nginx",
        "ingress-nginx",
        namespace=namespace_name,
        values={
            "controller": {
                "replicaCount": settings.replicas,
                "ingressClass": settings.class_name,
                "ingressClassResource": {"name": settings.class_name, "enabled": True, "default": False},
                "service": {"type": settings.service_type, "enableHttp": False},
                "config": {
                    "ssl-redirect": "true",
                    "force-ssl-redirect": "true",
                    "ssl-protocols": "TLSv1.2 TLSv1.3",
                    "hsts": "true",
                    "allow-snippet-annotations": "false",
                },
                "allowSnippetAnnotations": False,
                "metrics": {"enabled": True},
                "admissionWebhooks": {"enabled": True},
                "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                "labels": labels,
            }
        },
        opts=in_namespace,
    )
    return ClusterIngress(settings.class_name, namespace_name, None, controller)


def load_balancer_controller_permissions() -> str:
    """The AWS Load Balancer Controller's documented IAM policy (its `docs/install/iam_policy.json`).

    Writes are limited to load balancers, target groups and security groups the controller tagged
    with `elbv2.k8s.aws/cluster` itself; only reads and creates with that tag are unconditional.
    """
    owned = {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
    tags_on_create = {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}
    elb_resources = [
        "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
        "arn:aws:elasticloadbalancing:*:*:loadbalancer/net/*/*",
        "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*",
    ]
    statements: list[dict[str, object]] = [
        {
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        },
        {
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeAccountAttributes",
                "ec2:DescribeAddresses",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeVpcs",
                "ec2:DescribeVpcPeeringConnections",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeInstances",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeTags",
                "ec2:GetCoipPoolUsage",
                "ec2:DescribeCoipPools",
                "ec2:GetSecurityGroupsForVpc",
                "ec2:DescribeIpamPools",
                "ec2:DescribeRouteTables",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeListenerCertificates",
                "elasticloadbalancing:DescribeSSLPolicies",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTrustStores",
                "elasticloadbalancing:DescribeListenerAttributes",
                "elasticloadbalancing:DescribeCapacityReservation",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "cognito-idp:DescribeUserPoolClient",
                "acm:ListCertificates",
                "acm:DescribeCertificate",
                "iam:ListServerCertificates",
                "iam:GetServerCertificate",
                "waf-regional:GetWebACL",
                "waf-regional:GetWebACLForResource",
                "waf-regional:AssociateWebACL",
                "waf-regional:DisassociateWebACL",
                "wafv2:GetWebACL",
                "wafv2:GetWebACLForResource",
                "wafv2:AssociateWebACL",
                "wafv2:DisassociateWebACL",
                "shield:GetSubscriptionState",
                "shield:DescribeProtection",
                "shield:CreateProtection",
                "shield:DeleteProtection",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
            "Resource": "*",
        },
        {"Effect": "Allow", "Action": "ec2:CreateSecurityGroup", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "arn:aws:ec2:*:*:security-group/*",
            "Condition": {
                "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"},
                **tags_on_create,
            },
        },
        {
            "Effect": "Allow",
            "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
            "Resource": "arn:aws:ec2:*:*:security-group/*",
            "Condition": {
                "Null": {
                    "aws:RequestTag/elbv2.k8s.aws/cluster": "true",
                    "aws:ResourceTag/elbv2.k8s.aws/cluster": "false",
                }
            },
        },
        {
            "Effect": "Allow",
            "Action": [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
            ],
            "Resource": "*",
            "Condition": owned,
        },
        {
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
            "Resource": "*",
            "Condition": tags_on_create,
        },
        {
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteRule",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
            "Resource": elb_resources,
            "Condition": {
                "Null": {
                    "aws:RequestTag/elbv2.k8s.aws/cluster": "true",
                    "aws:ResourceTag/elbv2.k8s.aws/cluster": "false",
                }
            },
        },
        {
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
            "Resource": [
                "arn:aws:elasticloadbalancing:*:*:listener/net/*/*/*",
                "arn:aws:elasticloadbalancing:*:*:listener/app/*/*/*",
                "arn:aws:elasticloadbalancing:*:*:listener-rule/net/*/*/*",
                "arn:aws:elasticloadbalancing:*:*:listener-rule/app/*/*/*",
            ],
        },
        {
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetIpAddressType",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyListenerAttributes",
                "elasticloadbalancing:ModifyCapacityReservation",
                "elasticloadbalancing:ModifyIpPools",
            ],
            "Resource": "*",
            "Condition": owned,
        },
        {
            "Effect": "Allow",
            "Action": "elasticloadbalancing:AddTags",
            "Resource": elb_resources,
            "Condition": {
                "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
                **tags_on_create,
            },
        },
        {
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
            "Resource": "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:SetWebAcl",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:AddListenerCertificates",
                "elasticloadbalancing:RemoveListenerCertificates",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:SetRulePriorities",
            ],
            "Resource": "*",
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)
