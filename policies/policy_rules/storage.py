"""Storage and encryption policies: S3 buckets, EBS, log groups, SQS queues, KMS keys.

S3 settings live in separate resources since AWS provider v4 (public-access block, encryption,
versioning, policy, Object Lock), so the bucket checks are stack policies that look for the
resource configuring each bucket; the resource checks catch a wrong value where it is declared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from platform_facts.project import type_token
from policy_rules.core import (
    Report,
    Setting,
    dig,
    is_mapping,
    items,
    json_document,
    number,
    resource_policy,
    stack_policy,
    strings,
)

__all__ = ["POLICIES", "buckets_with_settings", "encrypts_ebs_by_default", "public_grants", "sse_rules"]

BUCKET = "aws:s3/bucket:Bucket"
EBS_ENCRYPTION_BY_DEFAULT = "aws:ebs/encryptionByDefault:EncryptionByDefault"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE_KINDS = {
    "aws:ec2/instance:Instance": "Instance",
    "aws:ec2/launchConfiguration:LaunchConfiguration": "Launch configuration",
}
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
# ACL grantee groups that are everyone: anonymous callers, and any AWS account's authenticated callers.
PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers",
}


def _configures(resource: PolicyResource, bucket: PolicyResource) -> bool:
    """Whether a bucket-settings resource points at this bucket (by dependency or by name)."""
    if any(dependency.urn == bucket.urn for dependency in resource.dependencies):
        return True
    target = resource.props.get("bucket")
    return target is not None and target in (bucket.props.get("bucket"), bucket.props.get("id"))


def buckets_with_settings(
    resources: list[PolicyResource], settings_type: str
) -> Iterator[tuple[PolicyResource, list[PolicyResource]]]:
    """Each bucket with the resources of `settings_type` that configure it."""
    configuring = [resource for resource in resources if resource.resource_type == settings_type]
    for bucket in resources:
        if bucket.resource_type == BUCKET:
            yield bucket, [resource for resource in configuring if _configures(resource, bucket)]


BucketTest = Callable[[PolicyResource, list[PolicyResource]], bool]


def _each_bucket(settings_type: str, ok: BucketTest, message: str) -> Any:
    def check(args: StackValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
        for bucket, configuring in buckets_with_settings(args.resources, settings_type):
            if not ok(bucket, configuring):
                report(message.format(name=bucket.name), bucket.urn)

    return check


def _public_access_blocked(bucket: PolicyResource, blocks: list[PolicyResource]) -> bool:
    return any(all(block.props.get(flag) is True for flag in PUBLIC_ACCESS_FLAGS) for block in blocks)


def sse_rules(props: Mapping[str, Any]) -> list[Any]:
    rules = list(items(props.get("rules")))
    inline_rule = dig(props, "serverSideEncryptionConfiguration", "rule")  # the deprecated inline form
    if is_mapping(inline_rule):
        rules.append(inline_rule)
    return rules


def _is_kms(rule: Any) -> bool:
    return dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") in ("aws:kms", "aws:kms:dsse")


def _encrypted_with_kms(bucket: PolicyResource, configs: list[PolicyResource]) -> bool:
    rules = sse_rules(bucket.props) + [rule for config in configs for rule in sse_rules(config.props)]
    return bool(rules) and all(_is_kms(rule) for rule in rules)


def _versioned(bucket: PolicyResource, versionings: list[PolicyResource]) -> bool:
    if dig(bucket.props, "versioning", "enabled") is True:
        return True
    return any(dig(v.props, "versioningConfiguration", "status") == "Enabled" for v in versionings)


def denies_insecure_transport(policy: Any) -> bool:
    """Whether a bucket policy denies requests made without TLS."""
    document = json_document(policy)
    for statement in items(dig(document, "Statement")):
        condition = dig(statement, "Condition", "Bool", "aws:SecureTransport")
        if dig(statement, "Effect") == "Deny" and str(condition).lower() == "false":
            return True
    return False


def _tls_only(bucket: PolicyResource, policies: list[PolicyResource]) -> bool:
    return denies_insecure_transport(bucket.props.get("policy")) or any(
        denies_insecure_transport(policy.props.get("policy")) for policy in policies
    )


def _audit_object_lock(args: StackValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    locks = list(
        buckets_with_settings(args.resources, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    )
    for bucket, configurations in locks:
        if not _within(bucket, settings["auditComponentTypes"]):
            continue
        compliant = bucket.props.get("objectLockEnabled") is True and any(
            dig(lock.props, "rule", "defaultRetention", "mode") == "COMPLIANCE" for lock in configurations
        )
        if not compliant:
            report(f"Audit bucket {bucket.name} must have Object Lock in COMPLIANCE mode.", bucket.urn)


def _within(resource: PolicyResource, component_types: list[str]) -> bool:
    parent = resource.parent
    while parent is not None:
        if parent.resource_type in component_types:
            return True
        parent = parent.parent
    return False


def public_grants(props: Mapping[str, Any]) -> dict[str, list[str]]:
    """Permissions granted to the public groups, by group: `accessControlPolicy.grants` of a bucket ACL
    resource (one permission per grant) and the inline `grants` of a v6 bucket (a list per grant)."""
    granted: dict[str, list[str]] = {}
    entries = [
        (dig(grant, "grantee", "uri"), strings(dig(grant, "permission")))
        for grant in items(dig(props, "accessControlPolicy", "grants"))
    ] + [(dig(grant, "uri"), strings(dig(grant, "permissions"))) for grant in items(props.get("grants"))]
    for uri, permissions in entries:
        group = PUBLIC_GROUPS.get(uri) if isinstance(uri, str) else None
        if group is not None:
            known = granted.setdefault(group, [])
            known.extend(permission for permission in permissions if permission not in known)
    return {group: permissions for group, permissions in granted.items() if permissions}


def _public_acl(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type in (BUCKET, "aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"):
        acl = args.props.get("acl")
        if acl in PUBLIC_ACLS:
            report(f"Bucket {args.name} must not use the public ACL {acl}.")
        for group, permissions in public_grants(args.props).items():
            report(f"Bucket {args.name} must not grant {', '.join(permissions)} to {group}.")


def _sse_algorithm(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    types = (BUCKET, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    if args.resource_type in types:
        for rule in sse_rules(args.props):
            if not _is_kms(rule):
                report(f"{args.name} must encrypt objects with SSE-KMS (aws:kms).")


def _ebs_volume(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type == "aws:ebs/volume:Volume" and args.props.get("encrypted") is not True:
        report(f"EBS volume {args.name} must be encrypted.")


def encrypts_ebs_by_default(resources: list[PolicyResource]) -> bool:
    """Whether the stack turns on the account's EBS encryption by default (`enabled` defaults to true)."""
    return any(
        resource.resource_type == EBS_ENCRYPTION_BY_DEFAULT and resource.props.get("enabled") is not False
        for resource in resources
    )


