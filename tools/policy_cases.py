"""Labelled policy cases from the shared fixture sets, as Pulumi resources.

Reads JSON Lines in four shapes:
- `{pulumi_type, props, expected: pass|fail, policy_id}` (Pulumi's compliance-policies tests),
- `{manifest, expected, policy, constraint_parameters?}` (Kyverno / Gatekeeper / Polaris manifests),
- `{resources: [{type, after}], plan_expected, policy}` (Sentinel tfplan/v2 mocks; Terraform names
  are mapped to Pulumi's: `aws_instance` → `aws:ec2/instance:Instance`, snake_case → camelCase,
  single nested blocks → objects),
- `{query, file, expected}` (KICS: an index of Pulumi YAML programs, read from `file` beside the index;
  `aws:rds:Instance` → `aws:rds/instance:Instance`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.jsonl import jsonl_objects
from tools.policy_upstream import UPSTREAM_RULES, Rules

__all__ = ["Case", "kubernetes_type", "load_cases", "pulumi_type", "pulumi_yaml_resources", "terraform_to_pulumi"]

TERRAFORM_TYPES = {
    "aws_instance": "aws:ec2/instance:Instance",
    "aws_launch_configuration": "aws:ec2/launchConfiguration:LaunchConfiguration",
    "aws_security_group": "aws:ec2/securityGroup:SecurityGroup",
    "aws_security_group_rule": "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws_s3_bucket": "aws:s3/bucket:Bucket",
    "aws_s3_bucket_acl": "aws:s3/bucketAclV2:BucketAclV2",
    "aws_s3_bucket_server_side_encryption_configuration": (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ),
    "aws_kms_key": "aws:kms/key:Key",
    "aws_eks_cluster": "aws:eks/cluster:Cluster",
    "aws_eks_node_group": "aws:eks/nodeGroup:NodeGroup",
    "aws_vpc": "aws:ec2/vpc:Vpc",
    "aws_subnet": "aws:ec2/subnet:Subnet",
    "aws_iam_role": "aws:iam/role:Role",
}
# Terraform blocks that stay lists in Pulumi (every other single nested block becomes an object).
LIST_BLOCKS = {"ingress", "egress", "ebsBlockDevice", "rules"}
RENAMED = {("aws_s3_bucket_server_side_encryption_configuration", "rule"): "rules"}


@dataclass(frozen=True)
class Case:
    """One labelled case: the resources it is made of and what upstream expects."""

    id: str
    upstream: str
    expected: str  # "pass" | "fail"
    resources: tuple[tuple[str, dict[str, Any]], ...]
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    rules: Rules = ()
    """Pack rules whose violations mean "fail" (the upstream policy's, or what its parameters ask)."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def terraform_to_pulumi(tf_type: str, value: Any, key: str = "") -> Any:
    """Terraform planned values → Pulumi inputs: camelCase keys, single blocks as objects, nulls dropped."""
    if isinstance(value, dict):
        converted = {}
        for name, item in value.items():
            if item is None or item == []:
                continue
            pulumi_name = RENAMED.get((tf_type, name), _camel(name))
            converted[pulumi_name] = terraform_to_pulumi(tf_type, item, pulumi_name)
        return converted
    if isinstance(value, list):
        items = [terraform_to_pulumi(tf_type, item) for item in value]
        if key not in LIST_BLOCKS and len(items) == 1 and isinstance(items[0], dict):
            return items[0]
        return items
    return value


def pulumi_type(token: str) -> str:
    """A type token in full: Pulumi YAML's `aws:rds:Instance` is `aws:rds/instance:Instance`."""
    package, _, rest = token.partition(":")
    module, _, name = rest.partition(":")
    if package == "kubernetes" or "/" in module or not name:
        return token
    return f"{package}:{module}/{name[:1].lower()}{name[1:]}:{name}"


def pulumi_yaml_resources(program: Any) -> tuple[tuple[str, dict[str, Any]], ...]:
    """The (type, properties) of every resource a Pulumi YAML program declares."""
    declared = program.get("resources") if isinstance(program, Mapping) else None
    if not isinstance(declared, Mapping):
        raise ValueError("a Pulumi YAML program declares its resources under `resources:`")
    return tuple(
        (pulumi_type(str(resource["type"])), dict(resource.get("properties") or {}))
        for resource in declared.values()
        if isinstance(resource, Mapping) and "type" in resource
    )


def kubernetes_type(manifest: Mapping[str, Any]) -> str:
    api_version = str(manifest.get("apiVersion") or "v1")
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{manifest.get('kind')}"


# A TypeScript expression the compliance-policies extraction could not evaluate (`"<String(...)>"`).
UNEVALUATED = re.compile(r"^<.*\(\.\.\.\)>$")
UNKNOWN = "[unknown]"  # the plan's marker, sent to the pack as the engine's unknown value


def _unknown_where_unevaluated(value: Any) -> Any:
    """Values the extraction could not evaluate are unknown to the pack, as during a preview."""
    if isinstance(value, dict):
        return {key: _unknown_where_unevaluated(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unknown_where_unevaluated(item) for item in value]
    return UNKNOWN if isinstance(value, str) and UNEVALUATED.match(value) else value


def _gatekeeper_parameters(upstream: str, parameters: Any) -> tuple[Rules | None, dict[str, dict[str, Any]]]:
    """Rules and settings a Gatekeeper constraint's parameters ask for: capabilities and container resources.

    `containerlimits`/`containerrequests` also cap the values; the pack checks presence only, and a
    `-1` parameter means "not this resource".
    """
    parameters = parameters if isinstance(parameters, dict) else {}
    if upstream == "capabilities":
        drop = [str(capability).upper() for capability in parameters.get("requiredDropCapabilities", [])]
        rules: Rules = ("k8s-no-added-capabilities", *(("k8s-drop-all-capabilities",) if "ALL" in drop else ()))
        allowed = [str(capability) for capability in parameters.get("allowedCapabilities", [])]
        return rules, {"k8s-no-added-capabilities": {"allowedCapabilities": allowed}}
    if upstream == "containerresources":
        wanted = {"requests": list(parameters.get("requests", [])), "limits": list(parameters.get("limits", []))}
        return None, {"k8s-resources-set": wanted}
    if upstream in ("containerlimits", "containerrequests"):
        kind = "limits" if upstream == "containerlimits" else "requests"
        present = [resource for resource in ("cpu", "memory") if str(parameters.get(resource, "-1")) != "-1"]
        return None, {"k8s-resources-set": {"requests": [], "limits": [], kind: present}}
    return None, {}


def _gatekeeper_repos(parameters: Any) -> dict[str, dict[str, Any]]:
    repos = [str(repo) for repo in (parameters or {}).get("repos", [])]
    return (
        {"k8s-images-from-allowed-registries": {"allowedRegistries": [f"{repo}*" for repo in repos]}} if repos else {}
    )


def _gatekeeper_labels(parameters: Any) -> dict[str, dict[str, Any]]:
    keys = [entry.get("key") for entry in (parameters or {}).get("labels", []) if isinstance(entry, dict)]
    return {"k8s-required-labels": {"requiredLabels": keys, "exemptKinds": []}} if keys else {}


def load_cases(path: Path) -> tuple[list[Case], Counter[str]]:
    """The cases of one JSON Lines file, and counts of rows skipped by reason."""
    cases: list[Case] = []
    skipped: Counter[str] = Counter()
    for where, row in jsonl_objects(path):
        upstream = str(row.get("policy_id") or row.get("policy") or "")
        row_id = str(row.get("id") or f"{path.name}:{where.rpartition(':')[2]}")
        resources: tuple[tuple[str, dict[str, Any]], ...]
        if "pulumi_type" in row:
            if any("(" in str(mutation).partition("=")[2] for mutation in row.get("mutations") or ()):
                skipped["labels set by an expression the extraction could not evaluate"] += 1
                continue
            resources = ((row["pulumi_type"], _unknown_where_unevaluated(dict(row.get("props") or {}))),)
            expected = row.get("expected")
        elif "manifest" in row:
            manifest = dict(row["manifest"])
            props = {key: value for key, value in manifest.items() if key not in ("apiVersion", "kind")}
            resources = ((kubernetes_type(manifest), props),)
            expected = row.get("expected")
        elif "resources" in row:
            if row.get("mock_import") != "tfplan/v2":
                skipped["Sentinel config/state mocks (no planned values)"] += 1
                continue
            # A resource without `after` is being destroyed: it is not part of the planned stack.
            resources = tuple(
                (TERRAFORM_TYPES[r["type"]], terraform_to_pulumi(r["type"], r["after"]))
                for r in row["resources"]
                if r.get("type") in TERRAFORM_TYPES and r.get("after") is not None
            )
            expected = row.get("plan_expected")
        elif "query" in row and "file" in row:
            upstream = str(row["query"])
            program = path.parent / str(row["file"])
            if program.suffix not in (".yaml", ".yml") or row.get("expected") not in ("pass", "fail"):
                skipped["KICS fixtures that are not Pulumi YAML programs"] += 1
                continue
            # One file may hold several programs (`---`): their resources form one stack.
            resources = tuple(
                resource
                for document in yaml.safe_load_all(program.read_text())
                for resource in pulumi_yaml_resources(document)
            )
            expected = row.get("expected")
        else:
            raise ValueError(f"{where}: expected pulumi_type+props, manifest, resources or query+file")
        if expected not in ("pass", "fail"):
            raise ValueError(f"{where}: expected must be 'pass' or 'fail', got {expected!r}")
        if upstream not in UPSTREAM_RULES:
            skipped[f"no pack rule for upstream policy {upstream}"] += 1
            continue
        parameters = row.get("constraint_parameters")
        rules, constraint_settings = _gatekeeper_parameters(upstream, parameters)
        settings = {
            **UPSTREAM_RULES[upstream][1],
            **_gatekeeper_labels(parameters),
            **_gatekeeper_repos(parameters),
            **constraint_settings,
        }
        cases.append(Case(row_id, upstream, expected, resources, settings, rules or UPSTREAM_RULES[upstream][0]))
    return cases, skipped
