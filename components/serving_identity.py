"""`ServingIdentity`: the AWS identity of one inference platform's Ray head and worker pods (EKS only).

The pods run as the service account `SERVING_SERVICE_ACCOUNT` in the platform's namespace; EKS Pod
Identity hands them credentials of a role that can do exactly what the services do and nothing more:
read the models under the serving prefixes, write audit segments with their Object Lock retention,
read the gateway's API-key secret, log in to the state database as the gateway's user, and use the
platform key for those three through S3 and Secrets Manager only. Every action and resource is named:
the policy pack's `serving-role-no-wildcards` finds the role by its `rampart:workload` tag and refuses
a wildcard.

On-prem clusters get no identity at all: their pods hold no AWS credentials.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components._pod_identity import PodIdentityRole
from platform_facts.identity import SERVING_ROLE_TAG, SERVING_ROLE_TAG_VALUE
from platform_facts.project import type_token

__all__ = [
    "AUDIT_PREFIX",
    "SERVING_MODEL_PREFIXES",
    "SERVING_SERVICE_ACCOUNT",
    "ServingIdentity",
    "ServingIdentityArgs",
    "serving_permissions",
]

SERVING_SERVICE_ACCOUNT = "ray-serving"
"""The Kubernetes service account of every Ray pod (head and workers) of an inference platform."""
SERVING_MODEL_PREFIXES = ("embedders/", "llm/", "indexes/")
"""Key prefixes of the model bucket the serve configs load from (`s3://<bucket>/<prefix>...`)."""
AUDIT_PREFIX = "audit/"
"""Key prefix the gateway uploads audit segments under (the gateway config's `audit.upload.prefix`)."""


def _checked_prefix(field: str, prefix: str) -> str:
    if not prefix or not prefix.endswith("/") or prefix.startswith("/") or any(c in prefix for c in "*?"):
        raise ValueError(f"{field}: {prefix!r} must be a key prefix ending in '/' without wildcards")
    return prefix


def serving_permissions(
    *,
    region: str,
    model_bucket_arn: str,
    model_prefixes: Sequence[str],
    audit_bucket_arn: str,
    audit_prefix: str,
    gateway_keys_secret_arn: str,
    kms_key_arn: str,
    state_connect_arn: str | None = None,
) -> str:
    """The serving role's permissions (pure): each action on the resources it needs, none on `*`.

    `state_connect_arn` (`arn:aws:rds-db:...:dbuser:<resource id>/<user>`): log in to the state database
    as that one user with IAM tokens."""
    s3 = f"s3.{region}.amazonaws.com"
    secretsmanager = f"secretsmanager.{region}.amazonaws.com"
    state = (
        [{"Sid": "ConnectToStateDatabase", "Effect": "Allow", "Action": "rds-db:connect",
          "Resource": state_connect_arn}]
        if state_connect_arn is not None
        else []
    )
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                *state,
                {
                    "Sid": "ReadModels",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": [f"{model_bucket_arn}/{prefix}*" for prefix in model_prefixes],
                },
                {
                    "Sid": "ListModels",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": model_bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in model_prefixes]}},
                },
                {
                    "Sid": "WriteAuditSegments",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:PutObjectRetention"],
                    "Resource": f"{audit_bucket_arn}/{audit_prefix}*",
                },
                {
                    "Sid": "ReadGatewayKeys",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": gateway_keys_secret_arn,
                },
                {
                    "Sid": "DecryptThroughS3AndSecretsManager",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": kms_key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": [s3, secretsmanager]}},
                },
                {
                    "Sid": "EncryptAuditSegments",
                    "Effect": "Allow",
                    "Action": "kms:GenerateDataKey",
                    "Resource": kms_key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": s3}},
                },
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class ServingIdentityArgs:
    """Inputs of a `ServingIdentity`: the cluster, the platform's namespace and what the services reach."""

    region: str
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    namespace: str
    """The platform's namespace (`rampart-<platform>`)."""
    model_bucket_arn: pulumi.Input[str]
    audit_bucket_arn: pulumi.Input[str]
    gateway_keys_secret_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    pod_identity_agent: pulumi.Resource
    """The cluster's `eks-pod-identity-agent` add-on: without it an association hands out nothing."""
    model_prefixes: Sequence[str] = SERVING_MODEL_PREFIXES
    audit_prefix: str = AUDIT_PREFIX
    state_connect_arn: pulumi.Input[str] | None = None
    """The state database user the gateway logs in as (`StateDatabase.connect_resource_arn`); `None`: no database."""

    def __post_init__(self) -> None:
        if not self.model_prefixes:
            raise ValueError("model_prefixes: name at least one prefix")
        for index, prefix in enumerate(self.model_prefixes):
            _checked_prefix(f"model_prefixes[{index}]", prefix)
        _checked_prefix("audit_prefix", self.audit_prefix)


class ServingIdentity(pulumi.ComponentResource):
    """The serving role and its Pod Identity association to `SERVING_SERVICE_ACCOUNT`.

    Outputs: `role_arn`; `service_account` (always `SERVING_SERVICE_ACCOUNT`).
    """

    role_arn: pulumi.Output[str]
    service_account: str

    def __init__(self, name: str, args: ServingIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("ServingIdentity"), name, None, opts)
        permissions = pulumi.Output.all(
            args.model_bucket_arn, args.audit_bucket_arn, args.gateway_keys_secret_arn, args.kms_key_arn,
            args.state_connect_arn,
        ).apply(
            lambda arns: serving_permissions(
                region=args.region,
                model_bucket_arn=arns[0],
                model_prefixes=args.model_prefixes,
                audit_bucket_arn=arns[1],
                audit_prefix=args.audit_prefix,
                gateway_keys_secret_arn=arns[2],
                kms_key_arn=arns[3],
                state_connect_arn=arns[4],
            )
        )
        bound = PodIdentityRole(
            f"{name}-serving",
            cluster_name=args.cluster_name,
            cluster_arn=args.cluster_arn,
            namespace=args.namespace,
            service_account=SERVING_SERVICE_ACCOUNT,
            policy=permissions,
            tags={SERVING_ROLE_TAG: SERVING_ROLE_TAG_VALUE},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.pod_identity_agent]),
        )
        self.role_arn = bound.role.arn
        self.service_account = SERVING_SERVICE_ACCOUNT
        self.register_outputs({"role_arn": self.role_arn, "service_account": self.service_account})
