"""`StateRoleBootstrap`: the one-time Job that creates the gateway's database role on RDS (EKS only).

RDS IAM authentication needs a database role that holds `rds_iam`. Only the master user can create it,
and its password lives in the Secrets Manager secret RDS manages. A Job in a namespace of its own runs
`python -m services.state.rds_roles` from the serving image under a Pod Identity role that may read
that one secret (and decrypt it through Secrets Manager only). A gateway replica that starts before the
Job has run cannot log in yet and Ray Serve restarts it. The gateway creates the schema itself (Alembic).
Nothing else in the cluster can read the master secret: the serving pods' role cannot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components._kubernetes import SERVING_IMAGE_CONTAINER_SECURITY, secured_namespace
from components._pod_identity import PodIdentityRole
from platform_facts.project import platform_namespace, type_token

__all__ = [
    "BOOTSTRAP_NAMESPACE",
    "BOOTSTRAP_SERVICE_ACCOUNT",
    "StateRoleBootstrap",
    "StateRoleBootstrapArgs",
    "bootstrap_job_spec",
    "bootstrap_permissions",
]

BOOTSTRAP_NAMESPACE = platform_namespace("state-bootstrap")
BOOTSTRAP_SERVICE_ACCOUNT = "state-bootstrap"
_RESOURCES = {"cpu": "250m", "memory": "256Mi"}


def bootstrap_permissions(*, region: str, master_secret_arn: str, kms_key_arn: str) -> str:
    """The Job's permissions (pure): read the master secret, decrypt it through Secrets Manager only."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ReadMasterSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": master_secret_arn},
                {"Sid": "DecryptThroughSecretsManager", "Effect": "Allow", "Action": "kms:Decrypt",
                 "Resource": kms_key_arn,
                 "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}},
            ],
        },
        sort_keys=True,
    )


def bootstrap_job_spec(
    *, image: str, address: str, port: int, database: str, iam_user: str, master_secret_arn: str, region: str
) -> dict[str, Any]:
    """The Job's spec (pure): one locked-down container, retried a few times while RDS comes up."""
    command = [
        "python", "-m", "services.state.rds_roles", "--host", address, "--port", str(port), "--database", database,
        "--user", iam_user, "--master-secret-arn", master_secret_arn, "--region", region,
    ]
    return {
        "backoffLimit": 6,
        "template": {
            "spec": {
                "serviceAccountName": BOOTSTRAP_SERVICE_ACCOUNT,
                # Pod Identity hands AWS credentials through its own projected token, not this one.
                "automountServiceAccountToken": False,
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "roles",
                        "image": image,
                        "command": command,
                        "env": [
                            {"name": "AWS_REGION", "value": region},
                            {"name": "AWS_DEFAULT_REGION", "value": region},
                        ],
                        "resources": {"requests": dict(_RESOURCES), "limits": dict(_RESOURCES)},
                        "securityContext": SERVING_IMAGE_CONTAINER_SECURITY,
                    }
                ],
            }
        },
    }


@dataclass(frozen=True)
class StateRoleBootstrapArgs:
    """Inputs of a `StateRoleBootstrap`: the database, where its master secret is, the cluster that runs the Job."""

    region: str
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    pod_identity_agent: pulumi.Resource
    """The cluster's `eks-pod-identity-agent` add-on: without it the Job gets no AWS credentials."""
    image: pulumi.Input[str]
    """The serving image (it carries `services.state.rds_roles` and its dependencies)."""
    address: pulumi.Input[str]
    port: int
    database: str
    iam_user: str
    master_secret_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    """The key RDS encrypts the master secret with."""
    labels: Mapping[str, str]


class StateRoleBootstrap(pulumi.ComponentResource):
    """Namespace, service account, Pod Identity role and the Job. Output: `job` (what platforms wait for)."""

    job: k8s.batch.v1.Job

    def __init__(
        self,
        name: str,
        args: StateRoleBootstrapArgs,
        *,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("StateRoleBootstrap"), name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = secured_namespace(
            f"{name}-ns", name=BOOTSTRAP_NAMESPACE, labels=args.labels, pod_security="restricted", opts=on_cluster
        )
        inside = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[namespace]))
        metadata = {"namespace": BOOTSTRAP_NAMESPACE, "labels": dict(args.labels)}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata={**metadata, "name": BOOTSTRAP_SERVICE_ACCOUNT},
            automount_service_account_token=False, opts=inside,
        )
        permissions = pulumi.Output.all(args.master_secret_arn, args.kms_key_arn).apply(
            lambda arns: bootstrap_permissions(region=args.region, master_secret_arn=arns[0], kms_key_arn=arns[1])
        )
        identity = PodIdentityRole(
            f"{name}-reader",
            cluster_name=args.cluster_name,
            cluster_arn=args.cluster_arn,
            namespace=BOOTSTRAP_NAMESPACE,
            service_account=BOOTSTRAP_SERVICE_ACCOUNT,
            policy=permissions,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.pod_identity_agent]),
        )
        spec = pulumi.Output.all(args.image, args.address, args.master_secret_arn).apply(
            lambda values: bootstrap_job_spec(
                image=values[0], address=values[1], port=args.port, database=args.database, iam_user=args.iam_user,
                master_secret_arn=values[2], region=args.region,
            )
        )
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={**metadata, "name": "state-roles"},
            spec=spec,
            # A Job's template cannot change in place: a new image or database replaces it (the statements are
            # idempotent, so running again is harmless).
            opts=pulumi.ResourceOptions.merge(
                inside,
                pulumi.ResourceOptions(depends_on=[account, identity.association], delete_before_replace=True),
            ),
        )
        self.register_outputs({})
