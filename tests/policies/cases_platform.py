"""Per-rule cases for what an AI platform on EKS adds: control-plane logs, node access and metadata,
subnets, network ACLs, user data, service wildcards, load balancers, seccomp and service-account tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

from platform_facts import project
from tests.policies import cases_aws, cases_k8s
from tests.policies.harness import DELETE, Mutation, RuleCases

PROD = project.environment_prefix("prod")

CLUSTER = "aws:eks/cluster:Cluster"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
BOOT = "#!/bin/bash\nset -euo pipefail\nexport MODEL_ID=meta-llama/Llama-3.1-8B\n/etc/eks/bootstrap.sh gpu\n"
POD = "spec.template.spec"


def logged_cluster() -> dict[str, Any]:
    return {**cases_aws.eks_cluster(), "enabledClusterLogTypes": list(LOG_TYPES)}


def node_group() -> dict[str, Any]:
    return {
        **cases_aws.gpu_node_group(),
        "remoteAccess": {"ec2SshKey": "ops", "sourceSecurityGroupIds": ["sg-bastion"]},
    }


def node_launch_template() -> dict[str, Any]:
    template = cases_aws.launch_template()
    template["metadataOptions"]["httpPutResponseHopLimit"] = 1
    template["userData"] = base64.b64encode(BOOT.encode()).decode()
    return template


def network_acl() -> dict[str, Any]:
    return {
        "vpcId": "vpc-1",
        "ingress": [
            {
                "ruleNo": 100,
                "action": "allow",
                "protocol": "tcp",
                "fromPort": 443,
                "toPort": 443,
                "cidrBlock": "0.0.0.0/0",
            },
            {
                "ruleNo": 110,
                "action": "allow",
                "protocol": "tcp",
                "fromPort": 22,
                "toPort": 22,
                "cidrBlock": "10.0.0.0/16",
            },
        ],
    }


def deployment() -> dict[str, Any]:
    workload = cases_k8s.deployment()
    workload["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
    return workload


def _user_data(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CASES = [
    RuleCases(
        "eks-control-plane-audit-logging",
        CLUSTER,
        logged_cluster,
        (
            Mutation.one(
                "enabledClusterLogTypes",
                ["api", "authenticator"],
                "EKS cluster subject must ship the control-plane logs audit, controllerManager, scheduler "
                "(enabledClusterLogTypes).",
            ),
        ),
        Mutation(
            "enabledClusterLogTypes",
            DELETE,
            (
                "EKS cluster subject must ship the control-plane logs api, audit, authenticator, controllerManager, "
                "scheduler (enabledClusterLogTypes).",
            ),
        ),
        "enabledClusterLogTypes",
    ),
    RuleCases(
        "eks-node-group-no-public-ssh",
        "aws:eks/nodeGroup:NodeGroup",
        node_group,
        (
            Mutation.one(
                "remoteAccess.sourceSecurityGroupIds",
                [],
                "Node group subject must not open SSH to the internet: name remoteAccess.sourceSecurityGroupIds.",
            ),
        ),
        Mutation("remoteAccess", DELETE, ()),  # no remote access, no SSH
        "remoteAccess.sourceSecurityGroupIds",
    ),
    RuleCases(
        "subnets-no-public-ip-on-launch",
        "aws:ec2/subnet:Subnet",
        lambda: {"vpcId": "vpc-1", "cidrBlock": "10.0.224.0/22", "mapPublicIpOnLaunch": False},
        (
            Mutation.one(
                "mapPublicIpOnLaunch",
                True,
                "Subnet subject must not assign public IP addresses on launch (mapPublicIpOnLaunch).",
            ),
        ),
        Mutation("mapPublicIpOnLaunch", DELETE, ()),  # false is the API's default
        "mapPublicIpOnLaunch",
    ),
    RuleCases(
        "nacl-no-public-admin-ingress",
        "aws:ec2/networkAcl:NetworkAcl",
        network_acl,
        (
            Mutation.one(
                "ingress.1.cidrBlock",
                "0.0.0.0/0",
                "Network ACL subject must not allow ingress from 0.0.0.0/0 to administration port 22.",
            ),
            Mutation(
                "ingress.1",
                {
                    "ruleNo": 110,
                    "action": "allow",
                    "protocol": "-1",
                    "fromPort": 0,
                    "toPort": 0,
                    "ipv6CidrBlock": "::/0",
                },
                tuple(
                    f"Network ACL subject must not allow ingress from ::/0 to administration port {port}."
                    for port in (22, 3389, 5985, 5986)
                ),
            ),
            Mutation("ingress.1", {**network_acl()["ingress"][1], "action": "deny", "cidrBlock": "0.0.0.0/0"}, ()),
        ),
        Mutation("ingress", DELETE, ()),
        "ingress.1.cidrBlock",
    ),
    RuleCases(
        "nacl-no-public-admin-ingress",
        "aws:ec2/networkAclRule:NetworkAclRule",
        lambda: {
            "networkAclId": "acl-1",
            "ruleNumber": 120,
            "egress": False,
            "ruleAction": "allow",
            "protocol": "tcp",
            "fromPort": 3389,
            "toPort": 3389,
            "cidrBlock": "10.0.0.0/16",
        },
        (
            Mutation.one(
                "cidrBlock",
                "0.0.0.0/0",
                "Network ACL subject must not allow ingress from 0.0.0.0/0 to administration port 3389.",
            ),
        ),
        Mutation("cidrBlock", DELETE, ()),
        "cidrBlock",
    ),
    RuleCases(
        "imds-hop-limit-one",
        LAUNCH_TEMPLATE,
        node_launch_template,
        (
            Mutation.one(
                "metadataOptions.httpPutResponseHopLimit",
                2,
                "Launch template subject must set metadataOptions.httpPutResponseHopLimit to 1, not 2, so that pods "
                "cannot reach the node role's credentials.",
            ),
        ),
        Mutation("metadataOptions.httpPutResponseHopLimit", DELETE, ()),  # unset is 1 for launch templates
        "metadataOptions.httpPutResponseHopLimit",
    ),
    RuleCases(
        "imds-hop-limit-one",
        "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
        cases_aws.node_class,
        (
            Mutation.one(
                "spec.metadataOptions.httpPutResponseHopLimit",
                2,
                "EC2NodeClass subject must set spec.metadataOptions.httpPutResponseHopLimit to 1, not 2, so that pods "
                "cannot reach the node role's credentials.",
            ),
        ),
        Mutation("spec.metadataOptions", DELETE, ()),  # Karpenter's default is 1
        "spec.metadataOptions",
    ),
    RuleCases(
        "no-secrets-in-user-data",
        LAUNCH_TEMPLATE,
        node_launch_template,
        (
            Mutation.one(
                "userData",
                _user_data(BOOT + "export HF_TOKEN=hf_" + "a" * 34 + "\n"),
                "Launch template subject must not carry the secret HF_TOKEN in its user data; read it from Secrets "
                "Manager.",
            ),
            Mutation.one(
                "userData",
                _user_data(BOOT + "docker login -p nvapi-" + "b" * 40 + " nvcr.io\n"),
                "Launch template subject must not carry a credential in its user data; read it from Secrets Manager.",
            ),
            Mutation(
                "userData",
                _user_data(BOOT + 'HF_TOKEN="$(aws secretsmanager get-secret-value --secret-id hub)"\n'),
                (),
            ),
        ),
        Mutation("userData", DELETE, ()),
        "userData",
    ),
    RuleCases(
        "no-secrets-in-user-data",
        "aws:ec2/instance:Instance",
        lambda: {**cases_aws.instance(), "userData": BOOT},
        (
            Mutation.one(
                "userData",
                BOOT + "NGC_API_KEY=nvapi-" + "c" * 40 + "\n",
                "Instance subject must not carry the secret NGC_API_KEY in its user data; read it from Secrets "
                "Manager.",
            ),
        ),
        Mutation("userData", DELETE, ()),
        "userData",
    ),
    RuleCases(
        "iam-no-service-wildcard-on-all-resources",
        "aws:iam/rolePolicy:RolePolicy",
        cases_aws.role_policy,
        (
            Mutation.one(
                "policy",
                json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]}),
                "subject must not allow every s3 action (s3:*) on every resource (*).",
            ),
            Mutation(
                "policy",
                json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::models/*"}]}),
                (),
            ),
            Mutation(
                "policy",
                json.dumps({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}),
                (),
            ),
        ),
        Mutation("policy", DELETE, ()),
        "policy",
    ),
    RuleCases(
        "lb-internal-unless-gateway",
        "aws:lb/loadBalancer:LoadBalancer",
        lambda: {"loadBalancerType": "application", "internal": True, "subnets": ["subnet-1", "subnet-2"]},
        (
            Mutation.one(
                "internal",
                False,
                "Load balancer subject must be internal (internal = true); only the gateway's ingress load balancer "
                "may face the internet.",
            ),
            Mutation("name", f"{PROD}-gateway-ingress", ()),
        ),
        Mutation(
            "internal",
            DELETE,
            (
                "Load balancer subject must be internal (internal = true); only the gateway's ingress load balancer "
                "may face the internet.",
            ),
        ),
        "internal",
    ),
    RuleCases(
        "k8s-seccomp-runtime-default",
        cases_k8s.DEPLOYMENT,
        cases_k8s.deployment,
        (
            Mutation.one(
                f"{POD}.securityContext.seccompProfile.type",
                "Unconfined",
                "Deployment subject container server must set securityContext.seccompProfile.type to RuntimeDefault.",
            ),
            Mutation.one(
                f"{POD}.containers.0.securityContext.seccompProfile",
                {"type": "Unconfined"},
                "Deployment subject container server must set securityContext.seccompProfile.type to RuntimeDefault.",
            ),
        ),
        Mutation(
            f"{POD}.securityContext.seccompProfile",
            DELETE,
            ("Deployment subject container server must set securityContext.seccompProfile.type to RuntimeDefault.",),
        ),
        f"{POD}.securityContext.seccompProfile.type",
    ),
    RuleCases(
        "k8s-no-service-account-token-automount",
        cases_k8s.DEPLOYMENT,
        deployment,
        (
            Mutation.one(
                f"{POD}.automountServiceAccountToken",
                True,
                "Deployment subject must set automountServiceAccountToken to false unless its service account is "
                "one that needs the API.",
            ),
        ),
        Mutation(
            f"{POD}.automountServiceAccountToken",
            DELETE,
            (
                "Deployment subject must set automountServiceAccountToken to false unless its service account is one "
                "that needs the API.",
            ),
        ),
        f"{POD}.automountServiceAccountToken",
    ),
]
