"""EKS Pod Identity: an IAM role that exactly one service account of one cluster may assume.

Internal to `components/`: the serving identity, the ingress controller and the cluster autoscaler
each bind their own role this way. Pod Identity (not IRSA) because the association is an AWS
resource the stack owns, with no OIDC trust to keep in step with the cluster's issuer.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

__all__ = ["PodIdentityRole", "pod_identity_trust_policy"]

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def pod_identity_trust_policy(cluster_arn: str, namespace: str, service_account: str) -> str:
    """Trust policy for EKS Pod Identity, narrowed to one cluster, namespace and service account.

    EKS Pod Identity sets these as session tags when it assumes the role (hence `sts:TagSession`);
    without the conditions any Pod Identity association in the account could assume the role.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EksPodIdentity",
                    "Effect": "Allow",
                    "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": {
                        "StringEquals": {
                            "aws:RequestTag/eks-cluster-arn": cluster_arn,
                            "aws:RequestTag/kubernetes-namespace": namespace,
                            "aws:RequestTag/kubernetes-service-account": service_account,
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


class PodIdentityRole:
    """A role with inline permissions and its Pod Identity association (not a component: its parts
    belong to the component that needs them, with names derived from `resource_name`)."""

    role: aws.iam.Role
    association: aws.eks.PodIdentityAssociation

    def __init__(
        self,
        resource_name: str,
        *,
        cluster_name: pulumi.Input[str],
        cluster_arn: pulumi.Input[str],
        namespace: str,
        service_account: str,
        policy: pulumi.Input[str],
        tags: dict[str, str] | None = None,
        opts: pulumi.ResourceOptions,
    ) -> None:
        self.role = aws.iam.Role(
            f"{resource_name}-role",
            assume_role_policy=pulumi.Output.from_input(cluster_arn).apply(
                lambda arn: pod_identity_trust_policy(arn, namespace, service_account)
            ),
            # Inline, so the permissions live and die with the role and a policy reads them off the role.
            inline_policies=[{"name": f"{resource_name}-permissions", "policy": policy}],
            tags=tags,
            opts=opts,
        )
        self.association = aws.eks.PodIdentityAssociation(
            f"{resource_name}-pod-identity",
            cluster_name=cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=self.role.arn,
            opts=opts,
        )
