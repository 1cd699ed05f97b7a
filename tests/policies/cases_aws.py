"""Per-rule cases for the AWS domains: network, storage, compute, IAM, residency, tags."""

from __future__ import annotations

import json
from typing import Any

from platform_facts import project
from tests.policies.harness import DELETE, Mutation, Res, RuleCases, aws_provider

SG = "aws:ec2/securityGroup:SecurityGroup"
TAGS = {
    project.tag("environment"): "prod",
    project.tag("owner"): "platform-team",
    project.tag("cost-center"): "cc-ai",
    project.tag("data-class"): "regulated",
}


def security_group() -> dict[str, Any]:
    return {
        "description": "HTTPS from inside the VPC to the interface endpoints",
        "ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/16"]}],
        "egress": [],
    }


def eks_cluster() -> dict[str, Any]:
    return {
        "roleArn": "arn:aws:iam::123456789012:role/eks",
        "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": ["subnet-1"]},
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}},
    }


def launch_template() -> dict[str, Any]:
    return {
        "instanceType": "g6.xlarge",
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2},
        "networkInterfaces": [{"associatePublicIpAddress": "false", "deviceIndex": 0}],
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeSize": 200}}],
    }


def instance() -> dict[str, Any]:
    return {
        "instanceType": "m7i.large",
        "associatePublicIpAddress": False,
        "metadataOptions": {"httpTokens": "required"},
        "rootBlockDevice": {"encrypted": True, "volumeSize": 50},
    }


def gpu_node_group() -> dict[str, Any]:
    return {
        "clusterName": "gpu",
        "instanceTypes": ["g6.xlarge"],
        "amiType": "AL2023_x86_64_NVIDIA",
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"desiredSize": 2, "minSize": 0, "maxSize": 4},
    }


