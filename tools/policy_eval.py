"""Fixture evaluation: run the packaged pack over externally labelled cases and measure agreement.

    make policy-eval FILE=../shared/eval/k8s-policy-fixtures/cases.jsonl

Reads JSON Lines in any of three shapes:
- `{pulumi_type, props, expected: pass|fail, policy_id}` (Pulumi's compliance-policies tests),
- `{manifest, expected, policy, constraint_parameters?}` (Kyverno / Gatekeeper / Polaris manifests),
- `{resources: [{type, after}], plan_expected, policy}` (Sentinel tfplan/v2 mocks; Terraform names
  are mapped to Pulumi's: `aws_instance` → `aws:ec2/instance:Instance`, snake_case → camelCase,
  single nested blocks → objects).

Each upstream policy maps to the pack rule(s) that judge the same thing (`UPSTREAM_RULES`); a case
counts as "fail" when any of those rules reports a violation (resource or stack level; the case's
resources form the stack). Upstream policies the pack has no rule for are counted, not guessed.
Prints a confusion matrix per rule, overall agreement, and with `--disagreements` each case the
pack judges differently. The pack runs as a subprocess over gRPC, as in `make policy`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.plan import PlanGraph, PlannedResource
from tools.confusion import ConfusionMatrix
from tools.policy_check import Analyzer, PolicyCheckError

__all__ = ["UPSTREAM_RULES", "Case", "load_cases", "main", "run_cases"]

# Upstream policy id → (pack rules that judge it, settings those rules need to match upstream's parameters).
Rules = tuple[str, ...]
UPSTREAM_RULES: dict[str, tuple[Rules, dict[str, dict[str, Any]]]] = {
    # Pulumi compliance-policies (AWS)
    "aws-ec2-instance-disallow-public-ip": (("no-public-ip-on-instances",), {}),
    "aws-ec2-instance-disallow-unencrypted-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-instance-disallow-unencrypted-root-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-launchconfiguration-disallow-public-ip": (("no-public-ip-on-node-launch-templates",), {}),
    "aws-ec2-launchconfiguration-disallow-unencrypted-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-launchconfiguration-disallow-unencrypted-root-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-launchtemplate-disallow-public-ip": (("no-public-ip-on-node-launch-templates",), {}),
    "aws-ec2-launchtemplate-disallow-unencrypted-block-device": (("block-devices-encrypted",), {}),
    "aws-ec2-securitygroup-disallow-public-internet-ingress": (
        ("no-public-admin-ingress", "no-public-database-ingress"),
        {},
    ),
    "aws-ec2-securitygroup-missing-description": (("security-group-described",), {}),
    "aws-ebs-volume-disallow-unencrypted-volume": (("ebs-volumes-encrypted",), {}),
    "aws-eks-cluster-disallow-api-endpoint-public-access": (("eks-endpoint-private",), {}),
    "aws-eks-cluster-enable-cluster-encryption-config": (("eks-secrets-encrypted",), {}),
    "aws-kms-key-enable-key-rotation": (("kms-key-rotation",), {}),
    "aws-s3-bucket-disallow-public-read": (("s3-no-public-acl",), {}),
    "aws-s3-bucket-enable-server-side-encryption": (("s3-encrypted-with-kms",), {}),
    "aws-s3-bucket-configure-server-side-encryption-kms": (("s3-sse-algorithm-kms",), {}),
    # Pulumi compliance-policies (Kubernetes)
    **{
        f"kubernetes-{group}-{kind}-enable-read-only-root-filesystem": (("k8s-read-only-root-filesystem",), {})
        for group, kind in (
            ("apps-v1", "daemonset"),
            ("apps-v1", "deployment"),
            ("apps-v1", "replicaset"),
            ("apps-v1", "statefulset"),
            ("batch-v1", "cronjob"),
            ("batch-v1", "job"),
        )
    },
    "kubernetes-core-v1-service-disallow-load-balancer": (("public-ingress-gateway-only",), {}),
    # Kyverno
    "disallow-capabilities": (("k8s-drop-all-capabilities",), {}),
    "disallow-host-namespaces": (("k8s-no-host-namespaces",), {}),
    "disallow-host-path": (("k8s-no-host-path",), {}),
    "disallow-host-ports": (("k8s-no-host-ports",), {}),
    "disallow-host-process": (("k8s-no-host-process",), {}),
    "disallow-latest-tag": (("k8s-images-pinned",), {"k8s-images-pinned": {"requireDigest": False}}),
    "disallow-privilege-escalation": (("k8s-no-privilege-escalation",), {}),
    "disallow-privileged-containers": (("k8s-no-privileged",), {}),
    "require-cpu-limits": (("k8s-resources-set",), {"k8s-resources-set": {"requests": [], "limits": ["cpu"]}}),
    "require-pod-requests-limits": (
        ("k8s-resources-set",),
        {"k8s-resources-set": {"requests": ["cpu", "memory"], "limits": ["memory"]}},
    ),
    "require-labels": (
        ("k8s-required-labels",),
        {"k8s-required-labels": {"requiredLabels": ["app.kubernetes.io/name"], "exemptKinds": []}},
    ),
    "restrict-image-registries": (
        ("k8s-images-from-allowed-registries",),
        {"k8s-images-from-allowed-registries": {"allowedRegistries": ["eu.foo.io/*", "bar.io/*"]}},
    ),
    "require-ro-rootfs": (("k8s-read-only-root-filesystem",), {}),
    "require-run-as-nonroot": (("k8s-run-as-non-root",), {}),
    # Gatekeeper library
    "allow-privilege-escalation": (("k8s-no-privilege-escalation",), {}),
    "allowedrepos": (("k8s-images-from-allowed-registries",), {}),  # repos come from each case's constraint
    "capabilities": (("k8s-drop-all-capabilities",), {}),
    "containerlimits": (("k8s-resources-set",), {"k8s-resources-set": {"requests": [], "limits": ["cpu", "memory"]}}),
    "containerrequests": (("k8s-resources-set",), {"k8s-resources-set": {"requests": ["cpu", "memory"], "limits": []}}),
    "containerresources": (("k8s-resources-set",), {}),
    "disallowedtags": (("k8s-images-pinned",), {"k8s-images-pinned": {"requireDigest": False}}),
    "host-filesystem": (("k8s-no-host-path",), {}),
    "host-namespaces": (("k8s-no-host-namespaces",), {}),
    "host-network-ports": (("k8s-no-host-namespaces", "k8s-no-host-ports"), {}),
    "privileged-containers": (("k8s-no-privileged",), {}),
    "read-only-root-filesystem": (("k8s-read-only-root-filesystem",), {}),
    "requiredlabels": (("k8s-required-labels",), {}),  # label keys come from each case's constraint
    "users": (("k8s-run-as-non-root",), {}),
    # Polaris
    "cpuLimitsMissing": (("k8s-resources-set",), {"k8s-resources-set": {"requests": [], "limits": ["cpu"]}}),
    "cpuRequestsMissing": (("k8s-resources-set",), {"k8s-resources-set": {"requests": ["cpu"], "limits": []}}),
    "memoryLimitsMissing": (("k8s-resources-set",), {"k8s-resources-set": {"requests": [], "limits": ["memory"]}}),
    "memoryRequestsMissing": (("k8s-resources-set",), {"k8s-resources-set": {"requests": ["memory"], "limits": []}}),
    "dangerousCapabilities": (("k8s-drop-all-capabilities",), {}),
    "insecureCapabilities": (("k8s-drop-all-capabilities",), {}),
    "hostIPCSet": (("k8s-no-host-namespaces",), {}),
    "hostNetworkSet": (("k8s-no-host-namespaces",), {}),
    "hostPIDSet": (("k8s-no-host-namespaces",), {}),
    "hostPathSet": (("k8s-no-host-path",), {}),
    "hostPortSet": (("k8s-no-host-ports",), {}),
    "notReadOnlyRootFilesystem": (("k8s-read-only-root-filesystem",), {}),
    "privilegeEscalationAllowed": (("k8s-no-privilege-escalation",), {}),
    "runAsPrivileged": (("k8s-no-privileged",), {}),
    "runAsRootAllowed": (("k8s-run-as-non-root",), {}),
    "tagNotSpecified": (("k8s-images-pinned",), {"k8s-images-pinned": {"requireDigest": False}}),
    # Sentinel
    "enforce-mandatory-tags": (
        ("aws-required-tags",),
        {"aws-required-tags": {"requiredTags": ["Name", "ttl", "owner", "se-region", "purpose", "terraform"]}},
    ),
    "check-ec2-environment-tag": (("aws-required-tags",), {"aws-required-tags": {"requiredTags": ["Environment"]}}),
    "enforce_s3_encryption": (("s3-encrypted-with-kms",), {}),
    "restrict_s3_acl": (("s3-no-public-acl",), {}),
    "require-private-acl-and-kms-for-s3-buckets": (("s3-no-public-acl", "s3-encrypted-with-kms"), {}),
    "restrict-ingress-sg-rule-ssh": (("no-public-admin-ingress",), {"no-public-admin-ingress": {"ports": [22]}}),
    "restrict-ingress-sg-rule-rdp": (("no-public-admin-ingress",), {"no-public-admin-ingress": {"ports": [3389]}}),
}

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


def kubernetes_type(manifest: Mapping[str, Any]) -> str:
    api_version = str(manifest.get("apiVersion") or "v1")
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{manifest.get('kind')}"


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
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
        upstream = str(row.get("policy_id") or row.get("policy") or "")
        row_id = str(row.get("id") or f"{path.name}:{number}")
        resources: tuple[tuple[str, dict[str, Any]], ...]
        if "pulumi_type" in row:
            resources = ((row["pulumi_type"], dict(row.get("props") or {})),)
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
            resources = tuple(
                (TERRAFORM_TYPES[r["type"]], terraform_to_pulumi(r["type"], r.get("after") or {}))
                for r in row["resources"]
                if r.get("type") in TERRAFORM_TYPES
            )
            expected = row.get("plan_expected")
        else:
            raise ValueError(f"{path}:{number}: expected pulumi_type+props, manifest or resources")
        if expected not in ("pass", "fail"):
            raise ValueError(f"{path}:{number}: expected must be 'pass' or 'fail', got {expected!r}")
        if upstream not in UPSTREAM_RULES:
            skipped[f"no pack rule for upstream policy {upstream}"] += 1
            continue
        parameters = row.get("constraint_parameters")
        settings = {**UPSTREAM_RULES[upstream][1], **_gatekeeper_labels(parameters), **_gatekeeper_repos(parameters)}
        cases.append(Case(row_id, upstream, expected, resources, settings))
    return cases, skipped


def _graph(case: Case) -> PlanGraph:
    """The case's resources as a one-stack plan; bucket settings depend on the case's buckets."""
    resources: list[PlannedResource] = []
    buckets = [
        f"urn:pulumi:eval::eval::{t}::r{i}" for i, (t, _) in enumerate(case.resources) if t == "aws:s3/bucket:Bucket"
    ]
    for index, (type_token, props) in enumerate(case.resources):
        urn = f"urn:pulumi:eval::eval::{type_token}::r{index}"
        dependencies = buckets if type_token.startswith("aws:s3/bucket") and urn not in buckets else []
        resources.append(PlannedResource(urn, type_token, f"r{index}", "", "", dependencies, True, False, props, props))
    return PlanGraph("eval", resources)


@dataclass
class Evaluation:
    by_rule: dict[str, ConfusionMatrix]
    overall: ConfusionMatrix
    disagreements: list[tuple[Case, bool]]


def run_cases(cases: list[Case], analyzer: Analyzer) -> Evaluation:
    """Every case through the pack, all rules mandatory, each upstream policy's settings applied."""
    by_rule: dict[str, ConfusionMatrix] = defaultdict(ConfusionMatrix)
    overall = ConfusionMatrix()
    disagreements: list[tuple[Case, bool]] = []
    configured: str | None = None
    for case in sorted(cases, key=lambda c: (json.dumps(c.settings, sort_keys=True), c.id)):
        key = json.dumps(case.settings, sort_keys=True)
        if key != configured:
            analyzer.configure({"all": "mandatory", **case.settings})
            configured = key
        rules = UPSTREAM_RULES[case.upstream][0]
        found = {v.policy for v in analyzer.analyze(_graph(case)) if "during preview" not in v.message}
        predicted_fail = bool(found & set(rules))
        expected_fail = case.expected == "fail"
        by_rule[" + ".join(rules)].add(actual=expected_fail, predicted=predicted_fail)
        overall.add(actual=expected_fail, predicted=predicted_fail)
        if predicted_fail != expected_fail:
            disagreements.append((case, predicted_fail))
    return Evaluation(dict(by_rule), overall, disagreements)


