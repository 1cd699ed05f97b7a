"""Defects found by measuring the pack against two established IaC scanners (issue 16), each as the
case that exposed it: the rule's happy path, one changed field, the exact message (or none)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.policies import cases_aws
from tests.policies.harness import DELETE, Mutation, Res, RuleCases, evaluate, mutate

LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def launch_configuration() -> dict[str, Any]:
    return {
        "imageId": "ami-123",
        "instanceType": "m7i.large",
        "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required"},
        "rootBlockDevice": {"encrypted": True, "volumeSize": 50},
    }


def bucket_acl() -> dict[str, Any]:
    return {
        "bucket": "models",
        "accessControlPolicy": {
            "owner": {"id": "owner-1"},
            "grants": [{"grantee": {"type": "CanonicalUser", "id": "owner-1"}, "permission": "FULL_CONTROL"}],
        },
    }


def wildcard_statement(condition: dict[str, Any]) -> str:
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*", "Condition": condition}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def instance_stack() -> list[Res]:
    return [Res("aws:ec2/instance:Instance", "subject", cases_aws.instance())]


def config_map() -> dict[str, Any]:
    return {
        "metadata": {"name": "app", "namespace": "serving"},
        "data": {"config": "LOG_LEVEL=info\nREGION=us-east-1\n"},
    }


def _resource_case(policy: str, resource_type: str, happy: Any) -> RuleCases:
    return RuleCases(policy, resource_type, happy, (), Mutation("unused", None, ()), "")


WILDCARD = "subject must not allow a wildcard principal (*) without a narrowing condition."
IMDS_CONFIG = "Launch configuration subject must require IMDSv2 (metadataOptions.httpTokens = required)."
ROOT_VOLUME = (
    "Instance subject must encrypt its root volume: set rootBlockDevice.encrypted, or enable EBS encryption by "
    "default in the stack."
)

DEFECTS = [
    # 1. the AWS-managed key is not a customer-managed key
    pytest.param(
        _resource_case("secretsmanager-customer-key", "aws:secretsmanager/secret:Secret", lambda: {"kmsKeyId": "k"}),
        "kmsKeyId",
        "alias/aws/secretsmanager",
        ["Secret subject must be encrypted with a customer-managed KMS key, not alias/aws/secretsmanager."],
        id="1-secretsmanager-aws-managed-alias",
    ),
    pytest.param(
        _resource_case("secretsmanager-customer-key", "aws:secretsmanager/secret:Secret", lambda: {"kmsKeyId": "k"}),
        "kmsKeyId",
        "arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager",
        [
            "Secret subject must be encrypted with a customer-managed KMS key, not "
            "arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager."
        ],
        id="1-secretsmanager-aws-managed-alias-arn",
    ),
    # 2. launch configurations were not checked for IMDSv2 at all
    pytest.param(
        _resource_case("imdsv2-required-launch-templates", LAUNCH_CONFIGURATION, launch_configuration),
        "metadataOptions.httpTokens",
        "optional",
        [IMDS_CONFIG],
        id="2-launch-configuration-imds-optional",
    ),
    pytest.param(
        _resource_case("imdsv2-required-launch-templates", LAUNCH_CONFIGURATION, launch_configuration),
        "metadataOptions",
        DELETE,
        [IMDS_CONFIG],
        id="2-launch-configuration-imds-unset",
    ),
    # 3. a disabled metadata endpoint serves no IMDSv1
    pytest.param(
        _resource_case("imdsv2-required-instances", "aws:ec2/instance:Instance", cases_aws.instance),
        "metadataOptions",
        {"httpEndpoint": "disabled", "httpTokens": "optional"},
        [],
        id="3-instance-metadata-endpoint-disabled",
    ),
    pytest.param(
        _resource_case("imdsv2-required-launch-templates", LAUNCH_CONFIGURATION, launch_configuration),
        "metadataOptions",
        {"httpEndpoint": "disabled"},
        [],
        id="3-launch-configuration-metadata-endpoint-disabled",
    ),
    # 4. grants to AllUsers through accessControlPolicy
    pytest.param(
        _resource_case("s3-no-public-acl", "aws:s3/bucketAclV2:BucketAclV2", bucket_acl),
        "accessControlPolicy.grants.0",
        {"grantee": {"type": "Group", "uri": ALL_USERS}, "permission": "READ"},
        ["Bucket subject must not grant READ to AllUsers."],
        id="4-acl-grant-read-all-users",
    ),
    pytest.param(
        _resource_case("s3-no-public-acl", "aws:s3/bucketAclV2:BucketAclV2", bucket_acl),
        "accessControlPolicy.grants.0",
        {
            "grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},
            "permission": "WRITE",
        },
        ["Bucket subject must not grant WRITE to AuthenticatedUsers."],
        id="4-acl-grant-write-authenticated-users",
    ),
    pytest.param(
        _resource_case("s3-no-public-acl", "aws:s3/bucket:Bucket", lambda: {"bucket": "models"}),
        "grants",
        [{"type": "Group", "uri": ALL_USERS, "permissions": ["READ", "READ_ACP"]}],
        ["Bucket subject must not grant READ, READ_ACP to AllUsers."],
        id="4-inline-bucket-grants",
    ),
    pytest.param(
        _resource_case("s3-no-public-acl", "aws:s3/bucketAclV2:BucketAclV2", bucket_acl),
        "accessControlPolicy.grants.0",
        {"grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/s3/LogDelivery"}, "permission": "WRITE"},
        [],
        id="4-log-delivery-group-is-not-public",
    ),
    # 5. narrowing condition keys: more of them, case-insensitive, never under a negated operator
    *(
        pytest.param(
            _resource_case("iam-no-wildcard-principal", "aws:s3/bucketPolicy:BucketPolicy", cases_aws.bucket_policy),
            "policy",
            wildcard_statement(condition),
            [],
            id=f"5-narrowed-by-{name}",
        )
        for name, condition in [
            ("principal-arn", {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/reader"}}),
            ("principal-arn-like", {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app-*"}}),
            ("source-arn", {"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:123456789012:trail/*"}}),
            ("userid", {"StringLike": {"aws:userid": "AROAEXAMPLEID:*"}}),
            ("vpce-account", {"StringEquals": {"aws:VpceAccount": "123456789012"}}),
            ("lower-case-source-vpce", {"StringEquals": {"aws:sourceVpce": "vpce-1a2b3c4d"}}),
        ]
    ),
    pytest.param(
        _resource_case("iam-no-wildcard-principal", "aws:s3/bucketPolicy:BucketPolicy", cases_aws.bucket_policy),
        "policy",
        wildcard_statement({"StringNotEquals": {"aws:PrincipalAccount": "123456789012"}}),
        [WILDCARD],
        id="5-negated-operator-does-not-narrow",
    ),
    pytest.param(
        _resource_case("iam-no-wildcard-principal", "aws:s3/bucketPolicy:BucketPolicy", cases_aws.bucket_policy),
        "policy",
        wildcard_statement({"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
        [WILDCARD],
        id="5-if-exists-does-not-narrow",
    ),
    pytest.param(
        _resource_case("iam-no-wildcard-principal", "aws:s3/bucketPolicy:BucketPolicy", cases_aws.bucket_policy),
        "policy",
        wildcard_statement({"StringLike": {"aws:PrincipalArn": "*"}}),
        [WILDCARD],
        id="5-wildcard-value-does-not-narrow",
    ),
    # 6. the implicit root volume of an instance, unless EBS encryption by default is on
    pytest.param(
        RuleCases("block-devices-encrypted", "", instance_stack, (), Mutation("unused", None, ()), ""),
        "subject/rootBlockDevice",
        DELETE,
        [ROOT_VOLUME],
        id="6-implicit-root-volume",
    ),
    # 7. a credential inside a config-file style value
    pytest.param(
        _resource_case("configmap-no-secrets", "kubernetes:core/v1:ConfigMap", config_map),
        "data.config",
        "LOG_LEVEL=info\nREDIS_PASSWORD=s3cr3t-value\n",
        [
            "ConfigMap subject must not hold the secret REDIS_PASSWORD (in config); use a Secret synced by External Secrets."
        ],
        id="7-configmap-env-file-line",
    ),
    pytest.param(
        _resource_case("configmap-no-secrets", "kubernetes:core/v1:ConfigMap", config_map),
        "data.config",
        "LOG_LEVEL=info\nREDIS_PASSWORD_FILE=/run/secrets/redis\nAPI_TOKEN=\n",
        [],
        id="7-configmap-references-and-empty-values-pass",
    ),
]


@pytest.mark.parametrize(("case", "path", "value", "expected"), DEFECTS)
def test_defect(case: RuleCases, path: str, value: Any, expected: list[str]) -> None:
    assert evaluate(case, case.happy()) == []
    assert evaluate(case, mutate(case.happy(), path, value)) == expected


def test_default_ebs_encryption_in_the_stack_covers_the_implicit_root_volume() -> None:
    case = RuleCases("block-devices-encrypted", "", instance_stack, (), Mutation("unused", None, ()), "")
    stack = mutate(instance_stack(), "subject/rootBlockDevice", DELETE)
    by_default = Res("aws:ebs/encryptionByDefault:EncryptionByDefault", "ebs-default", {"enabled": True})
    assert evaluate(case, [*stack, by_default]) == []
    assert evaluate(case, [*stack, Res(by_default.type, "ebs-default", {"enabled": False})]) == [ROOT_VOLUME]


def test_configmap_yaml_file_value() -> None:
    case = _resource_case("configmap-no-secrets", "kubernetes:core/v1:ConfigMap", config_map)
    value = "redis:\n  host: cache\n  password: hunter2-longer\n"
    assert evaluate(case, mutate(config_map(), "data.config", value)) == [
        "ConfigMap subject must not hold the secret password (in config); use a Secret synced by External Secrets."
    ]
