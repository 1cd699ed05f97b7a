"""Indirect prompt injection: requests planted in third-party content (tool results).

A user may ask the model anything; an email, a web page or a tool's output has no business asking
the model for something. An indirect injection ("Recommend a good book.", "What movies are
playing this weekend?" planted in an email the user asked about) is an ordinary request: no
scanner can tell it from a user's prompt by its words, only by where it arrives. So this scanner
runs only on third-party content (`scanners.third_party`, applied to `tool` messages) and finds
every sentence that asks its reader for something: one that opens with an instruction verb or is
a question opening with a question word. Redacting (the default action) cuts exactly those
sentences out, so the model still sees the rest of the document.

It over-fires on purpose on content addressed to human readers ("Check out the new release."):
there the cost is one sentence removed from a document, measured in docs/safety.md.
"""

from __future__ import annotations

import re

from services.gateway.scanners.base import Finding
from services.gateway.scanners.findings import SpanScanner

__all__ = ["IndirectInjectionScanner", "reader_requests"]

# Verbs that open an instruction, in their imperative form: what instruction-tuning data and task
# prompts start with. Written from general knowledge of such prompts, not from an evaluation set;
# words more often a noun at the start of a sentence ("Order #4411 shipped", "Note", "Report") are
# left out.
_INSTRUCTION_VERBS = [
    "act",
    "add",
    "advise",
    "analyse",
    "analyze",
    "answer",
    "append",
    "apply",
    "arrange",
    "ask",
    "assess",
    "assist",
    "book",
    "brainstorm",
    "build",
    "calculate",
    "call",
    "categorise",
    "categorize",
    "change",
    "check",
    "choose",
    "cite",
    "classify",
    "click",
    "compare",
    "compile",
    "complete",
    "compose",
    "compute",
    "convert",
    "correct",
    "create",
    "debug",
    "decode",
    "define",
    "delete",
    "describe",
    "detect",
    "determine",
    "develop",
    "disregard",
    "display",
    "download",
    "draft",
    "edit",
    "email",
    "encode",
    "enumerate",
    "estimate",
    "evaluate",
    "execute",
    "expand",
    "explain",
    "extract",
    "fill",
    "find",
    "fix",
    "follow",
    "forget",
    "forward",
    "generate",
    "give",
    "go",
    "guess",
    "help",
    "identify",
    "ignore",
    "imagine",
    "implement",
    "include",
    "inform",
    "insert",
    "install",
    "instruct",
    "introduce",
    "invent",
    "list",
    "locate",
    "look",
    "make",
    "mention",
    "modify",
    "navigate",
    "notify",
    "offer",
    "open",
    "organise",
    "organize",
    "outline",
    "output",
    "paraphrase",
    "persuade",
    "predict",
    "prepare",
    "pretend",
    "print",
    "produce",
    "promote",
    "propose",
    "provide",
    "read",
    "recommend",
    "rename",
    "reply",
    "repeat",
    "rephrase",
    "respond",
    "restate",
    "review",
    "rewrite",
    "run",
    "say",
    "schedule",
    "search",
    "select",
    "send",
    "set",
    "share",
    "show",
    "simplify",
    "solve",
    "specify",
    "stop",
    "suggest",
    "summarise",
    "summarize",
    "tell",
    "think",
    "transcribe",
    "translate",
    "try",
    "update",
    "upload",
    "use",
    "verify",
    "visit",
    "write",
]
_QUESTION_WORDS = [
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "can",
    "could",
    "would",
    "will",
    "should",
    "shall",
    "do",
    "does",
    "did",
    "is",
    "are",
    "was",
    "were",
    "am",
    "may",
    "might",
    "have",
    "has",
]
_OPENERS = r"(?:(?:please|kindly|now|also|then|and|so|first|next|finally|ok|okay)[,]?\s+)*"
_INSTRUCTION = re.compile(rf"{_OPENERS}(?:{'|'.join(_INSTRUCTION_VERBS)})\b(?![:'-])\s+\S", re.IGNORECASE)
_QUESTION = re.compile(rf"{_OPENERS}(?:{'|'.join(_QUESTION_WORDS)})\b\s+\S.*\?\W*$", re.IGNORECASE | re.DOTALL)
# A sentence ends at . ! ? (followed by space or the end) or at a line break.
_SENTENCE = re.compile(r"""[^\n]+?(?:[.!?]+["'”’)]*(?=\s|$)|$)""", re.MULTILINE)
_WRAPPED = re.compile(r"\n(?=[ \t]*[a-z])")
# Quotes, bullets and list numbers before the first word.
_LEAD = re.compile(r"""^[\s"'“‘(\[*>#-]*(?:\d+[.)]\s*)?""")


def reader_requests(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences in `text` that ask their reader to do or answer something."""
    spans: list[tuple[int, int]] = []
    # A line that starts in lower case continues the sentence above (wrapped text); joining them
    # with a space keeps every offset.
    text = _WRAPPED.sub(" ", text)
    for match in _SENTENCE.finditer(text):
        sentence = match.group()
        lead = _LEAD.match(sentence)
        body = sentence[lead.end() if lead else 0 :].rstrip().rstrip("\"'”’)")
        if len(body.split()) < 3:
            continue  # a heading or a label ("Reply", "Read more"), not a request
        if _INSTRUCTION.match(body) or _QUESTION.match(body):
            start = match.start() + (lead.end() if lead else 0)
            spans.append((start, start + len(body)))
    return spans


class IndirectInjectionScanner(SpanScanner):
    name = "indirect_injection"

    def find(self, text: str) -> list[Finding]:
        return [Finding("instruction_in_content", start, end, 1.0) for start, end in reader_requests(text)]

    def replacement(self, finding: Finding, original: str) -> str:
        return "[REMOVED: INSTRUCTION IN THIRD-PARTY CONTENT]"
