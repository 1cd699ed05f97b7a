"""Per-rule cases for data stores, registries and customer-managed keys (RDS, EFS, ECR, S3, EBS, SQS)."""

from __future__ import annotations

import json
from typing import Any

from tests.policies import cases_aws
from tests.policies.harness import DELETE, Mutation, Res, RuleCases

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RDS_INSTANCE = "aws:rds/instance:Instance"
ECR = "aws:ecr/repository:Repository"


def rds_instance() -> dict[str, Any]:
    return {
        "engine": "postgres",
        "instanceClass": "db.r7g.large",
        "storageEncrypted": True,
        "kmsKeyId": KEY,
        "publiclyAccessible": False,
        "iamDatabaseAuthenticationEnabled": True,
        "backupRetentionPeriod": 7,
    }


def rds_cluster() -> dict[str, Any]:
    return {
        "engine": "aurora-postgresql",
        "storageEncrypted": True,
        "iamDatabaseAuthenticationEnabled": True,
        "backupRetentionPeriod": 7,
    }


def repository() -> dict[str, Any]:
    return {
        "imageScanningConfiguration": {"scanOnPush": True},
        "imageTagMutability": "IMMUTABLE",
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY}],
    }


def sse_configuration() -> dict[str, Any]:
    return {
        "bucket": "models",
        "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}}],
    }


def ebs_stack() -> list[Res]:
    template = cases_aws.launch_template()
    template["blockDeviceMappings"][0]["ebs"]["kmsKeyId"] = KEY
    return [
        Res("aws:ebs/volume:Volume", "cache", {"availabilityZone": "us-east-1a", "encrypted": True, "kmsKeyId": KEY}),
        Res("aws:ec2/launchTemplate:LaunchTemplate", "nodes", template),
    ]


def queue_stack() -> list[Res]:
    notifications = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": "arn:aws:sqs:us-east-1:123456789012:interruptions",
            }
        ],
    }
    return [
        Res("aws:sqs/queue:Queue", "jobs", {"kmsMasterKeyId": KEY, "messageRetentionSeconds": 3600}),
        Res("aws:sqs/queue:Queue", "interruptions", {"sqsManagedSseEnabled": True}),
        Res(
            "aws:sqs/queuePolicy:QueuePolicy",
            "interruptions-policy",
            {"queueUrl": "https://sqs/interruptions", "policy": json.dumps(notifications)},
            depends_on=("interruptions",),
        ),
    ]