def _unencrypted_devices(resource: PolicyResource, by_default: bool) -> Iterator[str]:
    """Messages for the resource's EBS devices that end up unencrypted.

    An explicit `encrypted: false` is a violation even when encryption by default would override it; an
    unset flag, and an instance's implicit root volume (no `rootBlockDevice`), only without that default.
    """
    props, name = resource.props, resource.name
    if resource.resource_type == LAUNCH_TEMPLATE:
        for mapping in items(props.get("blockDeviceMappings")):
            ebs = dig(mapping, "ebs")
            encrypted = str(dig(ebs, "encrypted")).lower()
            if is_mapping(ebs) and encrypted != "true" and not (by_default and encrypted == "none"):
                yield f"Launch template {name} must encrypt its EBS volume {dig(mapping, 'deviceName') or '(unnamed)'}."
    elif resource.resource_type in INSTANCE_KINDS:
        root = props.get("rootBlockDevice")
        if not is_mapping(root) and not by_default:
            yield (
                f"{INSTANCE_KINDS[resource.resource_type]} {name} must encrypt its root volume: set "
                "rootBlockDevice.encrypted, or enable EBS encryption by default in the stack."
            )
        for device in [*([root] if is_mapping(root) else []), *items(props.get("ebsBlockDevices"))]:
            encrypted = dig(device, "encrypted")
            if encrypted is not True and not (by_default and encrypted is None):
                yield f"{name} must encrypt its EBS volume {dig(device, 'deviceName') or 'root'}."


