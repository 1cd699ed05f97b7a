"""The fixture evaluation (`make policy-eval`) on small cases written for this project, one per row format."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tools.policy_cases import load_cases, terraform_to_pulumi

ROOT = Path(__file__).resolve().parents[2]
PRIVILEGED = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "securityContext": {"privileged": True}}]},
}
PLAIN = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d"},
    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}},
}


def _write(tmp_path: Path, rows: Sequence[object]) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.policy_eval", str(path), "--disagreements"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_confusion_matrix_over_all_three_formats(tmp_path: Path) -> None:
    rows = [
        {"id": "k1", "policy": "disallow-privileged-containers", "expected": "fail", "manifest": PRIVILEGED},
        {"id": "k2", "policy": "disallow-privileged-containers", "expected": "pass", "manifest": PLAIN},
        {"id": "k3", "policy": "disallow-privileged-containers", "expected": "fail", "manifest": PLAIN},  # mislabelled
        {
            "id": "p1",
            "policy_id": "aws-ebs-volume-disallow-unencrypted-volume",
            "expected": "fail",
            "pulumi_type": "aws:ebs/volume:Volume",
            "props": {"size": 10, "encrypted": False},
        },
        {
            "id": "s1",
            "policy": "restrict-ingress-sg-rule-ssh",
            "plan_expected": "fail",
            "mock_import": "tfplan/v2",
            "resources": [
                {
                    "type": "aws_security_group",
                    "after": {
                        "description": "ssh",
                        "ingress": [{"cidr_blocks": ["0.0.0.0/0"], "from_port": 22, "to_port": 22, "protocol": "tcp"}],
                    },
                }
            ],
        },
        {"id": "x1", "policy": "some-unmapped-policy", "expected": "pass", "manifest": PLAIN},
    ]
    result = _run(_write(tmp_path, rows))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split()[:5] == ["k8s-no-privileged", "1", "0", "1", "1"] for line in lines), result.stdout
    assert any(line.startswith("overall") and "80.0% of 5" in line for line in lines), result.stdout
    assert "disagree: k3: upstream fail, pack pass" in lines
    assert "not evaluated: 1 row(s): no pack rule for upstream policy some-unmapped-policy" in lines


def test_missing_file_and_bad_rows_are_clear_errors(tmp_path: Path) -> None:
    missing = _run(tmp_path / "nope.jsonl")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad = _run(_write(tmp_path, [{"policy": "x", "expected": "maybe", "manifest": PLAIN}]))
    assert bad.returncode == 2 and "expected must be 'pass' or 'fail', got 'maybe'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_terraform_values_become_pulumi_inputs() -> None:
    after = {
        "server_side_encryption_configuration": [
            {
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {"sse_algorithm": "aws:kms", "kms_master_key_id": None}
                        ]
                    }
                ]
            }
        ],
        "tags": None,
        "ingress": [],
    }
    assert terraform_to_pulumi("aws_s3_bucket", after) == {
        "serverSideEncryptionConfiguration": {
            "rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}
        }
    }


def test_gatekeeper_constraint_labels_configure_the_rule(tmp_path: Path) -> None:
    row = {
        "id": "g",
        "policy": "requiredlabels",
        "expected": "fail",
        "manifest": PLAIN,
        "constraint_parameters": {"labels": [{"key": "owner"}]},
    }
    cases, _ = load_cases(_write(tmp_path, [row]))
    assert cases[0].settings["k8s-required-labels"] == {"requiredLabels": ["owner"], "exemptKinds": []}


@pytest.mark.parametrize("line", ["not json", json.dumps({"policy": "x", "expected": "pass"})])
def test_unreadable_rows_name_the_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=r"c\.jsonl:1: "):
        load_cases(path)
