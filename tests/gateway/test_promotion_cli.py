"""`make promote` (tools/promote.py) on a gateway config and state directory: start, status, pause, rollback,
and refusals that name the field with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.gateway.harness import write_gateway_config
from tools.eval_suites import EvalReport, SuiteResult
from tools.promote import main


def test_start_status_pause_and_rollback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_gateway_config(tmp_path)
    common = ["--config", str(config), "--state-dir", str(tmp_path / "state")]
    assert main(["status", *common]) == 0
    assert capsys.readouterr().out == "no promotions\n"
    assert main(["start", *common, "--route", "chat", "--candidate", "gen-v2", "--eval-score", "0.91"]) == 0
    assert "route chat: gen-v2 vs stable gen-v1 — running at 5% (step 1 of 4" in capsys.readouterr().out
    assert main(["pause", *common, "--route", "chat"]) == 0
    assert main(["rollback", *common, "--route", "chat"]) == 0
    capsys.readouterr()
    assert main(["status", *common, "--route", "chat"]) == 0
    out = capsys.readouterr().out
    assert "— rolled_back at 0%" in out
    assert [line.split()[2] for line in out.splitlines()[1:] if line.startswith("  2")] == [
        "start", "pause", "rollback"]
    audit = (tmp_path / "state" / "audit" / "promotion-operator.jsonl").read_text().splitlines()
    assert len(audit) == 3 and '"action":"rollback"' in audit[-1]


def test_refusals_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--config", str(write_gateway_config(tmp_path)), "--state-dir", str(tmp_path / "state")]
    assert main(["start", *common, "--route", "chat", "--candidate", "nope"]) == 2
    assert capsys.readouterr().err == "error: candidate: unknown model version 'nope'\n"
    assert main(["resume", *common, "--route", "chat"]) == 2
    assert capsys.readouterr().err == "error: no promotion for route 'chat'\n"


def _report(tmp_path: Path, candidate: str | None, passed: list[bool]) -> Path:
    results = [SuiteResult(suite=f"suite-{n}", passed=ok, seconds=1.0, summary="") for n, ok in enumerate(passed)]
    path = tmp_path / "all.json"
    path.write_text(EvalReport.of("all", candidate, results).model_dump_json())
    return path


def test_a_rollout_starts_with_the_score_of_the_candidates_eval_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gate (`min_eval_score: 0.8` here) reads the report `make eval CANDIDATE=gen-v2` wrote."""
    raw = yaml.safe_load(write_gateway_config(tmp_path).read_text())
    raw["promotion"] = {"gates": {"min_eval_score": 0.8}}
    config = tmp_path / "gated.yaml"
    config.write_text(yaml.safe_dump(raw))
    common = ["--config", str(config), "--state-dir", str(tmp_path / "state"), "--route", "chat",
              "--candidate", "gen-v2"]

    assert main(["start", *common, "--eval-report", str(_report(tmp_path, "gen-v2", [True, True, False]))]) == 2
    assert capsys.readouterr().err == "error: eval_score: the candidate's evaluation score 0.6667 is under the gate 0.8\n"
    assert main(["start", *common, "--eval-report", str(_report(tmp_path, "gen-v1", [True]))]) == 2
    assert capsys.readouterr().err.startswith(f"error: eval_report: {tmp_path / 'all.json'} evaluated gen-v1, not gen-v2")
    assert main(["start", *common, "--eval-report", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.startswith("error: eval_report: no such file")
    (tmp_path / "junk.json").write_text("[]")
    assert main(["start", *common, "--eval-report", str(tmp_path / "junk.json")]) == 2
    assert "is not a report of make eval" in capsys.readouterr().err

    assert main(["start", *common, "--eval-report", str(_report(tmp_path, "gen-v2", [True, True]))]) == 0
    assert "running at 5%" in capsys.readouterr().out


def test_the_operator_tools_log_in_to_the_state_database_as_the_gateway_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `state.aws_iam_region` the gateway logs in to RDS with IAM tokens; `make promote` and `make export-eval`
    must too, or RDS refuses them. No RDS exists here: the store's `open` is replaced to record how it is called."""
    from services.state import StateStore
    from tools import export_eval

    raw = yaml.safe_load(write_gateway_config(tmp_path).read_text())
    raw["state"] = {"url": "postgresql+psycopg://gateway@state.example.internal:5432/state",
                    "aws_iam_region": "eu-west-1"}
    config = tmp_path / "cloud.yaml"
    config.write_text(yaml.safe_dump(raw))
    opened: list[tuple[str, str | None]] = []

    class Refused(Exception):
        pass

    def record(url: str, aws_iam_region: str | None = None) -> StateStore:
        opened.append((url, aws_iam_region))
        raise Refused

    monkeypatch.setattr(StateStore, "open", staticmethod(record))
    with pytest.raises(Refused):
        main(["status", "--config", str(config)])
    with pytest.raises(Refused):
        export_eval.main(["--config", str(config), "--out", str(tmp_path / "out.jsonl")])
    assert opened == [(raw["state"]["url"], "eu-west-1")] * 2
