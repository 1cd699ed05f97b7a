"""Building single scanners and pipelines the way the gateway does, from typed config."""

from __future__ import annotations

from services.gateway.config import load_scanners_config
from services.gateway.scanners import Action, ScannerPipeline, ScannersConfig, ScannerSettings
from services.gateway.scanners.base import Scanner, Stage
from services.gateway.scanners.pipeline import build_scanner

# A real AWS-format access key id (random, never issued) and GitHub-format token.
AWS_KEY = "AKIA2OGYBAH6STMMNXNN"
GITHUB_TOKEN = "ghp_R8mZ2kLq9XvT4nB7wY1cP6sD3fH0jG5aUe2K"


def scanner(name: str, stage: Stage = "input", action: Action = Action.REDACT, **config: object) -> Scanner:
    settings = ScannerSettings(action=action)
    return build_scanner(name, stage, settings, ScannersConfig.model_validate(config))


def production_pipeline() -> ScannerPipeline:
    """The scanners of services/config/gateway-prod.yaml, as production builds them."""
    return ScannerPipeline.from_config(load_scanners_config("prod"))
