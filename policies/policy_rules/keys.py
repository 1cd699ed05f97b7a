"""Customer-managed keys: data at rest under a key whose policy the account writes and can revoke.

Each service's default (SSE-S3, `aws/ebs`, SSE-SQS, AES-256 in ECR) encrypts, but under a key no key
policy of the account controls; `storage` and `secrets` require encryption, these rules the key.
An SQS queue that only AWS services write notifications to may keep SSE-SQS: EventBridge cannot
write to a queue under a customer key without a grant, and such a queue holds no platform data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from policy_rules.core import (
    Report,
    Setting,
    customer_managed_key_problem,
    dig,
    is_mapping,
    items,
    json_document,
    resource_policy,
    stack_policy,
    strings,
)
from policy_rules.iam import statements
from policy_rules.registry import ECR_REPOSITORY
from policy_rules.storage import BUCKET, LAUNCH_TEMPLATE, encrypts_ebs_by_default, sse_rules

__all__ = ["POLICIES", "notification_queues"]

SSE_CONFIGURATION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
SQS_QUEUE = "aws:sqs/queue:Queue"
SQS_QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
DEFAULT_EBS_KEY = "aws:ebs/defaultKmsKey:DefaultKmsKey"


def _aws_managed(problem: str, service: str) -> str:
    return f"the AWS-managed aws/{service} key" if problem == "unset" else problem


def _s3(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type not in (BUCKET, SSE_CONFIGURATION):
        return
    for rule in sse_rules(args.props):
        default = dig(rule, "applyServerSideEncryptionByDefault")
        algorithm = dig(default, "sseAlgorithm")
        if algorithm in ("aws:kms", "aws:kms:dsse"):
            problem = customer_managed_key_problem(dig(default, "kmsMasterKeyId"))
            if problem:
                why = _aws_managed(problem, "s3")
                report(f"{args.name} must encrypt objects with a customer-managed KMS key (kmsMasterKeyId), not {why}.")
        else:
            why = algorithm or "unset sseAlgorithm"
            report(f"{args.name} must encrypt objects with a customer-managed KMS key (kmsMasterKeyId), not {why}.")


def _ebs_devices(resource: PolicyResource, by_default: bool) -> Iterator[tuple[str, Any]]:
    """(where, kmsKeyId) of every device the resource encrypts (explicitly, or by the account default)."""
    props = resource.props
    if resource.resource_type == "aws:ebs/volume:Volume":
        if props.get("encrypted") is True or (by_default and props.get("encrypted") is None):
            yield f"EBS volume {resource.name} must be encrypted", props.get("kmsKeyId")
    elif resource.resource_type == LAUNCH_TEMPLATE:
        for mapping in items(props.get("blockDeviceMappings")):
            ebs = dig(mapping, "ebs")
            encrypted = str(dig(ebs, "encrypted")).lower()
            if is_mapping(ebs) and (encrypted == "true" or (by_default and encrypted == "none")):
                device = dig(mapping, "deviceName") or "(unnamed)"
                yield f"Launch template {resource.name} must encrypt its EBS volume {device}", dig(ebs, "kmsKeyId")
    elif resource.resource_type == "aws:ec2/instance:Instance":
        root = props.get("rootBlockDevice")
        for device in [*([root] if is_mapping(root) else []), *items(props.get("ebsBlockDevices"))]:
            encrypted = dig(device, "encrypted")
            if encrypted is True or (by_default and encrypted is None):
                name = dig(device, "deviceName") or "root"
                yield f"{resource.name} must encrypt its EBS volume {name}", dig(device, "kmsKeyId")


def _ebs(args: StackValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    by_default = encrypts_ebs_by_default(args.resources)
    # A customer default key covers every device that names no key of its own.
    default_key = any(
        r.resource_type == DEFAULT_EBS_KEY and customer_managed_key_problem(r.props.get("keyArn")) is None
        for r in args.resources
    )
    for resource in args.resources:
        for where, key in _ebs_devices(resource, by_default):
            problem = customer_managed_key_problem(key)
            if problem and not (problem == "unset" and by_default and default_key):
                why = _aws_managed(problem, "ebs")
                report(f"{where} with a customer-managed KMS key (kmsKeyId), not {why}.", resource.urn)


def _senders(document: Any) -> Iterator[Any]:
    for statement in statements(json_document(document)):
        if statement.get("Effect") == "Allow":
            yield statement.get("Principal")


def notification_queues(resources: list[PolicyResource], services: list[str]) -> set[str]:
    """URNs of queues whose policies let only the given AWS services (and no account or anyone) in."""
    queues = [resource for resource in resources if resource.resource_type == SQS_QUEUE]
    policies: dict[str, list[Any]] = {queue.urn: [queue.props.get("policy")] for queue in queues}
    for policy in (resource for resource in resources if resource.resource_type == SQS_QUEUE_POLICY):
        target = policy.props.get("queueUrl")
        for queue in queues:
            linked = any(dependency.urn == queue.urn for dependency in policy.dependencies)
            if linked or (target is not None and target in (queue.props.get("url"), queue.props.get("id"))):
                policies[queue.urn].append(policy.props.get("policy"))
    found, allowed = set(), set(services)
    for urn, documents in policies.items():
        principals = [principal for document in documents if document for principal in _senders(document)]
        only_services = all(
            is_mapping(principal) and set(principal) == {"Service"} and set(strings(principal["Service"])) <= allowed
            for principal in principals
        )
        if principals and only_services:
            found.add(urn)
    return found


def _sqs(args: StackValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    exempt = notification_queues(args.resources, list(settings["notificationServices"]))
    for queue in args.resources:
        if queue.resource_type != SQS_QUEUE or queue.urn in exempt:
            continue
        problem = customer_managed_key_problem(queue.props.get("kmsMasterKeyId"))
        if problem:
            why = "SSE-SQS" if problem == "unset" else problem
            report(
                f"SQS queue {queue.name} must encrypt messages with a customer-managed KMS key (kmsMasterKeyId), "
                f"not {why}.",
                queue.urn,
            )


def _ecr(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != ECR_REPOSITORY:
        return
    configurations = list(items(args.props.get("encryptionConfigurations")))
    encryption = configurations[0] if configurations else None
    if dig(encryption, "encryptionType") != "KMS":
        why = dig(encryption, "encryptionType") or "AES256"
    else:
        why = customer_managed_key_problem(dig(encryption, "kmsKey"))
        why = _aws_managed(why, "ecr") if why else None
    if why:
        report(f"ECR repository {args.name} must encrypt images with a customer-managed KMS key (kmsKey), not {why}.")


POLICIES = [
    resource_policy("s3-customer-managed-key", "Bucket encryption must use a customer-managed KMS key.", _s3),
    stack_policy(
        "ebs-customer-managed-key",
        "Encrypted EBS volumes must use a customer-managed KMS key, their own or the account's EBS default.",
        _ebs,
    ),
    stack_policy(
        "sqs-customer-managed-key",
        "SQS queues must use a customer-managed KMS key, except queues only AWS services send notifications to.",
        _sqs,
        {
            "notificationServices": Setting(
                "array",
                ["events.amazonaws.com", "sqs.amazonaws.com"],
                "Service principals whose notification queues may keep SSE-SQS.",
            )
        },
    ),
    resource_policy("ecr-customer-managed-key", "ECR repositories must use a customer-managed KMS key.", _ecr),
]
