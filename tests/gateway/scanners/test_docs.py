"""The scanner section of docs/safety.md shows config and names that exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from services.gateway.scanners import SCANNER_FACTORIES, Action, ScannerPipeline, ScannersConfig
from services.gateway.scanners.config import INPUT_SCANNERS, OUTPUT_SCANNERS, THIRD_PARTY_SCANNERS

SAFETY = Path(__file__).resolve().parents[3] / "docs" / "safety.md"


def scanners_section() -> str:
    text = SAFETY.read_text()
    start = text.index("## Scanners")
    following = text.find("\n## ", start + 1)
    return text[start : following if following != -1 else len(text)]


def test_config_example_loads_and_runs() -> None:
    block = re.search(r"```yaml\n(.*?)```", scanners_section(), re.DOTALL)
    assert block is not None
    config = ScannersConfig.model_validate(yaml.safe_load(block.group(1))["scanners"])
    assert config.output["toxicity"].shadow
    result = ScannerPipeline.from_config(config).scan_input("mail jane@example.com")
    assert (result.action, result.text) == (Action.REDACT, "mail [EMAIL]")


def test_every_registered_scanner_is_documented() -> None:
    section = scanners_section()
    assert set(INPUT_SCANNERS) | set(THIRD_PARTY_SCANNERS) | set(OUTPUT_SCANNERS) == set(SCANNER_FACTORIES)
    for name in SCANNER_FACTORIES:
        assert f"`{name}`" in section
