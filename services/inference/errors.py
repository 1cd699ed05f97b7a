"""Errors of the inference layer.

    InferenceError
    ├── ModelSourceError          a model cannot be fetched or its files are not what config says
    │   └── ModelChecksumError    the files' checksum differs from the pinned sha256
    └── RequestError              a client mistake, turned into a 4xx at the HTTP edge
        ├── InvalidRequest        400, names the offending field
        └── UnknownModel          404, the requested model is not served here
    UpstreamUnavailable           502/504: an upstream server did not answer (not the client's fault)
"""

from __future__ import annotations

__all__ = [
    "InferenceError",
    "InvalidRequest",
    "ModelChecksumError",
    "ModelSourceError",
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

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(RequestError):
    """The request is well-formed JSON but a field's value cannot be served."""


class UnknownModel(RequestError):
    """The `model` field names a model this deployment does not serve."""

    status = 404

    def __init__(self, model: str, available: list[str]) -> None:
        super().__init__(
            f"model: {model!r} is not served here; available: {', '.join(available)}", field="model"
        )


class UpstreamUnavailable(InferenceError):
    """An upstream model server failed or timed out: degrade visibly, never blame the client."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.status = 504 if timed_out else 502
