"""Fixtures the scanner tests share."""

from __future__ import annotations

import pytest

from services.gateway.scanners import Action
from services.gateway.scanners.base import Scanner
from tests.gateway.scanners.helpers import scanner


@pytest.fixture(scope="module")
def pii() -> Scanner:
    """The PII scanner as the gateway builds it, redacting (names load spaCy's NER once per process)."""
    return scanner("pii", action=Action.REDACT)
