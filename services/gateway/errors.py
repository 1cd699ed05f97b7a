"""The gateway's domain errors. They become HTTP only at the edge (`middleware.py`).

    GatewayError                      status  type
    ├── AuthenticationError            401     unauthorized
    ├── ScopeError                     403     forbidden
    ├── NotFoundError                  404     not_found
    ├── PayloadTooLargeError           413     payload_too_large
    ├── InvalidRequestError            422     invalid_request
    ├── InputBlockedError              400     input_blocked
    ├── RateLimitedError               429     rate_limited        (+ Retry-After)
    ├── NoEligibleBackendError         503     no_eligible_backend (regulated tenant, no on-prem)
    └── BackendUnavailableError        503     backend_unavailable (every backend and fallback failed)

    ConfigError                        (never HTTP: a bad config file fails loading or a reload)
    QuotaServiceError                  (the shared quota ledger cannot be reached)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BackendUnavailableError",
    "ConfigError",
    "GatewayError",
    "InputBlockedError",
    "InvalidRequestError",
    "NoEligibleBackendError",
    "NotFoundError",
    "PayloadTooLargeError",
    "QuotaServiceError",
    "RateLimitedError",
    "ScopeError",
]


class GatewayError(Exception):
    """A request the gateway refuses or cannot serve. `status` and `type` are what the edge sends."""

    status: int = 500
    type: str = "gateway_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON body the client gets: `{"error": {"type", "message", ...details}}`."""
        return {"error": {"type": self.type, "message": self.message, **self.details}}

    def headers(self) -> dict[str, str]:
        return {}


class AuthenticationError(GatewayError):
    status = 401
    type = "unauthorized"


class ScopeError(GatewayError):
    status = 403
    type = "forbidden"


class NotFoundError(GatewayError):
    status = 404
    type = "not_found"


class PayloadTooLargeError(GatewayError):
    status = 413
    type = "payload_too_large"


class InvalidRequestError(GatewayError):
    status = 422
    type = "invalid_request"


class InputBlockedError(GatewayError):
    status = 400
    type = "input_blocked"


class RateLimitedError(GatewayError):
    status = 429
    type = "rate_limited"

    def __init__(self, message: str, retry_after_s: float, **details: Any) -> None:
        super().__init__(message, retry_after_s=round(retry_after_s, 3), **details)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        # Retry-After takes whole seconds; round up so a client that obeys it is not refused again.
        return {"retry-after": str(max(1, int(-(-self.retry_after_s // 1))))}


class NoEligibleBackendError(GatewayError):
    status = 503
    type = "no_eligible_backend"


class BackendUnavailableError(GatewayError):
    status = 503
    type = "backend_unavailable"


class ConfigError(ValueError):
    """A gateway config file or key set that does not validate; the message names the dotted field."""


class QuotaServiceError(RuntimeError):
    """The shared quota ledger could not be reached; `quotas.on_error` decides what happens."""
