"""Errors of the inference layer.

    InferenceError
    ├── ModelSourceError          a model cannot be fetched or its files are not what config says
    │   └── ModelChecksumError    the files' checksum differs from the pinned sha256
    └── RequestError              a client mistake, turned into a 4xx at the HTTP edge
        ├── InvalidRequest        400, names the offending field
        └── UnknownModel          404, the requested model is not served here
    UpstreamUnavailable           502/504: an upstream server did not answer (not the client's fault)
    Overloaded                    503 + Retry-After: the engine's bounded queue is full, try again later
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "InferenceError",
    "InvalidRequest",
    "ModelChecksumError",
    "ModelSourceError",
    "Overloaded",
    "RequestError",
    "UnknownModel",
    "UpstreamUnavailable",
]


class InferenceError(Exception):
    """Base of every error raised by services.inference."""


class ModelSourceError(InferenceError):
    """A model source cannot be resolved to a verified local directory."""


class ModelChecksumError(ModelSourceError):
    """Model files do not match the sha256 pinned in config; they are never loaded."""


class RequestError(InferenceError):
    """A client mistake. `status` is the HTTP status, `field` the offending request field."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(RequestError):
    """The request is well-formed JSON but a field's value cannot be served."""


class UnknownModel(RequestError):
    """The `model` field names a model this deployment does not serve."""

    status = 404
    code = "model_not_found"

    def __init__(self, model: str, available: list[str]) -> None:
        super().__init__(
            f"model: {model!r} is not served here; available: {', '.join(available)}", field="model"
        )


class UpstreamUnavailable(InferenceError):
    """An upstream model server failed or timed out: degrade visibly, never blame the client."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.status = 504 if timed_out else 502
        self.code = "upstream_timeout" if timed_out else "upstream_unavailable"


class Overloaded(InferenceError):
    """Every generation slot and queue place is taken: 503 with `Retry-After`, not the client's fault."""

    status = 503
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[Any, ...]:
        # Crosses Ray's process boundary inside a task error: keep the keyword argument.
        return _overloaded, (str(self), self.retry_after_s)

    def headers(self) -> dict[str, str]:
        """`Retry-After` in whole seconds, rounded up so a client that obeys it is not refused again at once."""
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}


def _overloaded(message: str, retry_after_s: float) -> Overloaded:
    return Overloaded(message, retry_after_s=retry_after_s)
