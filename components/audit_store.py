"""`AuditStore`: the write-once bucket the gateway's audit log is uploaded to.

Object Lock in compliance mode means no one — not even the account root — can delete or overwrite
an audit object before its retention ends; that is what makes the audit trail evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import pulumi
import pulumi_aws as aws
from pydantic import Field, ValidationInfo, field_validator

from components._bucket import hardened_bucket
from components.settings import settings_dataclass
from platform_facts.project import type_token

__all__ = ["AuditStore", "AuditStoreArgs", "AuditStoreSettings"]


@settings_dataclass
class AuditStoreSettings:
    """What an environment chooses about its audit bucket (stack config `rampart:audit_storage`)."""

    retention_days: Annotated[int, Field(gt=0)] = 2555
    """Days every audit object is locked against deletion and overwrite (compliance mode)."""
    archive_after_days: Annotated[int, Field(gt=0)] = 90
    """Days after which audit objects move to Glacier."""

    @field_validator("archive_after_days")
    @classmethod
    def _archive_before_retention_ends(cls, days: int, info: ValidationInfo) -> int:
        retention = info.data.get("retention_days")
        if retention is not None and days >= retention:
            raise ValueError(f"must be shorter than retention_days ({retention})")
        return days


@dataclass(frozen=True)
class AuditStoreArgs:
    """Inputs of an `AuditStore`."""

    kms_key_arn: pulumi.Input[str]
    """Key for SSE-KMS."""
    settings: AuditStoreSettings = field(default_factory=AuditStoreSettings)


class AuditStore(pulumi.ComponentResource):
    """Object-Lock audit bucket. Outputs: `bucket_name`, `bucket_arn`."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("AuditStore"), name, None, opts)
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
                    "transitions": [{"days": args.settings.archive_after_days, "storage_class": "GLACIER"}],
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
            rule={"default_retention": {"mode": "COMPLIANCE", "days": args.settings.retention_days}},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
