"""Invisible and confusable Unicode, and oversize input.

Invisible characters (zero-width, bidirectional controls, tag characters, private use) can
hide instructions from a human reviewer while the model still reads them; mixed-script words
("paypal" spelled with a Cyrillic letter a) impersonate familiar names. Redaction removes the invisible
characters and folds confusable letters to their Latin look-alikes.
"""

from __future__ import annotations

import re
import time
import unicodedata

from services.gateway.scanners.base import Action, Finding, Stage, Verdict
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.findings import SpanScanner

__all__ = ["InvisibleUnicodeScanner", "OversizeScanner"]

# Zero-width and joiner characters, bidi embeddings/overrides/isolates, word joiner and
# invisible operators, BOM, interlinear annotation, tags, variation selectors supplement.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufeff\ufff9-\ufffb\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef"
    "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]"
)
_ZERO_WIDTH_JOINERS = {"\u200c", "\u200d"}

# Cyrillic and Greek letters that render like Latin ones (Unicode confusables, the common subset).
_CONFUSABLE_TO_LATIN = str.maketrans(
    "аеорсухіјѕԁԛԝАВЕКМНОРСТХІЈЅѴԌαοριτυνκΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdqwABEKMHOPCTXIJSVGaopituvkABEZHIKMNOPTYX",
)
_CONFUSABLE_LETTERS = frozenset("аеорсухіјѕԁԛԝАВЕКМНОРСТХІЈЅѴԌαοριτυνκΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")
_WORD = re.compile(r"[^\W\d_]{2,}")
_LATIN = re.compile(r"[A-Za-z]")


class InvisibleUnicodeScanner(SpanScanner):
    name = "invisible_unicode"

    def find(self, text: str) -> list[Finding]:
        if text.isascii():
            return []
        findings = [
            Finding(_invisible_kind(match.group()), match.start(), match.end(), 1.0)
            for match in _INVISIBLE.finditer(text)
            if not _is_emoji_joiner(text, match.start())
        ]
        for match in _WORD.finditer(text):
            word = match.group()
            if _LATIN.search(word) and any(letter in _CONFUSABLE_LETTERS for letter in word):
                findings.append(Finding("confusable", match.start(), match.end(), 1.0))
        return findings

    def replacement(self, finding: Finding, original: str) -> str:
        if finding.kind == "confusable":
            return _INVISIBLE.sub("", original).translate(_CONFUSABLE_TO_LATIN)
        return ""


def _invisible_kind(character: str) -> str:
    code = ord(character)
    if 0xE0000 <= code <= 0xE007F:
        return "tag_character"
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069 or code in (0x200E, 0x200F, 0x061C):
        return "bidi_control"
    if unicodedata.category(character) == "Co":
        return "private_use"
    return "invisible_character"


def _is_emoji_joiner(text: str, index: int) -> bool:
    """ZWJ/ZWNJ between two symbols is part of an emoji sequence or a script's orthography."""
    if text[index] not in _ZERO_WIDTH_JOINERS or index == 0 or index + 1 >= len(text):
        return False
    before, after = text[index - 1], text[index + 1]
    return not (_LATIN.match(before) or _LATIN.match(after))


class OversizeScanner:
    """Blocks (or, with action redact, truncates) text longer than `max_chars`."""

    name = "oversize"

    def __init__(self, stage: Stage, settings: ScannerSettings, max_chars: int):
        self.stage: Stage = stage
        self.settings = settings
        self.max_chars = max_chars

    def scan(self, text: str) -> Verdict:
        started = time.perf_counter()
        if len(text) <= self.max_chars:
            return Verdict(self.name, Action.ALLOW, "within size limit", (), None, _elapsed(started))
        finding = Finding("oversize", self.max_chars, len(text), 1.0)
        action = self.settings.action
        return Verdict(
            self.name,
            action,
            f"{len(text)} characters is over the limit of {self.max_chars}",
            (finding,),
            text[: self.max_chars] if action is Action.REDACT else None,
            _elapsed(started),
        )


def _elapsed(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
