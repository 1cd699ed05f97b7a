from __future__ import annotations

import pytest

from services.gateway.scanners import Action
from tests.gateway.scanners.helpers import scanner

pii = scanner("pii")


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in pii.scan(text).findings]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.roe+news@mail.example.org today", [("email", "jane.roe+news@mail.example.org")]),
        ("call (415) 555-0132 after six", [("phone", "(415) 555-0132")]),
        ("or +44 20 7946 0958 in London", [("phone", "+44 20 7946 0958")]),
        ("card 4111 1111 1111 1111 expires 12/29", [("credit_card", "4111 1111 1111 1111")]),
        ("pay to DE89 3704 0044 0532 0130 00 please", [("iban", "DE89 3704 0044 0532 0130 00")]),
        ("GB82WEST12345698765432", [("iban", "GB82WEST12345698765432")]),
        ("my SSN is 536-22-8726", [("us_ssn", "536-22-8726")]),
        ("NIE Z8078221M", [("es_nie", "Z8078221M")]),
        ("hetu 131052-308T", [("fi_personal_id", "131052-308T")]),
        ("ssh to 10.20.30.40 or 2001:db8::1", [("ip_address", "10.20.30.40"), ("ip_address", "2001:db8::1")]),
    ],
)
def test_finds_personal_data(text: str, expected: list[tuple[str, str]]) -> None:
    assert sorted(kinds(text)) == sorted(expected)


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 has a bad Luhn digit",
        "IBAN DE89 3704 0044 0532 0130 01 has a bad checksum",
        "GB82WEST12345698765431",
        "SSN 000-12-3456 has an impossible area number",
        "version 1.2.3 released at 10:00, build 256.1.1.1",
        "my email is info@presidio.",
        "order number 12345 shipped in 3 boxes",
        "reverse it with my_list[::-1] or step with -1",
    ],
)
def test_leaves_look_alikes_alone(text: str) -> None:
    verdict = pii.scan(text)
    assert verdict.action is Action.ALLOW, verdict.findings


def test_redaction_replaces_each_value_with_its_kind() -> None:
    verdict = pii.scan("Mail jane@example.com or call (415) 555-0132; card 4111-1111-1111-1111.")
    assert verdict.action is Action.REDACT
    assert verdict.redacted_text == "Mail [EMAIL] or call [PHONE]; card [CREDIT_CARD]."


def test_block_action_blocks_without_redacting() -> None:
    verdict = scanner("pii", action=Action.BLOCK).scan("jane@example.com")
    assert verdict.action is Action.BLOCK
    assert verdict.redacted_text is None
    assert verdict.reason == "found email"
