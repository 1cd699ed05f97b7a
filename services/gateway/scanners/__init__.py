"""Input and output safety scanners for the gateway, and the pipeline that runs them."""

from services.gateway.scanners.base import (
    Action,
    Finding,
    PipelineResult,
    Scanner,
    ScannerError,
    Stage,
    Verdict,
)
from services.gateway.scanners.config import ScannerSettings, ScannersConfig

__all__ = [
    "Action",
    "Finding",
    "PipelineResult",
    "Scanner",
    "ScannerError",
    "ScannerSettings",
    "ScannersConfig",
    "Stage",
    "Verdict",
]
