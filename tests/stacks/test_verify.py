"""Post-deploy verification against moto in server mode.

The cloud cannot exist here; moto's server speaks the same HTTP API boto3 uses against AWS, so the
verifier's real boto3 calls are exercised. Each test deploys a compliant environment with boto3,
breaks one property, and expects exactly that check to fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from components._bucket import tls_only_policy
from components.gpu_cluster import INTERRUPTION_EVENTS
from platform_facts import project
from stacks.verify import verify

TEST = project.environment_prefix("test")

REGION = "us-east-1"


def _deploy(endpoint: str) -> dict[str, Any]:
    """Create what a Rampart stack creates, the way the components configure it."""
    session = boto3.session.Session(region_name=REGION)
    kms = session.client("kms", endpoint_url=endpoint)
    key_arn = kms.create_key(Description="platform")["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=key_arn)
    s3 = session.client("s3", endpoint_url=endpoint)
    buckets = {"model_bucket": f"{TEST}-models", "audit_bucket": f"{TEST}-audit"}
    for output, bucket in buckets.items():
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=output == "audit_bucket")
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]
            },
        )
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy(f"arn:aws:s3:::{bucket}"))
    s3.put_object_lock_configuration(
        Bucket=buckets["audit_bucket"],
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}},
    )
    secretsmanager = session.client("secretsmanager", endpoint_url=endpoint)
    secret_arns = {
        name: secretsmanager.create_secret(Name=name, KmsKeyId=key_arn)["ARN"] for name in ("model-hub-token", "gateway-api-keys")
    }
    ec2 = session.client("ec2", endpoint_url=endpoint)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    logs = session.client("logs", endpoint_url=endpoint)
    logs.create_log_group(logGroupName="flow")
    ec2.create_flow_logs(
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName="flow",
        DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow",
    )
    sqs = session.client("sqs", endpoint_url=endpoint)
    queue_url = sqs.create_queue(
        QueueName=f"{TEST}-karpenter-interruptions",
        Attributes={"MessageRetentionPeriod": "300", "SqsManagedSseEnabled": "true"},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = session.client("events", endpoint_url=endpoint)
    for rule, pattern in INTERRUPTION_EVENTS.items():
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=rule, Targets=[{"Id": "karpenter", "Arn": queue_arn}])
    return {
        "kms_key_arn": key_arn,
        "secret_arns": secret_arns,
        "vpc_id": vpc_id,
        "karpenter_interruption_queue_url": queue_url,
        **buckets,
    }


def _failed(outputs: dict[str, Any], endpoint: str) -> list[tuple[str, str]]:
    checks = verify(outputs, boto3.session.Session(region_name=REGION), endpoint)
    assert len(checks) == 15
    return [(c.resource, c.name) for c in checks if not c.passed]


def test_a_compliant_environment_passes_every_check(aws_endpoint: str) -> None:
    assert _failed(_deploy(aws_endpoint), aws_endpoint) == []


def test_a_stack_without_karpenter_has_no_queue_to_check(aws_endpoint: str) -> None:
    outputs = _deploy(aws_endpoint)
    del outputs["karpenter_interruption_queue_url"]
    checks = verify(outputs, boto3.session.Session(region_name=REGION), aws_endpoint)
    assert len(checks) == 13 and all(c.passed for c in checks)


def _client(endpoint: str, service: str) -> Any:
    return boto3.session.Session(region_name=REGION).client(service, endpoint_url=endpoint)


BREAKAGES: list[tuple[str, Callable[[str, dict[str, Any]], None], tuple[str, str]]] = [
    (
        "rotation off",
        lambda e, o: _client(e, "kms").disable_key_rotation(KeyId=o["kms_key_arn"]),
        ("kms_key_arn", "key-rotation-enabled"),
    ),
    (
        "public access block removed",
        lambda e, o: _client(e, "s3").delete_public_access_block(Bucket=o["model_bucket"]),
        ("model_bucket", "public-access-blocked"),
    ),
    (
        "versioning suspended",
        lambda e, o: _client(e, "s3").put_bucket_versioning(Bucket=o["model_bucket"], VersioningConfiguration={"Status": "Suspended"}),
        ("model_bucket", "versioning-enabled"),
    ),
    (
        "encryption with another key",
        lambda e, o: _client(e, "s3").put_bucket_encryption(
            Bucket=o["audit_bucket"],
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        ),
        ("audit_bucket", "sse-kms-with-platform-key"),
    ),
    (
        "policy deleted",
        lambda e, o: _client(e, "s3").delete_bucket_policy(Bucket=o["audit_bucket"]),
        ("audit_bucket", "tls-only-policy"),
    ),
    (
        "governance instead of compliance",
        lambda e, o: _client(e, "s3").put_object_lock_configuration(
            Bucket=o["audit_bucket"],
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}},
        ),
        ("audit_bucket", "object-lock-compliance"),
    ),
    (
        "spot warnings no longer routed to Karpenter",
        lambda e, o: _client(e, "events").disable_rule(Name="spot-interruption"),
        ("karpenter_interruption_queue_url", "receives-interruption-events"),
    ),
    (
        "queue encryption turned off",
        lambda e, o: _client(e, "sqs").set_queue_attributes(
            QueueUrl=o["karpenter_interruption_queue_url"], Attributes={"SqsManagedSseEnabled": "false"}
        ),
        ("karpenter_interruption_queue_url", "messages-encrypted"),
    ),
]


@pytest.mark.parametrize(("breakage", "action", "expected"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_each_broken_property_fails_its_check(
    aws_endpoint: str, breakage: str, action: Callable[[str, dict[str, Any]], None], expected: tuple[str, str]
) -> None:
    outputs = _deploy(aws_endpoint)
    action(aws_endpoint, outputs)
    output_key, check = expected
    assert _failed(outputs, aws_endpoint) == [(outputs[output_key], check)]


def test_cli_reports_and_exits_non_zero_on_failure(aws_endpoint: str) -> None:
    outputs = _deploy(aws_endpoint)
    _client(aws_endpoint, "kms").disable_key_rotation(KeyId=outputs["kms_key_arn"])
    result = subprocess.run(
        [sys.executable, "-m", "stacks.verify", "--region", REGION, "--endpoint-url", aws_endpoint],
        input=json.dumps(outputs),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "FAIL" in result.stdout and "key-rotation-enabled" in result.stdout
    assert "14/15 checks passed" in result.stdout


def test_cli_refuses_outputs_of_another_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stacks.verify", "--region", REGION],
        input=json.dumps({"vpc_id": "vpc-1"}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "stack outputs lack kms_key_arn, model_bucket, audit_bucket, secret_arns" in result.stderr
