"""The scanner example in docs/safety.md is real: it runs, and the gateway uses it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from services.gateway.scanners import Action, ScannersConfig, pipeline
from services.gateway.scanners import config as scanners_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "safety.md"


def _block(language: str, after: str) -> str:
    text = DOC.read_text()
    section = text[text.index(after):]
    return re.search(rf"```{language}\n(.*?)```", section, re.DOTALL).group(1)  # type: ignore[union-attr]


def test_the_fork_scanner_example_runs_in_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "SCANNER_FACTORIES", dict(pipeline.SCANNER_FACTORIES))
    monkeypatch.setattr(scanners_config, "INPUT_SCANNERS", (*scanners_config.INPUT_SCANNERS, "project_codenames"))
    exec(compile(_block("python", "## Adding a scanner"), str(DOC), "exec"), {})
    settings = yaml.safe_load(_block("yaml", "## Adding a scanner"))["scanners"]
    result = pipeline.ScannerPipeline.from_config(ScannersConfig.model_validate(settings)).scan_input(
        "Status of PROJECT-ORCA?"
    )
    assert result.action is Action.REDACT and result.text == "Status of [CODENAME]?"