def _block_devices(args: StackValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    by_default = encrypts_ebs_by_default(args.resources)
    for resource in args.resources:
        for message in _unencrypted_devices(resource, by_default):
            report(message, resource.urn)


def _log_group(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if args.resource_type != "aws:cloudwatch/logGroup:LogGroup":
        return
    if not args.props.get("kmsKeyId"):
        report(f"Log group {args.name} must be encrypted with a KMS key.")
    retention = number(args.props.get("retentionInDays"))
    if retention is None or retention <= 0:
        report(f"Log group {args.name} must set retentionInDays.")


def _sqs_queue(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != "aws:sqs/queue:Queue":
        return
    if args.props.get("sqsManagedSseEnabled") is not True and not args.props.get("kmsMasterKeyId"):
        report(f"SQS queue {args.name} must encrypt messages (sqsManagedSseEnabled or kmsMasterKeyId).")


def _kms_rotation(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != "aws:kms/key:Key":
        return
    spec = args.props.get("customerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    symmetric = spec == "SYMMETRIC_DEFAULT" and args.props.get("keyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"
    if symmetric and args.props.get("enableKeyRotation") is not True:
        report(f"KMS key {args.name} must have automatic key rotation enabled.")


def _eks_secrets(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != "aws:eks/cluster:Cluster":
        return
    config = args.props.get("encryptionConfig")
    if "secrets" not in strings(dig(config, "resources")) or not dig(config, "provider", "keyArn"):
        report(f"EKS cluster {args.name} must encrypt Kubernetes secrets with a KMS key.")


POLICIES = [
    stack_policy(
        "s3-public-access-blocked",
        "Every bucket must have a public-access block with all four settings on.",
        _each_bucket(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            _public_access_blocked,
            "Bucket {name} must have a public-access block with all four settings enabled.",
        ),
    ),
    stack_policy(
        "s3-encrypted-with-kms",
        "Every bucket must have default encryption with SSE-KMS.",
        _each_bucket(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            _encrypted_with_kms,
            "Bucket {name} must have default encryption with SSE-KMS.",
        ),
    ),
    stack_policy(
        "s3-versioning-enabled",
        "Every bucket must have versioning enabled.",
        _each_bucket(
            "aws:s3/bucketVersioning:BucketVersioning",
            _versioned,
            "Bucket {name} must have versioning enabled.",
        ),
    ),
    stack_policy(
        "s3-tls-only",
        "Every bucket policy must deny requests without TLS.",
        _each_bucket(
            "aws:s3/bucketPolicy:BucketPolicy",
            _tls_only,
            "Bucket {name} must have a policy that denies requests without TLS (aws:SecureTransport false).",
        ),
    ),
    stack_policy(
        "audit-bucket-object-lock",
        "Audit buckets must have Object Lock in COMPLIANCE mode.",
        _audit_object_lock,
        {
            "auditComponentTypes": Setting(
                "array", [type_token("AuditStore")], "Components whose buckets hold audit records."
            )
        },
    ),
    resource_policy(
        "s3-no-public-acl", "Buckets must not use public canned ACLs or grant to the public groups.", _public_acl
    ),
    resource_policy("s3-sse-algorithm-kms", "Bucket encryption rules must use SSE-KMS.", _sse_algorithm),
    resource_policy("ebs-volumes-encrypted", "EBS volumes must be encrypted.", _ebs_volume),
    stack_policy(
        "block-devices-encrypted",
        "Block devices of instances and launch templates must be encrypted, the implicit root volume included.",
        _block_devices,
    ),
    resource_policy(
        "log-groups-encrypted-and-retained",
        "Log groups must be KMS-encrypted and have a retention period.",
        _log_group,
    ),
    resource_policy("sqs-queues-encrypted", "SQS queues must encrypt messages at rest.", _sqs_queue),
    resource_policy("kms-key-rotation", "Symmetric KMS keys must rotate automatically.", _kms_rotation),
    resource_policy("eks-secrets-encrypted", "EKS clusters must encrypt Kubernetes secrets with KMS.", _eks_secrets),
]
