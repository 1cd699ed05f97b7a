"""The same service under plain `bentoml serve`, every model in-process (development, baselines).

    RAMPART_ENV=local bentoml serve services.inference.dev:Inference --port 3000

Reads `args` of services/config/serve-$RAMPART_ENV.yaml (default `local`). No Ray, no batching
across requests, no gateway: use `make up` for the real thing.
"""

from __future__ import annotations

import os

from platform_facts.project import env_var
from services.config import serve_config
from services.inference.models import InProcessModels
from services.inference.service import build_inference_service
from services.inference.settings import AppArgs

__all__ = ["Inference"]


def _models() -> InProcessModels:
    args = serve_config(os.environ.get(env_var("ENV"), "local"))["applications"][0]["args"]
    return InProcessModels(AppArgs.model_validate(args))


Inference = build_inference_service(_models, bentoml_metrics=True)
