"""Indirect prompt injection: requests planted in third-party content (tool results).

A user may ask the model anything; an email, a web page or a tool's output has no business asking
the model for something. An indirect injection ("Recommend a good book.", "What movies are
playing this weekend?" planted in an email the user asked about) is an ordinary request: no
scanner can tell it from a user's prompt by its words, only by where it arrives. So this scanner
runs only on third-party content (`scanners.third_party`, applied to `tool` messages), finds every
sentence that asks its reader for something (`reader_requests.py`) and cuts the ones that do not
belong to the document. Redacting (the default action) cuts exactly those sentences out, so the
model still sees the rest of the document.

Documents written for people ask their readers for things too ("Run `make up`.", "Please send the
slides before Friday's meeting."), and those requests are about the document itself. So a request is
kept when it is anchored in its document: it names code (backticks, flags, file names, issue
numbers; a CamelCase name only when the document names it too: "HttpClient" is code, "GitHub" in
a planted task a brand), introduces what follows (ends in a colon), or shares at least two of its
own content words (its only one, if it has one), and a third of them, with the rest of the
document. A planted request has no such anchor: it was written for another page. A request that
speaks about the AI reading it (its instructions, its response, the user, the conversation), greets
it, sets it a task or announces instructions is never anchored; what belongs to correspondence
always is: courtesy formulas ("Please find attached ...", "Let me know ..."), reminders ("Please
make sure ..."), deadlines and hours ("by Friday", "8am-6pm"), arranging to meet, questions to
everyone on a list. A request without content words of its own ("How do I do this?", "Is that
OK?") is judged together with the sentence before it. An unanchored request is still kept when
the addressee model (`addressee.py`) finds it written for a person ("Also, could you recommend a
decent dentist?") or close in meaning to the rest of the document ("Click the button below to
choose a new password." in a password-reset e-mail), unless it speaks to the AI. A harmful request
or an attack is cut whatever its form and wherever it stands, code blocks included, when the
semantic heads find it so (`harm_in_content.py`). What this costs and catches, on documents and
planted requests nothing was tuned on, is in docs/safety.md.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from services.gateway.scanners.addressee import RequestAddressee
from services.gateway.scanners.base import Finding, Stage
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.findings import SpanScanner, redact
from services.gateway.scanners.harm_in_content import HarmInContent
from services.gateway.scanners.reader_requests import INSTRUCTION_VERBS, reader_requests, speaks_to_the_ai

__all__ = ["IndirectInjectionScanner", "planted_requests"]

# A request that names code or a reference belongs to the technical text around it: inline code,
# a command-line flag, a call, a snake_case, CONSTANT_CASE or camelCase name, a file name, an
# assignment, a path, an issue number, a @handle, a link to a section of the same page, a version.
_CODE = re.compile(
    r"`|(?<![\w-])--?[a-z][\w-]+|\w\(\)|\b[a-z]\w*_\w+\b|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"
    r"|\b\w+\.(?:py|js|ts|json|ya?ml|toml|cfg|ini|txt|md|sh|c|h|cc|cpp|rs|go|java|html|css|xml|conf|env)\b"
    r"|<[^>\s]+>|=|::|/[\w.-]+/|#\d+|(?<!\w)@\w|\]\(#"
    r"|\b[a-z]+[A-Z][A-Za-z0-9]*\b|\b\d+\.\d+(?:\.\d+)*\b"
)
# A CamelCase name is a class in code ("HttpClient") and a brand in a planted task ("GitHub",
# "PhD", "YouTube"): it ties a request to its document only where the document names it too.
_CAMEL_CASE = re.compile(r"\b[A-Z][a-z]+[A-Z][A-Za-z0-9]*\b")
_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
# What belongs to a letter or a notice and asks nothing a model could do: its courtesy formulas
# ("Please find attached ...", "Let me know if ..."), its reminders ("Please make sure ...", "Ignore
# this if you have already paid."), a question to everyone on the list ("Has anyone got ...?") and
# a request with a deadline or an hour ("by Friday", "Monday to Friday, 8am-6pm", "before the end of
# the day"): the reader's week, not a task planted for the model ("What movies are playing this weekend?"
# names a day too, but no deadline).
_CORRESPONDENCE = re.compile(
    r"\b(?:find (?:attached|enclosed|below)|see (?:attached|enclosed|below)|let (?:me|us) know|feel free"
    r"|(?:don't|do not) hesitate|reach out|get in touch|contact (?:me|us|our|the)\b|reply stop|unsubscribe"
    r"|make sure|remember to|(?:don't|do not) forget|when you get a chance|at your (?:earliest )?convenience"
    r"|if you(?: have|'ve) already|(?:has|have|does|did|is|can|could|would|will) (?:anyone|anybody)\b"
    r"|(?:are|would|will) you be (?:free|around|available|in)\b|(?:shall|should|can|could) we (?:meet|talk|chat)\b"
    r"|times? (?:that )?(?:works?|suits?) (?:for )?you|(?:before|after|once|when) (?:I|we)\b"
    rf"|(?:by|before|until|till|no later than) (?:the )?(?:end of|{_DAY}|tomorrow|tonight|noon|midday)"
    rf"|{_DAY} to {_DAY}"
    r"|\d{1,2}(?::\d\d)?\s?[ap]\.?m\b)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\b[^\W\d_][\w'-]{2,}")
# Words too common to tie a request to its document ("Please let me know the new time").
_COMMON_WORD_LIST = """
the and for you your with this that from are was were have has had not but all any can will would should could use
using used make made get got new one two also more most some such very just like into than then them they their
there here what which when where who why how does did done its our out about over under only other each every same
well please kindly need needs want wants know let may might must shall now first next last good best better way ways
thing things time times day days year years sure able many much few lot lots see seen look find give take keep work
works working help tell say said ask asked show list write read following below above note today tomorrow
doing wrong right still available possible those these until okay fine
"""
_COMMON = frozenset(_COMMON_WORD_LIST.split()) | frozenset(INSTRUCTION_VERBS)
_MIN_SHARED_WORDS = 2
_MIN_SHARED_SHARE = 1 / 3


def _content_words(text: str) -> Counter[str]:
    # Six letters stand in for a stem: "versions" and "version" meet, "install" and "installed" too.
    return Counter(word.lower()[:6] for word in _WORD.findall(text) if word.lower() not in _COMMON)


def _anchored(request: str, document_words: Counter[str]) -> bool:
    """Whether a request that does not speak to the AI belongs to the document it sits in (see the
    module docstring); `document_words` counts the content words of the whole document, the request's included."""
    if request.endswith(":") or _CODE.search(request) or _CORRESPONDENCE.search(request):
        return True
    own = _content_words(request)
    if any(document_words[stem] > own[stem] for stem in _content_words(" ".join(_CAMEL_CASE.findall(request)))):
        return True
    shared = sum(1 for word, count in own.items() if document_words[word] > count)  # also outside the request
    return shared >= min(_MIN_SHARED_WORDS, len(own)) and shared >= _MIN_SHARED_SHARE * len(own)


