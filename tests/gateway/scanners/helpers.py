"""Building single scanners and pipelines the way the gateway does, from typed config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.gateway.scanners import Action, ScannersConfig, ScannerSettings
from services.gateway.scanners.base import Scanner, Stage
from services.gateway.scanners.pipeline import build_scanner

# A real AWS-format access key id (random, never issued) and GitHub-format token.
AWS_KEY = "AKIA2OGYBAH6STMMNXNN"
GITHUB_TOKEN = "ghp_R8mZ2kLq9XvT4nB7wY1cP6sD3fH0jG5aUe2K"


def scanner(name: str, stage: Stage = "input", action: Action = Action.REDACT, **config: object) -> Scanner:
    settings = ScannerSettings(action=action)
    return build_scanner(name, stage, settings, ScannersConfig.model_validate(config))


def synthetic_pii(split: str, kind: str, file: str = "synthetic_pii.jsonl") -> list[dict[str, Any]]:
    """One half's made-up names ("person") or street addresses ("street_address") from a file in
    data/: synthetic_pii.jsonl or names_in_sentences.jsonl (how each was made: the README there)."""
    lines = (Path(__file__).parent / "data" / file).read_text(encoding="utf-8").splitlines()
    return [row for row in map(json.loads, lines) if row["split"] == split and row["kind"] == kind]
