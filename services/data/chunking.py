"""Documents to passages: split at headings, then packed paragraph by paragraph to about
`chunk_chars`; each passage keeps its document id and the heading it sits under, so answers cite it."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Chunk", "chunk_markdown"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


@dataclass(frozen=True)
class Chunk:
    """One passage of one document."""

    source: str
    """`<document id>#<heading>`, or the document id before the first heading."""
    text: str


def chunk_markdown(text: str, document: str, chunk_chars: int) -> list[Chunk]:
    """Split a document into passages that never cross a heading (headings inside code fences do not count)."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            sections.append((heading.group(2), [line]))
        else:
            sections[-1][1].append(line)
    chunks: list[Chunk] = []
    for title, lines in sections:
        source = f"{document}#{title}" if title else document
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
        current = ""
        for paragraph in paragraphs:
            # A heading stays with the paragraph after it, however long: a passage that is only a
            # heading answers nothing (it was retrieved, and quoted, for questions near its title).
            if current and len(current) + len(paragraph) + 2 > chunk_chars and not _HEADING.match(current):
                chunks.append(Chunk(source, current))
                current = ""
            current = f"{current}\n\n{paragraph}" if current else paragraph
        if current and not _HEADING.match(current):
            chunks.append(Chunk(source, current))
    return chunks