def node_class() -> dict[str, Any]:
    return {
        "metadata": {"name": "gpu"},
        "spec": {"amiSelectorTerms": [{"alias": "al2023@v20251101"}], "metadataOptions": {"httpTokens": "required"}},
    }


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def role_policy() -> dict[str, Any]:
    return {
        "role": "nodes",
        "policy": _doc({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::models/*"]}),
    }


def bucket_policy() -> dict[str, Any]:
    return {
        "bucket": "models",
        "policy": _doc(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::models/*",
            },
        ),
    }


OIDC = "oidc.eks.us-east-1.amazonaws.com/id/ABC"


def irsa_role() -> dict[str, Any]:
    return {
        "assumeRolePolicy": _doc(
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{OIDC}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{OIDC}:sub": "system:serviceaccount:serving:gateway",
                        f"{OIDC}:aud": "sts.amazonaws.com",
                    }
                },
            }
        )
    }


# --- stack fixtures -------------------------------------------------------------------------------


def bucket_stack() -> list[Res]:
    policy = json.loads(bucket_policy()["policy"])
    return [
        Res(project.type_token("AuditStore"), "audit", {}),
        Res("aws:s3/bucket:Bucket", "audit-bucket", {"bucket": "audit-1", "objectLockEnabled": True}, parent="audit"),
        Res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "audit-pab",
            {
                "bucket": "audit-1",
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            depends_on=("audit-bucket",),
        ),
        Res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "audit-sse",
            {
                "bucket": "audit-1",
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": "arn:aws:kms:us-east-1:1:key/k",
                        },
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            depends_on=("audit-bucket",),
        ),
        Res(
            "aws:s3/bucketVersioning:BucketVersioning",
            "audit-versioning",
            {"bucket": "audit-1", "versioningConfiguration": {"status": "Enabled"}},
            depends_on=("audit-bucket",),
        ),
        Res(
            "aws:s3/bucketPolicy:BucketPolicy",
            "audit-policy",
            {"bucket": "audit-1", "policy": json.dumps(policy)},
            depends_on=("audit-bucket",),
        ),
        Res(
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            "audit-lock",
            {
                "bucket": "audit-1",
                "objectLockEnabled": "Enabled",
                "rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 2555}},
            },
            depends_on=("audit-bucket",),
        ),
    ]


def vpc_stack() -> list[Res]:
    return [
        Res("aws:ec2/vpc:Vpc", "vpc", {"id": "vpc-1", "cidrBlock": "10.0.0.0/16"}),
        Res("aws:ec2/flowLog:FlowLog", "flow-log", {"vpcId": "vpc-1", "trafficType": "ALL"}),
    ]


CASES = [
    RuleCases(
        "no-public-admin-ingress",
        SG,
        security_group,
        (
            Mutation.one(
                "ingress.0",
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]},
                "subject must not allow ingress from 0.0.0.0/0 to administration port 22.",
            ),
            Mutation.one(
                "ingress.0",
                {"protocol": "tcp", "fromPort": 3000, "toPort": 4000, "ipv6CidrBlocks": ["::/0"]},
                "subject must not allow ingress from ::/0 to administration port 3389.",
            ),
            Mutation(
                "ingress.0",
                {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]},
                tuple(
                    f"subject must not allow ingress from 0.0.0.0/0 to administration port {p}."
                    for p in (22, 3389, 5985, 5986)
                ),
            ),
        ),
        Mutation("ingress", DELETE, ()),
        "ingress.0.cidrBlocks",
    ),
    RuleCases(
        "no-public-database-ingress",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        lambda: {
            "type": "ingress",
            "protocol": "tcp",
            "fromPort": 5432,
            "toPort": 5432,
            "cidrBlocks": ["10.0.0.0/16"],
            "securityGroupId": "sg-1",
        },
        (
            Mutation.one(
                "cidrBlocks",
                ["10.0.0.0/16", "0.0.0.0/0"],
                "subject must not allow ingress from 0.0.0.0/0 to database port 5432.",
            ),
            Mutation.one("ipv6CidrBlocks", ["::/0"], "subject must not allow ingress from ::/0 to database port 5432."),
        ),
        Mutation("cidrBlocks", DELETE, ()),
        "cidrBlocks",
    ),
    RuleCases(
        "eks-endpoint-private",
        "aws:eks/cluster:Cluster",
        eks_cluster,
        (
            Mutation.one(
                "vpcConfig.endpointPublicAccess",
                True,
                "EKS cluster subject must keep its API endpoint private or restrict publicAccessCidrs.",
            ),
        ),
        Mutation(
            "vpcConfig.endpointPublicAccess",
            DELETE,
            ("EKS cluster subject must keep its API endpoint private or restrict publicAccessCidrs.",),
        ),
        "vpcConfig.endpointPublicAccess",
    ),
    RuleCases(
        "vpc-flow-logs-enabled",
        "",
        vpc_stack,
        (Mutation.one("flow-log/vpcId", "vpc-other", "VPC vpc must have a flow log."),),
        Mutation("flow-log/vpcId", DELETE, ("VPC vpc must have a flow log.",)),
        "flow-log/vpcId",
    ),
    RuleCases(
        "no-public-ip-on-node-launch-templates",
        "aws:ec2/launchTemplate:LaunchTemplate",
        launch_template,
        (
            Mutation.one(
                "networkInterfaces.0.associatePublicIpAddress",
                "true",
                "Launch template subject must not associate public IP addresses with node interfaces.",
            ),
        ),
        Mutation("networkInterfaces", DELETE, ()),
        "networkInterfaces.0.associatePublicIpAddress",
    ),
    RuleCases(
        "no-public-ip-on-instances",
        "aws:ec2/instance:Instance",
        instance,
        (Mutation.one("associatePublicIpAddress", True, "Instance subject must not have a public IP address."),),
        Mutation("associatePublicIpAddress", DELETE, ()),
        "associatePublicIpAddress",
    ),
    RuleCases(
        "default-security-group-closed",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        lambda: {"vpcId": "vpc-1", "ingress": [], "egress": []},
        (
            Mutation.one(
                "egress",
                [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}],
                "Default security group subject must have no ingress or egress rules.",
            ),
        ),
        Mutation("ingress", DELETE, ()),
        "ingress",
    ),
    RuleCases(
        "security-group-described",
        SG,
        security_group,
        (
            Mutation.one(
                "description",
                "Managed by Pulumi",
                "Security group subject must have a description that says what it admits.",
            ),
        ),
        Mutation("description", DELETE, ("Security group subject must have a description that says what it admits.",)),
        "description",
    ),
    # --- storage ---
    RuleCases(
        "s3-public-access-blocked",
        "",
        bucket_stack,
        (
            Mutation.one(
                "audit-pab/restrictPublicBuckets",
                False,
                "Bucket audit-bucket must have a public-access block with all four settings enabled.",
            ),
        ),
        Mutation(
            "audit-pab/blockPublicAcls",
            DELETE,
            ("Bucket audit-bucket must have a public-access block with all four settings enabled.",),
        ),
        "audit-pab/blockPublicAcls",
    ),
    RuleCases(
        "s3-encrypted-with-kms",
        "",
        bucket_stack,
        (
            Mutation.one(
                "audit-sse/rules.0.applyServerSideEncryptionByDefault.sseAlgorithm",
                "AES256",
                "Bucket audit-bucket must have default encryption with SSE-KMS.",
            ),
        ),
        Mutation("audit-sse/rules", DELETE, ("Bucket audit-bucket must have default encryption with SSE-KMS.",)),
        "audit-sse/rules",
    ),
    RuleCases(
        "s3-versioning-enabled",
        "",
        bucket_stack,
        (
            Mutation.one(
                "audit-versioning/versioningConfiguration.status",
                "Suspended",
                "Bucket audit-bucket must have versioning enabled.",
            ),
        ),
        Mutation(
            "audit-versioning/versioningConfiguration", DELETE, ("Bucket audit-bucket must have versioning enabled.",)
        ),
        "audit-versioning/versioningConfiguration",
    ),
    RuleCases(
        "s3-tls-only",
        "",
        bucket_stack,
        (
            Mutation.one(
                "audit-policy/policy",
                _doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::1:root"},
                        "Action": "s3:GetObject",
                        "Resource": "*",
                    }
                ),
                "Bucket audit-bucket must have a policy that denies requests without TLS (aws:SecureTransport false).",
            ),
        ),
        Mutation(
            "audit-policy/policy",
            DELETE,
            ("Bucket audit-bucket must have a policy that denies requests without TLS (aws:SecureTransport false).",),
        ),
        "audit-policy/policy",
    ),
    RuleCases(
        "audit-bucket-object-lock",
        "",
        bucket_stack,
        (
            Mutation.one(
                "audit-lock/rule.defaultRetention.mode",
                "GOVERNANCE",
                "Audit bucket audit-bucket must have Object Lock in COMPLIANCE mode.",
            ),
            Mutation.one(
                "audit-bucket/objectLockEnabled",
                False,
                "Audit bucket audit-bucket must have Object Lock in COMPLIANCE mode.",
            ),
        ),
        Mutation(
            "audit-bucket/objectLockEnabled",
            DELETE,
            ("Audit bucket audit-bucket must have Object Lock in COMPLIANCE mode.",),
        ),
        "audit-bucket/objectLockEnabled",
    ),
    RuleCases(
        "s3-no-public-acl",
        "aws:s3/bucketAclV2:BucketAclV2",
        lambda: {"bucket": "models", "acl": "private"},
        (Mutation.one("acl", "public-read", "Bucket subject must not use the public ACL public-read."),),
        Mutation("acl", DELETE, ()),
        "acl",
    ),
    RuleCases(
        "s3-sse-algorithm-kms",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        lambda: {"bucket": "models", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
        (
            Mutation.one(
                "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm",
                "AES256",
                "subject must encrypt objects with SSE-KMS (aws:kms).",
            ),
        ),
        Mutation(
            "rules.0.applyServerSideEncryptionByDefault",
            DELETE,
            ("subject must encrypt objects with SSE-KMS (aws:kms).",),
        ),
        "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm",
    ),
    RuleCases(
        "ebs-volumes-encrypted",
        "aws:ebs/volume:Volume",
        lambda: {"availabilityZone": "us-east-1a", "size": 100, "encrypted": True},
        (Mutation.one("encrypted", False, "EBS volume subject must be encrypted."),),
        Mutation("encrypted", DELETE, ("EBS volume subject must be encrypted.",)),
        "encrypted",
    ),
    RuleCases(
        "block-devices-encrypted",
        "",
        lambda: [
            Res("aws:ec2/launchTemplate:LaunchTemplate", "nodes", launch_template()),
            Res("aws:ec2/instance:Instance", "bastion", instance()),
        ],
        (
            Mutation.one(
                "nodes/blockDeviceMappings.0.ebs.encrypted",
                "false",
                "Launch template nodes must encrypt its EBS volume /dev/xvda.",
            ),
            Mutation.one("bastion/rootBlockDevice.encrypted", False, "bastion must encrypt its EBS volume root."),
        ),
        Mutation(
            "nodes/blockDeviceMappings.0.ebs.encrypted",
            DELETE,
            ("Launch template nodes must encrypt its EBS volume /dev/xvda.",),
        ),
        "nodes/blockDeviceMappings.0.ebs.encrypted",
    ),
    RuleCases(
        "log-groups-encrypted-and-retained",
        "aws:cloudwatch/logGroup:LogGroup",
        lambda: {"kmsKeyId": "arn:aws:kms:us-east-1:1:key/k", "retentionInDays": 365.0},
        (Mutation.one("retentionInDays", 0, "Log group subject must set retentionInDays."),),
        Mutation("kmsKeyId", DELETE, ("Log group subject must be encrypted with a KMS key.",)),
        "kmsKeyId",
    ),
    RuleCases(
        "sqs-queues-encrypted",
        "aws:sqs/queue:Queue",
        lambda: {"messageRetentionSeconds": 300, "sqsManagedSseEnabled": True},
        (
            Mutation.one(
                "sqsManagedSseEnabled",
                False,
                "SQS queue subject must encrypt messages (sqsManagedSseEnabled or kmsMasterKeyId).",
            ),
        ),
        Mutation(
            "sqsManagedSseEnabled",
            DELETE,
            ("SQS queue subject must encrypt messages (sqsManagedSseEnabled or kmsMasterKeyId).",),
        ),
        "sqsManagedSseEnabled",
    ),
    RuleCases(
        "kms-key-rotation",
        "aws:kms/key:Key",
        lambda: {"description": "platform", "enableKeyRotation": True, "deletionWindowInDays": 30},
        (Mutation.one("enableKeyRotation", False, "KMS key subject must have automatic key rotation enabled."),),
        Mutation("enableKeyRotation", DELETE, ("KMS key subject must have automatic key rotation enabled.",)),
        "enableKeyRotation",
    ),
    RuleCases(
        "eks-secrets-encrypted",
        "aws:eks/cluster:Cluster",
        eks_cluster,
        (
            Mutation.one(
                "encryptionConfig.resources", [], "EKS cluster subject must encrypt Kubernetes secrets with a KMS key."
            ),
        ),
        Mutation("encryptionConfig", DELETE, ("EKS cluster subject must encrypt Kubernetes secrets with a KMS key.",)),
        "encryptionConfig",
    ),
    # --- compute ---
    RuleCases(
        "imdsv2-required-instances",
        "aws:ec2/instance:Instance",
        instance,
        (
            Mutation.one(
                "metadataOptions.httpTokens",
                "optional",
                "Instance subject must require IMDSv2 (metadataOptions.httpTokens = required).",
            ),
        ),
        Mutation(
            "metadataOptions",
            DELETE,
            ("Instance subject must require IMDSv2 (metadataOptions.httpTokens = required).",),
        ),
        "metadataOptions.httpTokens",
    ),
    RuleCases(
        "imdsv2-required-launch-templates",
        "aws:ec2/launchTemplate:LaunchTemplate",
        launch_template,
        (
            Mutation.one(
                "metadataOptions.httpTokens",
                "optional",
                "Launch template subject must require IMDSv2 (metadataOptions.httpTokens = required).",
            ),
        ),
        Mutation(
            "metadataOptions",
            DELETE,
            ("Launch template subject must require IMDSv2 (metadataOptions.httpTokens = required).",),
        ),
        "metadataOptions.httpTokens",
    ),
    RuleCases(
        "gpu-approved-ami",
        "aws:eks/nodeGroup:NodeGroup",
        gpu_node_group,
        (
            Mutation.one(
                "amiType",
                "AL2_x86_64_GPU",
                "GPU node group subject must use an approved GPU AMI type, not AL2_x86_64_GPU.",
            ),
        ),
        Mutation("amiType", DELETE, ("GPU node group subject must use an approved GPU AMI type, not the default.",)),
        "amiType",
    ),
    # --- IAM ---
    RuleCases(
        "iam-no-star-on-star",
        "aws:iam/rolePolicy:RolePolicy",
        role_policy,
        (
            Mutation.one(
                "policy",
                _doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
                "subject must not allow every action (*) on every resource (*).",
            ),
        ),
        Mutation("policy", DELETE, ()),
        "policy",
    ),
    RuleCases(
        "iam-no-wildcard-principal",
        "aws:s3/bucketPolicy:BucketPolicy",
        bucket_policy,
        (
            Mutation.one(
                "policy",
                _doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"}),
                "subject must not allow a wildcard principal (*) without a narrowing condition.",
            ),
        ),
        Mutation("policy", DELETE, ()),
        "policy",
    ),
    RuleCases(
        "irsa-single-service-account",
        "aws:iam/role:Role",
        irsa_role,
        (
            Mutation.one(
                "assumeRolePolicy",
                _doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/x"},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringLike": {f"{OIDC}:sub": "system:serviceaccount:serving:*"}},
                    }
                ),
                "IRSA role subject must trust exactly one service account (StringEquals on :sub).",
            ),
        ),
        Mutation("assumeRolePolicy", DELETE, ()),
        "assumeRolePolicy",
    ),
    RuleCases(
        "iam-pass-role-scoped",
        "aws:iam/policy:Policy",
        role_policy,
        (
            Mutation.one(
                "policy",
                _doc({"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*"}),
                "subject must scope iam:PassRole to named roles, not every role (*).",
            ),
        ),
        Mutation("policy", DELETE, ()),
        "policy",
    ),
    # --- residency and tags ---
    RuleCases(
        "regulated-buckets-allowed-regions",
        "aws:s3/bucket:Bucket",
        lambda: {"bucket": "audit", "tags": {project.tag("data-class"): "regulated"}, "region": "us-east-1"},
        (
            Mutation.one(
                "region",
                "ap-southeast-1",
                "Regulated bucket subject must be in one of us-east-1, us-east-2, us-west-2, not ap-southeast-1.",
            ),
        ),
        Mutation("region", DELETE, ()),  # falls back to the provider's region (us-east-1)
        "region",
        provider=lambda: aws_provider({}, region="us-east-1"),
    ),
    RuleCases(
        "aws-required-tags",
        "aws:s3/bucket:Bucket",
        lambda: {"bucket": "models", "tags": {"purpose": "models"}},
        (Mutation.one("tags", {project.tag("owner"): ""}, f"subject must carry the tags {project.TAG_PREFIX}:owner."),),
        Mutation("tags", DELETE, ()),  # the provider's default tags still apply
        "tags",
        provider=lambda: aws_provider(TAGS),
    ),
]
