"""`AuditStore`: the write-once bucket the gateway's audit log is uploaded to.

Object Lock in compliance mode means no one — not even the account root — can delete or overwrite
an audit object before its retention ends; that is what makes the audit trail evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components._bucket import hardened_bucket

__all__ = ["AuditStore", "AuditStoreArgs"]


@dataclass(frozen=True)
class AuditStoreArgs:
    """Inputs of an `AuditStore`."""

    kms_key_arn: pulumi.Input[str]
    """Key for SSE-KMS."""
    retention_days: int
    """Compliance-mode retention of every object, in days."""
    archive_after_days: int = 90
    """Days after which objects move to Glacier (must be shorter than the retention)."""

    def __post_init__(self) -> None:
        if self.retention_days <= 0:
            raise ValueError(f"retention_days: {self.retention_days} must be positive")
        if not 0 < self.archive_after_days < self.retention_days:
            raise ValueError(
                f"archive_after_days: {self.archive_after_days} must be between 1 and retention_days - 1"
            )


class AuditStore(pulumi.ComponentResource):
    """Object-Lock audit bucket. Outputs: `bucket_name`, `bucket_arn`."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rampart:index:AuditStore", name, None, opts)
        bucket = hardened_bucket(
            f"{name}-bucket",
            parent=self,
            kms_key_arn=args.kms_key_arn,
            protect=True,  # audit evidence is never disposable, whatever the environment
            object_lock=True,
            lifecycle_rules=[
                {
                    "id": "archive-audit-records",
                    "status": "Enabled",
                    "filter": {},
                    "transitions": [{"days": args.archive_after_days, "storage_class": "GLACIER"}],
                },
                {
                    "id": "abort-incomplete-uploads",
                    "status": "Enabled",
                    "filter": {},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                },
            ],
        )
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-object-lock",
            bucket=bucket.id,
            object_lock_enabled="Enabled",
            rule={"default_retention": {"mode": "COMPLIANCE", "days": args.retention_days}},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
