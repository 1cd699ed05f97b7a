"""JSON Lines files as the tools read them: every object with where it stands, for errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["jsonl_objects"]


def jsonl_objects(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The objects of a JSONL file, each with where it stands (`path:line`); blank lines are skipped,
    a line that is not JSON is an error naming it."""
    objects = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                objects.append((f"{path}:{number}", json.loads(line)))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
    return objects
