"""The word lists the names rule reads: given names, surnames, and English words.

Given names and surnames are the locale data of mimesis (MIT licence, pinned by hash in the locks):
about 25,000 given names and 36,000 surnames of 40-odd locales, read from its JSON files (the
library itself is never imported). English words are the lemma index that ships with the NER
model's package for spaCy's lemmatizer (WordNet's nouns, verbs, adjectives and adverbs; the NER
pipeline does not load the lemmatizer itself). Each list loads once per process, on first use.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import json
import re
from pathlib import Path

__all__ = ["NAME_LISTS_PACKAGE", "given_names", "is_english_word", "surnames"]

NAME_LISTS_PACKAGE = "mimesis"
_NAME_SHAPED = re.compile(r"[A-ZÀ-ÖØ-Þ][a-z'\u00df-\u00ff]+")


def given_names() -> frozenset[str]:
    """Given names of every locale, name-shaped ones only (a capital, then lower-case letters)."""
    return _name_sets()[0]


def surnames() -> frozenset[str]:
    return _name_sets()[1]


def is_english_word(word: str) -> bool:
    """Whether a word, in any case and maybe plural ("Cardinals", "Taxes", "Stories"), is an English
    noun, verb, adjective or adverb. Famous names are in WordNet too ("Helena"), so this says a word
    *may* be an ordinary one, never that it is not a name."""
    lower = word.lower()
    forms = {lower, lower.removesuffix("s"), lower.removesuffix("es")}
    if lower.endswith("ies"):
        forms.add(lower[:-3] + "y")
    return not _english_words().isdisjoint(forms)


_FIELDS = ("names", "surnames")


@functools.cache
def _name_sets() -> tuple[frozenset[str], frozenset[str]]:
    words = _locale_lists()
    return frozenset(name for name in words["names"] if _NAME_SHAPED.fullmatch(name)), frozenset(words["surnames"])


def _locale_lists() -> dict[str, list[str]]:
    """Every locale's names and surnames from mimesis's person.json files (each a list, or lists by
    gender), each file read once for both."""
    words: dict[str, list[str]] = {field: [] for field in _FIELDS}
    for locale in (importlib.resources.files(NAME_LISTS_PACKAGE) / "datasets").iterdir():
        person = locale / "person.json"
        if not person.is_file():
            continue
        data = json.loads(person.read_text(encoding="utf-8"))
        for field in _FIELDS:
            table = data.get(field, [])
            for group in table.values() if isinstance(table, dict) else [table]:
                words[field] += group
    for field, found in words.items():
        if not found:
            raise RuntimeError(f"{NAME_LISTS_PACKAGE}: no {field} in its datasets/*/person.json (a changed layout?)")
    return words


@functools.cache
def _english_words() -> frozenset[str]:
    from spacy.lookups import Lookups

    from services.gateway.scanners.names import NER_MODEL_PACKAGE  # here: names.py imports this module

    package = Path(importlib.import_module(NER_MODEL_PACKAGE).__file__ or "").parent
    folders = sorted(package.glob("*/lemmatizer/lookups"))
    if not folders:
        raise RuntimeError(f"{NER_MODEL_PACKAGE}: no lemmatizer/lookups folder (a changed model package?)")
    index = Lookups().from_disk(folders[0]).get_table("lemma_index")
    return frozenset(word for part in ("noun", "verb", "adj", "adv") for word in index.get(part, []))