_SENTENCE_END = re.compile(r"[.!?:]+\s+|\n")
_SENTENCE_REACH = 600  # characters: no sentence before a request is longer


def _with_the_sentence_before(text: str, start: int) -> int:
    """Where the sentence before `start` begins: a request without words of its own ("How do I do this?",
    "Is that OK?") asks about that sentence, and belongs where it belongs (one that introduces what
    follows, "Use them to:", belongs to the document by that alone)."""
    window = max(0, start - _SENTENCE_REACH)
    head = text[window:start].rstrip()
    return window + max((match.end() for match in _SENTENCE_END.finditer(head)), default=0)


def planted_requests(
    text: str, for_a_model: Callable[[list[str], str], list[bool]] | None = None
) -> list[tuple[int, int]]:
    """Spans of the requests in `text` that do not belong to it: what this scanner cuts. With
    `for_a_model` (`RequestAddressee.for_a_model`, asked once with every unanchored request and the
    document without the requests in doubt), an unanchored request is kept when it reads as written
    for a person or keeps to the document's topic, unless it speaks to the AI."""
    cut, unanchored = [], []
    document_words = _content_words(text)  # once: counting them per request made long documents quadratic
    for start, end in reader_requests(text):
        request = text[start:end]
        borrows = not _content_words(request) and not request.endswith(":")
        judged = text[_with_the_sentence_before(text, start) if borrows else start : end]
        if speaks_to_the_ai(judged):
            cut.append((start, end))  # never anchored, whatever the addressee head would say
        elif not _anchored(judged, document_words):
            unanchored.append((start, end))
    if unanchored and for_a_model is not None:
        doubted = [Finding("instruction_in_content", start, end, 1.0) for start, end in cut + unanchored]
        rest_of_document = redact(text, doubted, lambda finding, original: " ")
        verdicts = for_a_model([text[start:end] for start, end in unanchored], rest_of_document)
        unanchored = [span for span, is_for_a_model in zip(unanchored, verdicts, strict=True) if is_for_a_model]
    return sorted(cut + unanchored)


class IndirectInjectionScanner(SpanScanner):
    """Cuts `planted_requests` (with an `addressee` model, only those it finds written for a model)
    and, with `harm`, the sentences the semantic heads find harmful or an attack (`harm_in_content.py`)."""

    name = "indirect_injection"

    def __init__(
        self,
        stage: Stage,
        settings: ScannerSettings,
        addressee: RequestAddressee | None = None,
        harm: HarmInContent | None = None,
    ) -> None:
        super().__init__(stage, settings)
        self._addressee = addressee
        self._harm = harm

    def find(self, text: str) -> list[Finding]:
        for_a_model = self._addressee.for_a_model if self._addressee is not None else None
        findings = [
            Finding("instruction_in_content", start, end, 1.0) for start, end in planted_requests(text, for_a_model)
        ]
        if self._harm is not None:
            findings += [Finding("harm_in_content", start, end, 1.0) for start, end in self._harm.spans(text)]
        return findings

    def replacement(self, finding: Finding, original: str) -> str:
        what = "HARMFUL TEXT" if finding.kind == "harm_in_content" else "INSTRUCTION"
        return f"[REMOVED: {what} IN THIRD-PARTY CONTENT]"
