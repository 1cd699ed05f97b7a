"""The image workflow and the stacks agree: what the workflow reads from a stack's outputs exists as
outputs of every committed stack, it pushes from the branch the publisher role trusts, and it pushes
the tag format the stack config accepts. Stacks are rendered under Pulumi mocks (no engine here); the
workflow is read as the YAML GitHub reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import settings

from stacks.config import load_stack_config, read_stack_file
from stacks.plan import render_environment

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "image.yml"
ENVIRONMENTS = ("dev", "staging", "prod")


def _workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(document, dict)
    return document


def _stack_output_names(environment: str) -> set[str]:
    """The names `pulumi stack output` would list: every `pulumi.export` of the rendered program."""
    render_environment(environment)
    root = settings.get_root_resource()
    assert root is not None
    return set(root.outputs)


def test_the_workflow_reads_only_target_keys_that_are_stack_outputs() -> None:
    keys = set(re.findall(r"matrix\.target\.(\w+)", WORKFLOW.read_text()))
    assert keys == {"stack", "serving_image_repository_url", "serving_image_publisher_role_arn"}
    for environment in ENVIRONMENTS:
        missing = (keys - {"stack"}) - _stack_output_names(environment)
        assert missing == set(), f"{environment} does not export {sorted(missing)}"


def test_the_header_documents_the_same_keys() -> None:
    header = WORKFLOW.read_text().split("\nname:", 1)[0]
    for key in ("serving_image_repository_url", "serving_image_publisher_role_arn", "SERVING_IMAGE_TARGETS"):
        assert key in header


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_workflow_pushes_from_the_branch_the_publisher_role_trusts(environment: str) -> None:
    config = load_stack_config(*read_stack_file(environment))
    assert config.serving_image is not None
    triggers = _workflow()[True]  # PyYAML reads the bare key `on` as a boolean
    assert config.serving_image.github_branch in triggers["push"]["branches"]


def test_the_push_job_runs_only_after_the_scan_and_never_for_pull_requests() -> None:
    push = _workflow()["jobs"]["push"]
    assert push["needs"] == "build"
    assert "github.event_name != 'pull_request'" in push["if"]
    assert push["permissions"] == {"contents": "read", "id-token": "write"}
    steps = [step.get("name", step.get("uses", "")) for step in push["steps"]]
    assert steps.index("Push to ECR") < steps.index("Sign keyless and verify") < steps.index("Record the digest")
    scan = [step for step in _workflow()["jobs"]["build"]["steps"] if step.get("name") == "Scan with Trivy"]
    assert scan and scan[0]["with"]["exit-code"] == "1"
