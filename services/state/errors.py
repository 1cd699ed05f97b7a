"""Errors of the state store. The gateway turns them into HTTP answers at its edge.

    StateError
    ├── ItemNotFound        no row with that id (or not one the caller may see)
    └── ItemAlreadyDecided  a review item that is no longer pending
"""

from __future__ import annotations

__all__ = ["ItemAlreadyDecided", "ItemNotFound", "StateError"]


class StateError(Exception):
    """Something the store refused."""


class ItemNotFound(StateError):
    def __init__(self, kind: str, item_id: str) -> None:
        super().__init__(f"no {kind} {item_id!r}")
        self.kind = kind
        self.item_id = item_id


class ItemAlreadyDecided(StateError):
    def __init__(self, item_id: str, status: str) -> None:
        super().__init__(f"review item {item_id!r} is already {status}")
        self.item_id = item_id
        self.status = status
