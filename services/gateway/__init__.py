"""The safety gateway in front of every model.

`GatewayMiddleware` wraps the serving layer's public ASGI app in the same process:
`app = GatewayMiddleware(app, GatewaySettings(env="local"))`. Configuration per environment
lives in `services/config/gateway-<env>.yaml` (`GatewayConfig`); docs/safety.md explains it.
"""

from services.gateway.config import GatewayConfig, load_gateway_config
from services.gateway.errors import ConfigError, GatewayError
from services.gateway.keys import generate_api_key, hash_api_key, local_api_key
from services.gateway.metrics import GATEWAY_METRICS
from services.gateway.middleware import GatewayMiddleware
from services.inference.settings import GatewaySettings

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
