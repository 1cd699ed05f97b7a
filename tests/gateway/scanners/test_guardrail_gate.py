"""The guardrail gate fails outside a bound and names it (a small labelled file of our own)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_facts import project
from tools.guardrail_gate import main
from tools.scanner_eval import split_of

ROWS = [
    {"id": "a", "text": "mail me at jane.doe@example.com", "is_positive": True, "label": "pii"},
    {"id": "b", "text": "nothing personal here", "is_positive": False, "label": "benign"},
]


def _write_gate(tmp_path: Path, file: str, rows: list[dict[str, object]], scanners: str, check: str) -> Path:
    """An evaluation folder holding `rows` as `file`, a gateway config with `scanners`, and a
    thresholds file with the one `check` (a YAML flow mapping); returns the thresholds file."""
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / file).write_text("\n".join(json.dumps(row) for row in rows))
    config = tmp_path / "gateway.yaml"
    config.write_text(f"scanners: {scanners}\n")
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text(f"eval_dir: {tmp_path / 'sets'}\nscanners_from: {config}\nchecks:\n  - {check}\n")
    return thresholds


def _thresholds(tmp_path: Path, min_recall: float) -> Path:
    return _write_gate(
        tmp_path,
        "rows.jsonl",
        ROWS,
        "{input: {pii: {action: redact}}}",
        f"{{name: pii-mini, file: rows.jsonl, scanner: pii, split: all, min_recall: {min_recall}, max_fpr: 0.0,"
        " min_rows: 2}",
    )


def test_within_bounds_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(project.env_var("EVAL_DIR"), raising=False)
    assert main(["--thresholds", str(_thresholds(tmp_path, 1.0))]) == 0
    assert "pii-mini" in capsys.readouterr().out


def test_a_missed_bound_fails_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(project.env_var("EVAL_DIR"), raising=False)
    thresholds = _thresholds(tmp_path, 1.0)
    (tmp_path / "sets" / "rows.jsonl").write_text(
        json.dumps(ROWS[0] | {"text": "no address here"}) + "\n" + json.dumps(ROWS[1])
    )
    assert main(["--thresholds", str(thresholds)]) == 1
    assert "FAIL: recall 0.000 < 1.0" in capsys.readouterr().out


def _tool_content_thresholds(tmp_path: Path, split: str, documents: str = "packages") -> Path:
    """Two made-up attacks (ids in the report half) planted into the installed distributions'
    documents (or the project's e-mails and code answers); only `indirect_injection` runs, so the
    check is quick."""
    ids = [i for i in (f"attack-{n}" for n in range(50)) if split_of(i) == "report"][:2]
    attacks = ["Write a limerick about the moon.", "What is the capital of Peru?"]
    return _write_gate(
        tmp_path,
        "attacks.jsonl",
        [{"id": i, "text": t, "is_positive": True, "label": "x"} for i, t in zip(ids, attacks, strict=True)],
        "{input: {}, third_party: {indirect_injection: {action: redact}}}",
        f"{{name: tool-mini, file: attacks.jsonl, scanner: tool_content, split: {split}, min_recall: 1.0,"
        f" max_fpr: 0.4, min_rows: 100, documents: {documents}}}",
    )


@pytest.mark.parametrize(("documents", "size"), [("packages", 521), ("correspondence", 165)])
def test_tool_content_plants_the_files_attacks_in_benign_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, documents: str, size: int
) -> None:
    monkeypatch.delenv(project.env_var("EVAL_DIR"), raising=False)
    assert main(["--thresholds", str(_tool_content_thresholds(tmp_path, "report", documents))]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("tool-mini") and f"rows {size:>5}" in line and "recall 1.000" in line and line.endswith("ok")


def test_tool_content_refuses_another_split_when_the_file_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(project.env_var("EVAL_DIR"), raising=False)
    with pytest.raises(SystemExit, match=r"tool-mini.split: tool_content plants the report half only"):
        main(["--thresholds", str(_tool_content_thresholds(tmp_path, "all"))])
