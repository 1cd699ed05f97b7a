"""`make promote` (tools/promote.py) on a gateway config and state directory: start, status, pause, rollback,
and refusals that name the field with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.harness import write_gateway_config
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