def format_evaluation(evaluation: Evaluation, skipped: Counter[str]) -> Iterator[str]:
    width = max([len(rule) for rule in evaluation.by_rule] + [4])
    yield f"{'RULE'.ljust(width)}  {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4}  AGREEMENT"
    for rule, matrix in sorted(evaluation.by_rule.items()):
        yield (
            f"{rule.ljust(width)}  {matrix.tp:>4} {matrix.fp:>4} {matrix.fn:>4} {matrix.tn:>4}  "
            f"{matrix.agreement or 0.0:6.1%} of {matrix.total}"
        )
    o = evaluation.overall
    yield f"{'overall'.ljust(width)}  {o.tp:>4} {o.fp:>4} {o.fn:>4} {o.tn:>4}  {o.agreement or 0.0:6.1%} of {o.total}"
    for reason, count in sorted(skipped.items()):
        yield f"not evaluated: {count} row(s): {reason}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make policy-eval", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="JSON Lines of labelled cases")
    parser.add_argument("--disagreements", action="store_true", help="list every case the pack judges differently")
    options = parser.parse_args(argv)
    if not options.file.is_file():
        print(f"error: FILE {options.file} does not exist", file=sys.stderr)
        return 2
    try:
        cases, skipped = load_cases(options.file)
    except (ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Evaluating {len(cases)} case(s) from {options.file}...", file=sys.stderr, flush=True)
    try:
        with Analyzer("eval") as analyzer:
            evaluation = run_cases(cases, analyzer)
    except PolicyCheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in format_evaluation(evaluation, skipped):
        print(line)
    if options.disagreements:
        for case, predicted_fail in evaluation.disagreements:
            verdict = "fail" if predicted_fail else "pass"
            print(f"disagree: {case.id}: upstream {case.expected}, pack {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
