"""The stand-in cloud: a moto server on the rehearsal's network, carrying the plan's names.

moto listens on the network's gateway address (the host's side of the podman bridge), so the
cloud cluster's containers reach it and nothing outside this machine can. Its buckets, secrets
and KMS key are the ones the plan creates (`CloudNames`); the audit bucket has Object Lock as
planned. Models are uploaded with the project's own `model_store` upload, API keys go into the
secret the gateway config names.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from services.gateway.keys import KeyRecord
from services.inference.model_store import upload_model_dir
from tools.rehearse.spec import CloudNames
from tools.rehearse.substitutions import aws_environment

__all__ = ["CloudError", "MotoCloud"]


class CloudError(RuntimeError):
    """The configs name an AWS resource the plan does not create (the message names both)."""


class MotoCloud:
    """moto in server mode on `host:port`, provisioned with the plan's names."""

    def __init__(self, host: str, port: int, names: CloudNames) -> None:
        self.names = names
        self.endpoint_url = f"http://{host}:{port}"
        self.issued_arns: dict[str, str] = {}
        """Secret name → the ARN moto issued for it."""
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call

    def __enter__(self) -> MotoCloud:
        # This process's own boto3 calls (uploads, the audit check) go to moto with the same credentials.
        os.environ.update(aws_environment(self.endpoint_url, self.names.region))
        self._server.start()
        self._provision()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        # moto answers from a thread of this process: on a loaded box a connection can be refused for a moment.
        retries = Config(retries={"max_attempts": 8, "mode": "standard"}, connect_timeout=20)
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.names.region, config=retries)

    def _provision(self) -> None:
        s3 = self.client("s3")
        for bucket in self.names.buckets:
            locked = bucket in self.names.object_lock_buckets
            s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=locked)
            if locked:
                s3.put_object_lock_configuration(
                    Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
                )
        secrets = self.client("secretsmanager")
        for name in self.names.secrets:
            self.issued_arns[name] = secrets.create_secret(Name=name)["ARN"]
        kms = self.client("kms")
        for arn in self.names.kms_keys:
            # moto chooses key ids itself: the planned ARN is kept in the description.
            kms.create_key(Description=f"stands in for {arn}")

    def require_bucket(self, bucket: str, what: str) -> None:
        if bucket not in self.names.buckets:
            raise CloudError(f"{what} names bucket {bucket!r}; the plan creates {', '.join(self.names.buckets)}")

    def arn_substitutions(self) -> dict[str, str]:
        """Planned secret ARN → the ARN the stand-in issued for the same name (ARNs are the cloud's to compute)."""
        return {arn: self.issued_arns[name] for name, arn in self.names.secret_arns if name in self.issued_arns}

    def require_secret(self, secret_id: str, what: str) -> str:
        planned = dict((arn, name) for name, arn in self.names.secret_arns)
        issued = {arn: name for name, arn in self.issued_arns.items()}
        name = planned.get(secret_id) or issued.get(secret_id) or secret_id
        if name not in self.names.secrets:
            raise CloudError(f"{what} names secret {secret_id!r}; the plan creates {', '.join(self.names.secrets)}")
        return name

    def upload_model(self, directory: Path, uri: str, what: str) -> str:
        """`model_store upload` to `uri` (a bucket of the plan); returns the manifest sha256."""
        self.require_bucket(uri.removeprefix("s3://").split("/", 1)[0], what)
        return upload_model_dir(directory, uri, endpoint_url=self.endpoint_url)

    def put_key_set(self, secret_id: str, records: Iterable[KeyRecord], what: str) -> None:
        name = self.require_secret(secret_id, what)
        body = json.dumps({"keys": [record.model_dump(mode="json") for record in records]})
        self.client("secretsmanager").put_secret_value(SecretId=name, SecretString=body)

    def object_count(self, bucket: str, prefix: str) -> int:
        paginator = self.client("s3").get_paginator("list_objects_v2")
        return sum(len(page.get("Contents", [])) for page in paginator.paginate(Bucket=bucket, Prefix=prefix))
