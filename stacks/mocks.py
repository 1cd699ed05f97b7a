"""Offline stand-ins for the cloud providers.

Without the Pulumi CLI and provider plugins nothing can be previewed for real on a machine like
this, so the stack is rendered under the SDK's mock runtime (`stacks/pulumi_internals.py`):

- `PlanMocks` plays the providers: it echoes inputs and computes what a provider would (ids,
  ARNs, bucket names, `tagsAll` from the provider's default tags, availability zones...).
- `RecordingMonitor` (in `stacks/pulumi_internals.py`) plays the engine's resource monitor and
  records what the engine would see for every registration.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from platform_facts.tags import is_taggable
from stacks.pulumi_internals import (
    SECRET_SIGNATURE,
    SIGNATURE_KEY,
    MockCallArgs,
    MockResourceArgs,
    Mocks,
    RecordingMonitor,
    is_unknown,
)

__all__ = [
    "ACCOUNT_ID",
    "COMPUTED_OUTPUTS",
    "PlanMocks",
    "plain",
]

ACCOUNT_ID = "123456789012"
SECRET_MARKER = "[secret]"
UNKNOWN_MARKER = "[unknown]"


def plain(value: Any) -> Any:
    """Inputs as JSON-safe data: secrets become `[secret]` (never their value), unknowns `[unknown]`."""
    if isinstance(value, dict):
        if value.get(SIGNATURE_KEY) == SECRET_SIGNATURE:
            return SECRET_MARKER
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if is_unknown(value):
        return UNKNOWN_MARKER
    if value is None or isinstance(value, bool | int | float | str):
        return value
    urn = getattr(value, "urn", None)
    return f"<resource {urn}>" if urn is not None else str(value)


def _unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIGNATURE_KEY) == SECRET_SIGNATURE:
            return _unwrap_secrets(value.get("value"))
        return {key: _unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(item) for item in value]
    return value


# Per type: computed outputs a provider would return, from (name, inputs, region).
ComputedOutputs = Callable[[str, dict[str, Any], str], dict[str, Any]]
COMPUTED_OUTPUTS: dict[str, ComputedOutputs] = {
    "aws:s3/bucket:Bucket": lambda name, inputs, region: {
        "bucket": inputs.get("bucket") or f"{name}-0a1b2c3",
        "arn": f"arn:aws:s3:::{inputs.get('bucket') or f'{name}-0a1b2c3'}",
    },
    "aws:kms/key:Key": lambda name, inputs, region: {
        "keyId": f"{name}-key-id",
        "arn": f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{name}-key-id",
    },
    "aws:iam/role:Role": lambda name, inputs, region: {
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{inputs.get('name') or name}",
        "name": inputs.get("name") or name,
    },
    "aws:eks/cluster:Cluster": lambda name, inputs, region: {
        "name": inputs.get("name") or name,
        "arn": f"arn:aws:eks:{region}:{ACCOUNT_ID}:cluster/{inputs.get('name') or name}",
        "endpoint": f"https://{name}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "LS0tLS1CRUdJTi1QTEFOLUNBLS0tLS0="},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{name.upper()}"}]}],
        "vpcConfig": {
            **(inputs.get("vpcConfig") or {}),
            "clusterSecurityGroupId": f"sg-{name}-cluster",
            "vpcId": f"vpc-{name}",
        },
    },
    "aws:ecr/repository:Repository": lambda name, inputs, region: {
        "name": inputs.get("name") or name,
        "registryId": ACCOUNT_ID,
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{inputs.get('name') or name}",
        "arn": f"arn:aws:ecr:{region}:{ACCOUNT_ID}:repository/{inputs.get('name') or name}",
    },
    "aws:acm/certificate:Certificate": lambda name, inputs, region: {
        "arn": f"arn:aws:acm:{region}:{ACCOUNT_ID}:certificate/{hashlib.sha256(name.encode()).hexdigest()[:36]}",
        "domainValidationOptions": [
            {
                "domainName": domain,
                "resourceRecordName": f"_validation.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_validation.{domain}.acm-validations.aws.",
            }
            for domain in [inputs.get("domainName"), *(inputs.get("subjectAlternativeNames") or [])]
            if domain
        ],
    },
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": lambda name, inputs, region: {
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{str(inputs.get('url', name)).removeprefix('https://')}",
    },
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs, region: {"latestVersion": 1, "defaultVersion": 1},
    "aws:iam/policy:Policy": lambda name, inputs, region: {"arn": f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}"},
    "aws:sqs/queue:Queue": lambda name, inputs, region: {
        "name": inputs.get("name") or name,
        "arn": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{inputs.get('name') or name}",
        "url": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{inputs.get('name') or name}",
    },
    "aws:rds/instance:Instance": lambda name, inputs, region: {
        "address": f"{name}.c0a1b2c3d4e5.{region}.rds.amazonaws.com",
        "endpoint": f"{name}.c0a1b2c3d4e5.{region}.rds.amazonaws.com:{inputs.get('port') or 5432}",
        "port": inputs.get("port") or 5432,
        "resourceId": f"db-{hashlib.sha256(name.encode()).hexdigest()[:26].upper()}",
        "masterUserSecrets": [
            {
                "secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:rds!{name}-AbCdEf",
                "kmsKeyId": inputs.get("masterUserSecretKmsKeyId"),
                "secretStatus": "active",
            }
        ]
        if inputs.get("manageMasterUserPassword")
        else [],
    },
    "aws:cloudwatch/eventRule:EventRule": lambda name, inputs, region: {
        "name": inputs.get("name") or name,
        "arn": f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{inputs.get('name') or name}",
    },
}


def _nothing_computed(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {}


def _generic_arn(type_token: str, name: str, region: str) -> str:
    service = type_token.split(":")[1].split("/")[0]
    kind = re.sub(r"(?<!^)(?=[A-Z])", "-", type_token.rsplit(":", 1)[1]).lower()
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{kind}/{name}"


class PlanMocks(Mocks):
    """Provider behaviour for an offline render: echo inputs, add what the cloud would compute."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.monitor: RecordingMonitor | None = None
        """The monitor recording this render, where the provider's default tags are read from."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if args.typ.startswith("aws:"):
            outputs.setdefault("arn", _generic_arn(args.typ, args.name, self.region))
            outputs.update(COMPUTED_OUTPUTS.get(args.typ, _nothing_computed)(args.name, args.inputs, self.region))
            if is_taggable(args.typ):
                outputs["tagsAll"] = {**self._default_tags(args.provider), **(args.inputs.get("tags") or {})}
        else:
            outputs.update(COMPUTED_OUTPUTS.get(args.typ, _nothing_computed)(args.name, args.inputs, self.region))
        return resource_id, outputs

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        zones = [f"{self.region}{letter}" for letter in "abcdef"]
        results: dict[str, dict[str, Any]] = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": {
                "names": zones,
                "zoneIds": [f"{self.region[:3]}{self.region[-1]}-az{index}" for index in range(1, 7)],
                "id": self.region,
            },
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/plan",
                "userId": "AIDPLAN",
                "id": ACCOUNT_ID,
            },
            "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
            "aws:index/getRegion:getRegion": {"name": self.region, "region": self.region, "id": self.region},
        }
        if args.token == "aws:ecr/getImage:getImage":
            return self._ecr_image(args.args)
        return results.get(args.token, {})

    def _ecr_image(self, query: dict[str, Any]) -> dict[str, Any]:
        """What ECR answers for an image looked up by tag: the workflow pushed it, so it has a digest
        (derived from repository and tag here, so a render is repeatable)."""
        repository, tag = query.get("repositoryName"), query.get("imageTag")
        digest = "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
        return {
            "id": f"{repository}@{digest}",
            "imageDigest": digest,
            "imageTag": tag,
            "imageTags": [tag],
            "registryId": ACCOUNT_ID,
            "repositoryName": repository,
            "imageUri": f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com/{repository}@{digest}",
            "imagePushedAt": 1764806400,
            "imageSizeInBytes": 1_100_000_000,
        }

    def _default_tags(self, provider_reference: str | None) -> dict[str, str]:
        if not provider_reference or self.monitor is None:
            return {}
        provider = self.monitor.lookup(provider_reference.rsplit("::", 1)[0])
        if provider is None:
            return {}
        default_tags = _unwrap_secrets(provider.inputs.get("defaultTags"))
        if isinstance(default_tags, str):  # provider inputs arrive JSON-encoded
            default_tags = json.loads(default_tags)
        return dict((default_tags or {}).get("tags") or {})
