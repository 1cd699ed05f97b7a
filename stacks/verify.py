"""Post-deploy verification: ask AWS whether a deployed environment is what the plan promised.

    pulumi stack output -s prod --json | python -m stacks.verify --region us-east-1

Reads the stack outputs (`kms_key_arn`, `model_bucket`, `audit_bucket`, `secret_arns`, `vpc_id`,
and `karpenter_interruption_queue_url` where Karpenter runs) and checks the live resources with
boto3: key rotation, bucket hardening, Object Lock, secrets encryption, flow logs, and that the
interruption queue is encrypted and receives every EC2 event Karpenter handles. Prints one line
per check and exits non-zero when any fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from components.gpu_cluster import INTERRUPTION_EVENTS
from platform_facts.project import DISPLAY_NAME

__all__ = ["Check", "main", "verify"]

REQUIRED_OUTPUTS = ("kms_key_arn", "model_bucket", "audit_bucket", "secret_arns", "vpc_id")


@dataclass(frozen=True)
class Check:
    """One verified property of one live resource."""

    resource: str
    name: str
    passed: bool
    detail: str = ""


def verify(outputs: Mapping[str, Any], session: boto3.session.Session, endpoint_url: str | None = None) -> list[Check]:
    """Check every property the stack promises; an AWS error becomes a failed check, not a crash."""
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        raise ValueError(f"stack outputs lack {', '.join(missing)} (is this a {DISPLAY_NAME} stack?)")

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    checks: list[Check] = []
    key_arn = outputs["kms_key_arn"]
    groups: list[tuple[str, Callable[[], Iterator[Check]]]] = [
        (key_arn, lambda: _key_checks(client("kms"), key_arn)),
        (outputs["model_bucket"], lambda: _bucket_checks(client("s3"), outputs["model_bucket"], key_arn, False)),
        (outputs["audit_bucket"], lambda: _bucket_checks(client("s3"), outputs["audit_bucket"], key_arn, True)),
        ("secrets", lambda: _secret_checks(client("secretsmanager"), outputs["secret_arns"], key_arn)),
        (outputs["vpc_id"], lambda: _flow_log_checks(client("ec2"), outputs["vpc_id"])),
    ]
    queue_url = outputs.get("karpenter_interruption_queue_url")
    if queue_url:
        groups.append((queue_url, lambda: _interruption_queue_checks(client("sqs"), client("events"), queue_url)))
    for resource, run in groups:
        try:
            checks.extend(run())
        except (ClientError, BotoCoreError) as error:
            checks.append(Check(resource, "readable", False, str(error)))
    return checks


def _key_checks(kms: Any, key_arn: str) -> Iterator[Check]:
    rotation = kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"]
    yield Check(key_arn, "key-rotation-enabled", bool(rotation))


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _bucket_checks(s3: Any, bucket: str, key_arn: str, object_lock: bool) -> Iterator[Check]:
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        blocked = all(block.get(flag) for flag in flags)
        yield Check(bucket, "public-access-blocked", blocked, "" if blocked else f"flags: {block}")
    except ClientError as error:
        yield Check(bucket, "public-access-blocked", False, _error_code(error))

    try:
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        default = rule["ApplyServerSideEncryptionByDefault"]
        kms = default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID") == key_arn
        yield Check(bucket, "sse-kms-with-platform-key", kms, "" if kms else f"got {default}")
    except ClientError as error:
        yield Check(bucket, "sse-kms-with-platform-key", False, _error_code(error))

    status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled")
    yield Check(bucket, "versioning-enabled", status == "Enabled", f"status {status}")

    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        tls_only = any(
            s.get("Effect") == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in policy.get("Statement", [])
        )
        yield Check(bucket, "tls-only-policy", tls_only)
    except ClientError as error:
        yield Check(bucket, "tls-only-policy", False, _error_code(error))

    if object_lock:
        try:
            lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
            retention = lock.get("Rule", {}).get("DefaultRetention", {})
            compliant = lock.get("ObjectLockEnabled") == "Enabled" and retention.get("Mode") == "COMPLIANCE"
            yield Check(bucket, "object-lock-compliance", compliant, f"retention {retention}")
        except ClientError as error:
            yield Check(bucket, "object-lock-compliance", False, _error_code(error))


def _secret_checks(secretsmanager: Any, secret_arns: Mapping[str, str], key_arn: str) -> Iterator[Check]:
    for name, arn in sorted(secret_arns.items()):
        described = secretsmanager.describe_secret(SecretId=arn)
        encrypted = described.get("KmsKeyId") == key_arn
        yield Check(f"secret {name}", "encrypted-with-platform-key", encrypted, f"key {described.get('KmsKeyId')}")


def _flow_log_checks(ec2: Any, vpc_id: str) -> Iterator[Check]:
    logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    all_traffic = any(log.get("TrafficType") == "ALL" for log in logs)
    yield Check(vpc_id, "flow-logs-all-traffic", all_traffic, f"{len(logs)} flow log(s)")


def _interruption_queue_checks(sqs: Any, events: Any, queue_url: str) -> Iterator[Check]:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    encrypted = attributes.get("SqsManagedSseEnabled") == "true" or bool(attributes.get("KmsMasterKeyId"))
    yield Check(queue_url, "messages-encrypted", encrypted)

    routed: set[str] = set()
    for rule in events.list_rule_names_by_target(TargetArn=attributes["QueueArn"])["RuleNames"]:
        described = events.describe_rule(Name=rule)
        if described.get("State") == "ENABLED":
            routed.update(json.loads(described.get("EventPattern") or "{}").get("detail-type", []))
    expected = {detail for pattern in INTERRUPTION_EVENTS.values() for detail in pattern["detail-type"]}
    missing = sorted(expected - routed)
    yield Check(queue_url, "receives-interruption-events", not missing, f"no enabled rule for {', '.join(missing)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.verify", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--outputs", type=argparse.FileType("r"), default=sys.stdin, help="stack outputs JSON (default stdin)"
    )
    parser.add_argument("--region", required=True, help="AWS region of the stack")
    parser.add_argument("--endpoint-url", help="AWS endpoint override (for testing)")
    options = parser.parse_args(argv)
    try:
        outputs = json.load(options.outputs)
        checks = verify(outputs, boto3.session.Session(region_name=options.region), options.endpoint_url)
    except (json.JSONDecodeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for check in checks:
        mark = "ok  " if check.passed else "FAIL"
        detail = f" ({check.detail})" if check.detail and not check.passed else ""
        print(f"{mark} {check.resource}: {check.name}{detail}")
    failed = sum(not check.passed for check in checks)
    print(f"\n{len(checks) - failed}/{len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