CASES = [
    RuleCases(
        "rds-storage-encrypted",
        RDS_INSTANCE,
        rds_instance,
        (Mutation.one("storageEncrypted", False, "RDS instance subject must encrypt its storage (storageEncrypted)."),),
        Mutation("storageEncrypted", DELETE, ("RDS instance subject must encrypt its storage (storageEncrypted).",)),
        "storageEncrypted",
    ),
    RuleCases(
        "rds-storage-encrypted",
        "aws:rds/cluster:Cluster",
        rds_cluster,
        (Mutation.one("storageEncrypted", False, "RDS cluster subject must encrypt its storage (storageEncrypted)."),),
        Mutation("storageEncrypted", DELETE, ("RDS cluster subject must encrypt its storage (storageEncrypted).",)),
        "storageEncrypted",
    ),
    RuleCases(
        "rds-not-public",
        RDS_INSTANCE,
        rds_instance,
        (
            Mutation.one(
                "publiclyAccessible", True, "RDS instance subject must not be publicly accessible (publiclyAccessible)."
            ),
        ),
        Mutation("publiclyAccessible", DELETE, ()),  # private is the API's default
        "publiclyAccessible",
    ),
    RuleCases(
        "rds-not-public",
        "aws:rds/clusterInstance:ClusterInstance",
        lambda: {"clusterIdentifier": "app", "instanceClass": "db.r7g.large", "publiclyAccessible": False},
        (
            Mutation.one(
                "publiclyAccessible",
                True,
                "RDS cluster instance subject must not be publicly accessible (publiclyAccessible).",
            ),
        ),
        Mutation("publiclyAccessible", DELETE, ()),
        "publiclyAccessible",
    ),
    RuleCases(
        "rds-iam-authentication",
        RDS_INSTANCE,
        rds_instance,
        (
            Mutation.one(
                "iamDatabaseAuthenticationEnabled",
                False,
                "RDS instance subject must enable IAM database authentication (iamDatabaseAuthenticationEnabled).",
            ),
            Mutation("engine", "sqlserver-se", ()),  # no IAM authentication for SQL Server: nothing to ask
        ),
        Mutation(
            "iamDatabaseAuthenticationEnabled",
            DELETE,
            ("RDS instance subject must enable IAM database authentication (iamDatabaseAuthenticationEnabled).",),
        ),
        "iamDatabaseAuthenticationEnabled",
    ),
    RuleCases(
        "rds-backups-retained",
        RDS_INSTANCE,
        rds_instance,
        (
            Mutation.one(
                "backupRetentionPeriod", 2, "RDS instance subject must keep automated backups for at least 3 days."
            ),
            Mutation.one(
                "backupRetentionPeriod", 0, "RDS instance subject must keep automated backups for at least 3 days."
            ),
        ),
        Mutation(
            "backupRetentionPeriod", DELETE, ("RDS instance subject must keep automated backups for at least 3 days.",)
        ),
        "backupRetentionPeriod",
    ),
    RuleCases(
        "efs-encrypted",
        "aws:efs/fileSystem:FileSystem",
        lambda: {"encrypted": True, "kmsKeyId": KEY},
        (Mutation.one("encrypted", False, "EFS file system subject must be encrypted at rest (encrypted)."),),
        Mutation("encrypted", DELETE, ("EFS file system subject must be encrypted at rest (encrypted).",)),
        "encrypted",
    ),
    RuleCases(
        "ecr-scan-on-push",
        ECR,
        repository,
        (
            Mutation.one(
                "imageScanningConfiguration.scanOnPush",
                False,
                "ECR repository subject must scan images on push (imageScanningConfiguration.scanOnPush).",
            ),
        ),
        Mutation(
            "imageScanningConfiguration",
            DELETE,
            ("ECR repository subject must scan images on push (imageScanningConfiguration.scanOnPush).",),
        ),
        "imageScanningConfiguration.scanOnPush",
    ),
    RuleCases(
        "ecr-immutable-tags",
        ECR,
        repository,
        (
            Mutation.one(
                "imageTagMutability",
                "MUTABLE",
                "ECR repository subject must make image tags immutable (imageTagMutability = IMMUTABLE).",
            ),
        ),
        Mutation(
            "imageTagMutability",
            DELETE,
            ("ECR repository subject must make image tags immutable (imageTagMutability = IMMUTABLE).",),
        ),
        "imageTagMutability",
    ),
    RuleCases(
        "ecr-customer-managed-key",
        ECR,
        repository,
        (
            Mutation.one(
                "encryptionConfigurations.0.kmsKey",
                "",
                "ECR repository subject must encrypt images with a customer-managed KMS key (kmsKey), not the "
                "AWS-managed aws/ecr key.",
            ),
            Mutation.one(
                "encryptionConfigurations.0.encryptionType",
                "AES256",
                "ECR repository subject must encrypt images with a customer-managed KMS key (kmsKey), not AES256.",
            ),
        ),
        Mutation(
            "encryptionConfigurations",
            DELETE,
            ("ECR repository subject must encrypt images with a customer-managed KMS key (kmsKey), not AES256.",),
        ),
        "encryptionConfigurations.0.kmsKey",
    ),
    RuleCases(
        "s3-customer-managed-key",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        sse_configuration,
        (
            Mutation.one(
                "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId",
                "alias/aws/s3",
                "subject must encrypt objects with a customer-managed KMS key (kmsMasterKeyId), not alias/aws/s3.",
            ),
            Mutation.one(
                "rules.0.applyServerSideEncryptionByDefault",
                {"sseAlgorithm": "AES256"},
                "subject must encrypt objects with a customer-managed KMS key (kmsMasterKeyId), not AES256.",
            ),
        ),
        Mutation(
            "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId",
            DELETE,
            (
                "subject must encrypt objects with a customer-managed KMS key (kmsMasterKeyId), not the AWS-managed "
                "aws/s3 key.",
            ),
        ),
        "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId",
    ),
    RuleCases(
        "ebs-customer-managed-key",
        "",
        ebs_stack,
        (
            Mutation.one(
                "cache/kmsKeyId",
                "alias/aws/ebs",
                "EBS volume cache must be encrypted with a customer-managed KMS key (kmsKeyId), not alias/aws/ebs.",
            ),
        ),
        Mutation(
            "nodes/blockDeviceMappings.0.ebs.kmsKeyId",
            DELETE,
            (
                "Launch template nodes must encrypt its EBS volume /dev/xvda with a customer-managed KMS key "
                "(kmsKeyId), not the AWS-managed aws/ebs key.",
            ),
        ),
        "cache/kmsKeyId",
    ),
    RuleCases(
        "sqs-customer-managed-key",
        "",
        queue_stack,
        (
            Mutation.one(
                "jobs/kmsMasterKeyId",
                "alias/aws/sqs",
                "SQS queue jobs must encrypt messages with a customer-managed KMS key (kmsMasterKeyId), not "
                "alias/aws/sqs.",
            ),
            Mutation.one(
                "interruptions-policy/policy",
                json.dumps(
                    {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                "Action": "sqs:SendMessage",
                                "Resource": "*",
                            }
                        ]
                    }
                ),
                "SQS queue interruptions must encrypt messages with a customer-managed KMS key (kmsMasterKeyId), "
                "not SSE-SQS.",
            ),
        ),
        Mutation(
            "jobs/kmsMasterKeyId",
            DELETE,
            ("SQS queue jobs must encrypt messages with a customer-managed KMS key (kmsMasterKeyId), not SSE-SQS.",),
        ),
        "jobs/kmsMasterKeyId",
    ),
]
