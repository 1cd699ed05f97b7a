"""The agreement gate (`make policy-eval`): thresholds from eval/policy-thresholds.yaml, exit 1 below them.

The real dev fixture sets live outside the repository (../shared/eval, or RAMPART_EVAL_DIR); the gate
over them runs where they exist and is skipped, saying so, where they do not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.policy_eval import DEFAULT_THRESHOLDS, EVAL_DIR_VARIABLE, load_thresholds

ROOT = Path(__file__).resolve().parents[2]
PRIVILEGED = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "securityContext": {"privileged": True}}]},
}
PLAIN = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}


def _gate(thresholds: Path, fixtures: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({EVAL_DIR_VARIABLE: str(fixtures)} if fixtures else {})}
    return subprocess.run(
        [sys.executable, "-m", "tools.policy_eval", "--thresholds", str(thresholds)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )


def _set(tmp_path: Path, labels: list[str]) -> Path:
    rows = [
        {"id": f"r{i}", "policy": "disallow-privileged-containers", "expected": label, "manifest": PRIVILEGED}
        for i, label in enumerate(labels)
    ]
    (tmp_path / "set").mkdir(exist_ok=True)
    (tmp_path / "set" / "cases.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return tmp_path


def _thresholds(tmp_path: Path, min_agreement: float, min_cases: int = 1) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text(
        "fixtures: unused\noverall: 0.5\n"
        f"sets:\n  tiny:\n    file: set/cases.jsonl\n    min_agreement: {min_agreement}\n    min_cases: {min_cases}\n"
    )
    return path


def test_the_committed_thresholds_name_every_set_with_a_minimum() -> None:
    thresholds = load_thresholds(DEFAULT_THRESHOLDS, Path("/fixtures"))
    assert [fixture.name for fixture in thresholds.sets] == [
        "pulumi-compliance-policies-tests",
        "k8s-policy-fixtures",
        "sentinel-policy-mocks",
        "kics-pulumi-fixtures",
    ]
    assert thresholds.overall >= 0.95
    assert all(0 < fixture.min_agreement <= 1 and fixture.min_cases > 0 for fixture in thresholds.sets)


def test_a_set_at_its_minimum_passes_and_below_it_fails(tmp_path: Path) -> None:
    fixtures = _set(tmp_path, ["fail", "fail", "fail", "pass"])  # the pack flags all four: 75% agreement
    passed = _gate(_thresholds(tmp_path, 0.75), fixtures)
    assert passed.returncode == 0, passed.stderr
    assert "tiny" in passed.stdout and "75.0% of    4  (min 75.0%)  ok" in passed.stdout
    failed = _gate(_thresholds(tmp_path, 0.8), fixtures)
    assert failed.returncode == 1
    assert "error: agreement below threshold: tiny: 75.0% of 4 cases (needs 80.0% of at least 1)" in failed.stderr


def test_fewer_cases_than_the_minimum_fail(tmp_path: Path) -> None:
    result = _gate(_thresholds(tmp_path, 0.5, min_cases=5), _set(tmp_path, ["fail"]))
    assert result.returncode == 1 and "needs 50.0% of at least 5" in result.stderr


def test_missing_sets_are_an_error_not_a_pass(tmp_path: Path) -> None:
    result = _gate(_thresholds(tmp_path, 0.5), tmp_path / "nowhere")
    assert result.returncode == 2 and "fixture sets missing" in result.stderr


DEV_FIXTURES = Path(os.environ.get(EVAL_DIR_VARIABLE) or ROOT.parent / "shared" / "eval")


@pytest.mark.skipif(
    not (DEV_FIXTURES / "k8s-policy-fixtures" / "cases.jsonl").is_file(),
    reason=f"dev fixture sets not present at {DEV_FIXTURES} (set {EVAL_DIR_VARIABLE}); make policy-eval gates them",
)
def test_the_pack_meets_its_thresholds_on_the_dev_fixture_sets() -> None:
    result = _gate(DEFAULT_THRESHOLDS, DEV_FIXTURES)
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
