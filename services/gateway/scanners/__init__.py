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
from services.gateway.scanners.config import ScannersConfig, ScannerSettings
from services.gateway.scanners.pipeline import (
    SCANNER_FACTORIES,
    ScannerPipeline,
    StreamScanner,
)

__all__ = [
    "SCANNER_FACTORIES",
    "Action",
    "Finding",
    "PipelineResult",
    "Scanner",
    "ScannerError",
    "ScannerPipeline",
    "ScannerSettings",
    "ScannersConfig",
    "Stage",
    "StreamScanner",
    "Verdict",
]
