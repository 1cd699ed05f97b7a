"""The safety gateway in front of every model.

`GatewayMiddleware` wraps the serving layer's public ASGI app in the same process:
`app = GatewayMiddleware(app, GatewaySettings(env="local"))`. Configuration per environment
lives in `services/config/gateway-<env>.yaml` (`GatewayConfig`); docs/safety.md explains it.

The names below are imported on first use, not with the package: `python -m services.gateway.audit
verify` must not find its own module already imported through this file (runpy warns, and the
command would run on a half-initialised copy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.gateway.config import GatewayConfig, load_gateway_config
    from services.gateway.errors import ConfigError, GatewayError
    from services.gateway.keys import generate_api_key, hash_api_key, local_api_key
    from services.gateway.metrics import GATEWAY_METRICS
    from services.gateway.middleware import GatewayMiddleware
    from services.inference.settings import GatewaySettings

_HOMES = {
    "GATEWAY_METRICS": "services.gateway.metrics",
    "ConfigError": "services.gateway.errors",
    "GatewayConfig": "services.gateway.config",
    "GatewayError": "services.gateway.errors",
    "GatewayMiddleware": "services.gateway.middleware",
    "GatewaySettings": "services.inference.settings",
    "generate_api_key": "services.gateway.keys",
    "hash_api_key": "services.gateway.keys",
    "load_gateway_config": "services.gateway.config",
    "local_api_key": "services.gateway.keys",
}
__all__ = [
    "GATEWAY_METRICS",
    "ConfigError",
    "GatewayConfig",
    "GatewayError",
    "GatewayMiddleware",
    "GatewaySettings",
    "generate_api_key",
    "hash_api_key",
    "load_gateway_config",
    "local_api_key",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
