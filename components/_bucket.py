"""The hardening every Rampart bucket gets, shared by `ModelStore` and `AuditStore`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

__all__ = ["hardened_bucket", "tls_only_policy"]


def tls_only_policy(bucket_arn: str) -> str:
    """Deny every request that does not use TLS 1.2+ (the one place a `*` principal belongs: a Deny)."""
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": resources,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {
                    "Sid": "DenyOutdatedTls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": resources,
                    "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                },
            ],
        }
    )


def hardened_bucket(
    name: str,
    *,
    parent: pulumi.Resource,
    kms_key_arn: pulumi.Input[str],
    lifecycle_rules: Sequence[dict[str, Any]],
    protect: bool,
    object_lock: bool = False,
) -> aws.s3.Bucket:
    """A bucket with public access blocked, SSE-KMS, versioning, TLS-only policy and lifecycle rules."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        name,
        object_lock_enabled=object_lock or None,
        force_destroy=not protect and not object_lock,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": kms_key_arn,
                },
                "bucket_key_enabled": True,
            }
        ],
        opts=child,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=list(lifecycle_rules),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning]),
    )
    aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.id,
        policy=bucket.arn.apply(tls_only_policy),
        # S3 rejects a bucket policy while the public-access block is still being applied.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access]),
    )
    return bucket
