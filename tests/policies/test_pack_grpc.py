"""The packaged pack end to end over the analyzer gRPC protocol, on the committed stacks.

The Pulumi CLI cannot run here; `tools.policy_check.Analyzer` starts `policies/__main__.py` and speaks
the protocol exactly as the CLI does (GetAnalyzerInfo, Configure, Analyze, AnalyzeStack).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from platform_facts import project
from policy_rules.environments import ENVIRONMENTS
from policy_rules.pack import all_policies
from stacks.plan import PlanGraph, PlannedResource
from tools.policy_check import Analyzer, PolicyCheckError, format_violations

DOCS = Path(__file__).resolve().parents[2] / "docs" / "policies.md"
Rendered = Callable[[str], PlanGraph]
GetAnalyzer = Callable[[str], Analyzer]


def _with(graph: PlanGraph, *extra: PlannedResource) -> PlanGraph:
    return PlanGraph(graph.environment, [*graph.resources, *extra])


def _resource(graph: PlanGraph, type_token: str, name: str, inputs: Mapping[str, Any]) -> PlannedResource:
    provider = next(r for r in graph.resources if r.type == "pulumi:providers:aws")
    urn = f"urn:pulumi:{graph.environment}::{project.PROJECT_NAME}::{type_token}::{name}"
    return PlannedResource(urn, type_token, name, "", provider.urn, [], True, False, dict(inputs), dict(inputs))


OPEN_SSH = {
    "description": "bastion",
    "ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}],
}
UNTAGGED_TAGS_OVERRIDE = {"tags": {project.tag("owner"): ""}}


def test_analyzer_info_lists_every_policy(analyzer: GetAnalyzer) -> None:
    pack = analyzer("prod")
    assert pack.info is not None and pack.info.name == project.PROJECT_NAME
    assert sorted(pack.policy_levels()) == sorted(policy.name for policy in all_policies())


@pytest.mark.parametrize("environment", ["prod", "staging"])
def test_committed_stack_has_no_violations(environment: str, analyzer: GetAnalyzer, rendered: Rendered) -> None:
    violations = analyzer(environment).analyze(rendered(environment))
    assert violations == [], format_violations(violations)


def test_dev_carries_only_documented_advisories(analyzer: GetAnalyzer, rendered: Rendered) -> None:
    violations = analyzer("dev").analyze(rendered("dev"))
    assert {v.level for v in violations} <= {"advisory"}, format_violations(violations)
    section = DOCS.read_text().split("## Dev advisories", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z0-9-]+)`", section))
    assert {v.policy for v in violations} <= documented, format_violations(violations)


def test_bad_prod_stack_gets_mandatory_violations(analyzer: GetAnalyzer, rendered: Rendered) -> None:
    graph = rendered("prod")
    bad = _with(
        graph,
        _resource(graph, "aws:ec2/securityGroup:SecurityGroup", "bastion", OPEN_SSH),
        _resource(graph, "aws:s3/bucket:Bucket", "scratch", UNTAGGED_TAGS_OVERRIDE),
    )
    found = {(v.policy, v.level, v.resource, v.message) for v in analyzer("prod").analyze(bad)}
    assert (
        "no-public-admin-ingress",
        "mandatory",
        "bastion",
        "bastion must not allow ingress from 0.0.0.0/0 to administration port 22.",
    ) in found
    # The provider's default tags reach the policy, so only the tag the bucket blanks is missing.
    assert ("aws-required-tags", "mandatory", "scratch", f"scratch must carry the tags {project.TAG_PREFIX}:owner.") in found
    assert (
        "s3-public-access-blocked",
        "mandatory",
        "scratch",
        "Bucket scratch must have a public-access block with all four settings enabled.",
    ) in found


def test_dev_enforcement_is_advisory_with_mandatory_overrides(analyzer: GetAnalyzer, rendered: Rendered) -> None:
    graph = rendered("dev")
    bad = _with(
        graph,
        _resource(graph, "aws:ec2/securityGroup:SecurityGroup", "bastion", OPEN_SSH),
        _resource(graph, "aws:ebs/volume:Volume", "scratch", {"size": 10}),
    )
    levels = {v.policy: v.level for v in analyzer("dev").analyze(bad)}
    assert levels["no-public-admin-ingress"] == "mandatory"  # overridden in dev
    assert levels["ebs-volumes-encrypted"] == "advisory"  # dev's level
    assert ENVIRONMENTS["dev"].overrides["no-public-admin-ingress"] == "mandatory"


def test_unknown_values_become_preview_notes_not_crashes(analyzer: GetAnalyzer, rendered: Rendered) -> None:
    graph = rendered("prod")
    unknown = _resource(graph, "aws:ebs/volume:Volume", "pending", {"size": 10, "encrypted": "[unknown]"})
    notes = [v for v in analyzer("prod").analyze(_with(graph, unknown)) if v.resource == "pending"]
    assert [(v.policy, v.level) for v in notes] == [("ebs-volumes-encrypted", "advisory")]
    assert "can't be known during preview" in notes[0].message


def test_configure_rejects_unknown_policy_names(analyzer: GetAnalyzer) -> None:
    with pytest.raises(PolicyCheckError, match="unknown policies: no-such-rule"):
        analyzer("prod").configure({"all": "mandatory", "no-such-rule": {}})


def test_check_cli_exits_non_zero_on_mandatory_violations(rendered: Rendered, tmp_path: Path) -> None:
    graph = rendered("prod")
    bad = _with(graph, _resource(graph, "aws:ec2/securityGroup:SecurityGroup", "bastion", OPEN_SSH))
    (tmp_path / "bad.json").write_text(bad.to_json())
    result = subprocess.run(
        [sys.executable, "-m", "tools.policy_check", "prod", "--graph", str(tmp_path / "bad.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=DOCS.parents[1],
    )
    assert result.returncode == 1, result.stderr
    assert "LEVEL      POLICY" in result.stdout
    assert "mandatory  no-public-admin-ingress  bastion" in result.stdout


def test_pack_start_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tools.policy_check.PACK_ENTRY", Path("/nonexistent/__main__.py"))
    with pytest.raises(PolicyCheckError, match="did not start"), Analyzer("prod"):
        pass
