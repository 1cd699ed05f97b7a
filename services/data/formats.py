"""Document formats to the text the chunker reads: markdown and plain text as they are, HTML as
markdown-like text (headings become `#` lines so passages still break at them)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import PurePosixPath

__all__ = ["UnsupportedFormat", "document_format", "html_to_text"]

_FORMATS = {".md": "markdown", ".markdown": "markdown", ".rst": "text", ".txt": "text", ".html": "html", ".htm": "html"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {"p", "div", "section", "article", "li", "tr", "br", "pre", "table", "ul", "ol", "blockquote"}
_SKIPPED = {"script", "style", "head", "noscript", "template"}


class UnsupportedFormat(ValueError):
    """The document's type is not one this pipeline reads."""


def document_format(document_id: str) -> str:
    """`markdown`, `text` or `html`, by file suffix."""
    suffix = PurePosixPath(document_id).suffix.lower()
    if suffix not in _FORMATS:
        raise UnsupportedFormat(f"{suffix or 'no suffix'} is not one of {', '.join(sorted(_FORMATS))}")
    return _FORMATS[suffix]


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _HEADINGS:
            self.parts.append("\n\n" + "#" * _HEADINGS[tag] + " ")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _HEADINGS or tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self.skipping:
            self.parts.append(" ".join(data.split()) if data.strip() else " ")


def html_to_text(html: str) -> str:
    """Visible text of an HTML page, one paragraph per block, headings as markdown headings."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()
