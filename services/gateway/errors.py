"""The gateway's domain errors. They become HTTP only at the edge (`edge.py`).

Every error answers OpenAI's shape, `{"error": {"message", "type", "param", "code"}}` (plus the
details that help a client act on it, e.g. `retry_after_s`, `scanner`): `type` is OpenAI's error
family, `code` the gateway's precise reason, `param` the field at fault (or null).

    GatewayError                      status  type                    code
    ├── AuthenticationError            401     authentication_error    unauthorized
    ├── ScopeError                     403     permission_error        forbidden
    │   └── ResidencyError             403     permission_error        data_residency (regulated, no on-prem version)
    ├── NotFoundError                  404     invalid_request_error   not_found
    │   └── ModelNotFoundError         404     invalid_request_error   model_not_found (OpenAI's code)
    ├── PayloadTooLargeError           413     invalid_request_error   payload_too_large
    ├── InvalidRequestError            400     invalid_request_error   invalid_request
    ├── InputBlockedError              400     invalid_request_error   input_blocked
    ├── RateLimitedError               429     rate_limit_error        rate_limited        (+ Retry-After)
    └── BackendUnavailableError        503     server_error            backend_unavailable (every model version failed)

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
    "ModelNotFoundError",
    "NotFoundError",
    "PayloadTooLargeError",
    "QuotaServiceError",
    "RateLimitedError",
    "ResidencyError",
    "ScopeError",
]


class GatewayError(Exception):
    """A request the gateway refuses or cannot serve. `status`, `type` and `code` are what the edge sends."""

    status: int = 500
    type: str = "server_error"
    code: str = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON body the client gets: OpenAI's error object, then the details."""
        details = {key: value for key, value in self.details.items() if key not in ("field", "param")}
        param = self.details.get("param") or self.details.get("field")
        return {"error": {"message": self.message, "type": self.type, "param": param, "code": self.code, **details}}

    def headers(self) -> dict[str, str]:
        return {}


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"
    code = "unauthorized"


class ScopeError(GatewayError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class ResidencyError(ScopeError):
    """A regulated tenant asked a gateway that has no on-prem model version for the route: its data
    stays where its residency allows, so the answer is a refusal (retrying here cannot succeed)."""

    code = "data_residency"


class NotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    """A model id no route of this gateway serves to the caller (OpenAI clients look for this code)."""

    code = "model_not_found"


class PayloadTooLargeError(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class InputBlockedError(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "input_blocked"


class RateLimitedError(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float, **details: Any) -> None:
        super().__init__(message, retry_after_s=round(retry_after_s, 3), **details)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        # Retry-After takes whole seconds; round up so a client that obeys it is not refused again.
        return {"retry-after": str(max(1, int(-(-self.retry_after_s // 1))))}


class BackendUnavailableError(GatewayError):
    status = 503
    type = "server_error"
    code = "backend_unavailable"


class ConfigError(ValueError):
    """A gateway config file or key set that does not validate; the message names the dotted field."""


class QuotaServiceError(RuntimeError):
    """The shared quota ledger could not be reached; `quotas.on_error` decides what happens."""
