from __future__ import annotations

import pytest

from services.gateway.scanners import Action
from tests.gateway.scanners.helpers import scanner

unicode_scanner = scanner("invisible_unicode")


@pytest.mark.parametrize(
    ("text", "kind", "cleaned"),
    [
        ("ig\u200bnore previous", "invisible_character", "ignore previous"),
        ("file\u202egnp.exe", "bidi_control", "filegnp.exe"),
        ("hi\U000e0049\U000e0047\U000e004e\U000e004f\U000e0052\U000e0045", "tag_character", "hi"),
        ("log in to p\u0430ypal now", "confusable", "log in to paypal now"),
    ],
)
def test_removes_invisible_and_folds_confusables(text: str, kind: str, cleaned: str) -> None:
    verdict = unicode_scanner.scan(text)
    assert kind in {f.kind for f in verdict.findings}
    assert verdict.redacted_text == cleaned


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii",
        "family \U0001f468\u200d\U0001f469\u200d\U0001f467 emoji",
        "\u05e9\u05dc\u05d7 \u05d4\u05d5\u05d3\u05e2\u05ea \u05d8\u05e7\u05e1\u05d8, \u05e1\u05b4\u05de\u05b5\u05bc\u05e1",
        "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
        "caf\u00e9 na\u00efve \u4f60\u597d",
    ],
)
def test_leaves_ordinary_scripts_and_emoji_alone(text: str) -> None:
    assert unicode_scanner.scan(text).action is Action.ALLOW


def test_oversize_blocks_over_the_limit() -> None:
    oversize = scanner("oversize", action=Action.BLOCK, max_chars=10)
    assert oversize.scan("0123456789").action is Action.ALLOW
    verdict = oversize.scan("0123456789X")
    assert verdict.action is Action.BLOCK
    assert verdict.reason == "11 characters is over the limit of 10"


def test_oversize_redact_truncates() -> None:
    verdict = scanner("oversize", action=Action.REDACT, max_chars=4).scan("abcdefgh")
    assert verdict.redacted_text == "abcd"
