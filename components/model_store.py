"""`ModelStore`: the versioned, KMS-encrypted bucket that model artifacts are served from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import pulumi
from pydantic import Field

from components._bucket import hardened_bucket
from components.settings import settings_dataclass
from platform_facts.project import type_token

__all__ = ["ModelStore", "ModelStoreArgs", "ModelStoreSettings"]


@settings_dataclass
class ModelStoreSettings:
    """What an environment chooses about its model bucket (stack config `rampart:model_storage`)."""

    noncurrent_version_days: Annotated[int, Field(gt=0)] = 90
    """Days an overwritten model version is kept before it expires (a rollback window)."""


@dataclass(frozen=True)
class ModelStoreArgs:
    """Inputs of a `ModelStore`."""

    kms_key_arn: pulumi.Input[str]
    """Key for SSE-KMS."""
    settings: ModelStoreSettings = field(default_factory=ModelStoreSettings)
    protect: bool = True
    """Guard the bucket against deletion (and refuse `force_destroy`)."""


class ModelStore(pulumi.ComponentResource):
    """Model artifact bucket. Outputs: `bucket_name`, `bucket_arn`."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("ModelStore"), name, None, opts)
        bucket = hardened_bucket(
            f"{name}-bucket",
            parent=self,
            kms_key_arn=args.kms_key_arn,
            protect=args.protect,
            lifecycle_rules=[
                {
                    "id": "expire-old-model-versions",
                    "status": "Enabled",
                    "filter": {},
                    "noncurrent_version_expiration": {"noncurrent_days": args.settings.noncurrent_version_days},
                },
                {
                    "id": "abort-incomplete-uploads",
                    "status": "Enabled",
                    "filter": {},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                },
            ],
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})
