"""Errors of the data package.

    DataError
    ├── SourceError          a source cannot be listed or read (missing directory, bad s3:// URI)
    ├── IndexMissing         the index (or its table) does not exist yet
    └── IndexVersionMissing  the pinned or requested version does not exist (cleaned up, never written)

A bad *document* is never an exception: it is quarantined with a reason (validation.py).
"""

from __future__ import annotations

__all__ = ["DataError", "IndexMissing", "IndexVersionMissing", "SourceError"]


class DataError(Exception):
    """Base of every error this package raises."""


class SourceError(DataError):
    """The source named by `SOURCE=` cannot be listed or read."""


class IndexMissing(DataError):
    """No index table at the configured location."""


class IndexVersionMissing(DataError):
    """The requested table version does not exist."""

    def __init__(self, table: str, version: int | str, available: list[int]) -> None:
        shown = ", ".join(str(v) for v in available[-10:]) or "none"
        super().__init__(f"index.version: {table} has no version {version!r} (available: {shown})")
        self.version = version
        self.available = available
