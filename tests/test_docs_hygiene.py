"""Docs are for people outside this workplace: no machine paths, no internal tracker numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FORBIDDEN = re.compile(r"/work/|/tmp/|/root/|\bissues? #?\d+\b", re.IGNORECASE)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_docs_name_no_machine_paths_or_tracker_numbers(page: Path) -> None:
    hits = [f"{page.name}:{number}: {match.group(0)}" for number, line in enumerate(page.read_text().splitlines(), 1)
            for match in FORBIDDEN.finditer(line)]
    assert not hits, "\n".join(hits)
