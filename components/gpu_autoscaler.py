"""cluster-autoscaler for an EKS cluster's managed node groups: GPU capacity that follows pending pods.

A managed GPU group whose `min_size` is below its `max_size` only moves between them when something
resizes it; without an owner it stays at its desired size forever. cluster-autoscaler discovers the
groups by their tags (EKS tags each managed group's Auto Scaling group with
`k8s.io/cluster-autoscaler/enabled` and `k8s.io/cluster-autoscaler/<cluster>`; the node groups carry
the same tags in the plan so the policy pack can see them) and may resize only Auto Scaling groups
tagged as this cluster's. Karpenter owns its own capacity: a cluster on Karpenter gets no autoscaler.

Internal to `components/`: `GpuCluster` installs it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components._kubernetes import helm_release
from components._pod_identity import PodIdentityRole
from components.gpu_cluster_settings import GpuNodePool
from platform_facts.eks import AUTOSCALER_ENABLED_TAG, autoscaler_owner_tag
from platform_facts.project import label

__all__ = [
    "CLUSTER_AUTOSCALER_SA",
    "autoscaler_permissions",
    "cluster_autoscaler",
    "discovery_tags",
    "needs_autoscaler",
]

CLUSTER_AUTOSCALER_SA = "cluster-autoscaler"


def needs_autoscaler(pools: Sequence[GpuNodePool]) -> bool:
    """Whether any managed GPU group may grow or shrink (min below max) and so needs an owner."""
    return any(pool.min_size < pool.max_size for pool in pools)


def discovery_tags(cluster_name: str) -> dict[str, str]:
    """The auto-discovery tags cluster-autoscaler selects node groups by."""
    return {AUTOSCALER_ENABLED_TAG: "true", autoscaler_owner_tag(cluster_name): "owned"}


def autoscaler_permissions(cluster_name: str, cluster_arn: str) -> str:
    """Resize and end instances only in Auto Scaling groups tagged as this cluster's; read the rest.

    `eks:DescribeNodegroup` (scale from zero: the group's labels and taints) is limited to this
    cluster's node groups.
    """
    nodegroups = cluster_arn.replace(":cluster/", ":nodegroup/", 1) + "/*/*"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ResizeThisClustersGroups",
                    "Effect": "Allow",
                    "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {f"aws:ResourceTag/{autoscaler_owner_tag(cluster_name)}": "owned"}},
                },
                {
                    "Sid": "Discover",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations",
                        "autoscaling:DescribeScalingActivities",
                        "autoscaling:DescribeTags",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:GetInstanceTypesFromInstanceRequirements",
                    ],
                    "Resource": "*",
                },
                {"Sid": "ReadNodeGroups", "Effect": "Allow", "Action": "eks:DescribeNodegroup", "Resource": nodegroups},
            ],
        },
        sort_keys=True,
    )


def cluster_autoscaler(
    name: str,
    *,
    cluster_name: str,
    cluster_arn: pulumi.Input[str],
    region: str,
    kubernetes_version: str,
    labels: dict[str, str],
    pod_identity_agent: pulumi.Resource,
    parent: pulumi.Resource,
    provider: k8s.Provider,
) -> k8s.helm.v3.Release:
    """cluster-autoscaler (Helm) in `kube-system` with its Pod Identity role.

    The autoscaler's minor version follows the cluster's (`v<kubernetes_version>.0`), as upstream requires.
    """
    namespace = "kube-system"
    bound = PodIdentityRole(
        f"{name}-autoscaler",
        cluster_name=cluster_name,
        cluster_arn=cluster_arn,
        namespace=namespace,
        service_account=CLUSTER_AUTOSCALER_SA,
        policy=pulumi.Output.from_input(cluster_arn).apply(lambda arn: autoscaler_permissions(cluster_name, arn)),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[pod_identity_agent]),
    )
    return helm_release(
        f"{name}-cluster-autoscaler",
        "cluster-autoscaler",
        namespace=namespace,
        values={
            "cloudProvider": "aws",
            "awsRegion": region,
            "autoDiscovery": {"clusterName": cluster_name},
            "image": {"tag": f"v{kubernetes_version}.0"},
            "rbac": {"serviceAccount": {"create": True, "name": CLUSTER_AUTOSCALER_SA}},
            "extraArgs": {
                # GPU groups of the same shape in several zones grow together.
                "balance-similar-node-groups": True,
                "expander": "least-waste",
                "skip-nodes-with-local-storage": False,
                "scale-down-unneeded-time": "10m",
            },
            "nodeSelector": {label("pool"): "system"},
            "resources": {"requests": {"cpu": "100m", "memory": "600Mi"}, "limits": {"cpu": "1", "memory": "600Mi"}},
            "containerSecurityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "additionalLabels": labels,
        },
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[bound.association]),
    )
