"""Offline stand-ins for the Pulumi engine and the cloud providers.

Without the Pulumi CLI and provider plugins nothing can be previewed for real on a machine like
this, so the stack is rendered under `pulumi.runtime.set_mocks`:

- `PlanMocks` plays the providers: it echoes inputs and computes what a provider would (ids,
  ARNs, bucket names, `tagsAll` from the provider's default tags, availability zones...).
- `RecordingMonitor` plays the engine's resource monitor and records what the engine would see
  for every registration: URN, type, parent, provider, dependencies, protect, inputs.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from platform_facts.tags import is_taggable

__all__ = [
    "ACCOUNT_ID",
    "COMPUTED_OUTPUTS",
    "PlanMocks",
    "RecordedResource",
    "RecordingMonitor",
    "plain",
]

ACCOUNT_ID = "123456789012"
_SECRET_SIG = rpc._special_secret_sig if hasattr(rpc, "_special_secret_sig") else "1b47061264138c4ac30d75fd1eb44270"
_SIG_KEY = rpc._special_sig_key if hasattr(rpc, "_special_sig_key") else "4dabf18193072939515e22adb298388d"
SECRET_MARKER = "[secret]"
UNKNOWN_MARKER = "[unknown]"


def plain(value: Any) -> Any:
    """Inputs as JSON-safe data: secrets become `[secret]` (never their value), unknowns `[unknown]`."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return SECRET_MARKER
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN_MARKER
    if value is None or isinstance(value, bool | int | float | str):
        return value
    urn = getattr(value, "urn", None)
    return f"<resource {urn}>" if urn is not None else str(value)


def _unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _unwrap_secrets(value.get("value"))
        return {key: _unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(item) for item in value]
    return value


@dataclass
class RecordedResource:
    """One registration as the engine sees it."""

    urn: str
    type: str
    name: str
    parent: str
    provider: str
    dependencies: list[str]
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def provider_urn(self) -> str:
        """The provider reference without its `::id` suffix."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


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
        "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{name}-cluster"},
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
    "aws:cloudwatch/eventRule:EventRule": lambda name, inputs, region: {
        "name": inputs.get("name") or name,
        "arn": f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{inputs.get('name') or name}",
    },
}


def _generic_arn(type_token: str, name: str, region: str) -> str:
    service = type_token.split(":")[1].split("/")[0]
    kind = re.sub(r"(?<!^)(?=[A-Z])", "-", type_token.rsplit(":", 1)[1]).lower()
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{kind}/{name}"


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock resource monitor that records every registration in order."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        mocks.monitor = self
        self.recorded: list[RecordedResource] = []
        self._by_urn: dict[str, RecordedResource] = {}
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type != "pulumi:pulumi:Stack":
            record = RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                provider=request.provider,
                dependencies=sorted(set(request.dependencies)),
                custom=bool(request.custom),
                protect=bool(request.protect),
                inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
            )
            with self._lock:
                self.recorded.append(record)
                self._by_urn[urn] = record
        response = super().RegisterResource(request)
        if urn in self._by_urn:
            self._by_urn[urn].outputs = self.resources[urn].state
            self._by_urn[urn].id = self.resources[urn].id or ""
        return response

    def lookup(self, urn: str) -> RecordedResource | None:
        """The recorded resource with this URN, if any."""
        with self._lock:
            return self._by_urn.get(urn)


class PlanMocks(pulumi_mocks.Mocks):
    """Provider behaviour for an offline render: echo inputs, add what the cloud would compute."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.monitor: RecordingMonitor | None = None

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if args.typ.startswith("aws:"):
            outputs.setdefault("arn", _generic_arn(args.typ, args.name, self.region))
            outputs.update(COMPUTED_OUTPUTS.get(args.typ, lambda *_: {})(args.name, args.inputs, self.region))
            if is_taggable(args.typ):
                outputs["tagsAll"] = {**self._default_tags(args.provider), **(args.inputs.get("tags") or {})}
        else:
            outputs.update(COMPUTED_OUTPUTS.get(args.typ, lambda *_: {})(args.name, args.inputs, self.region))
        return resource_id, outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
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
        return results.get(args.token, {})

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
