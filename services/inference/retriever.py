"""A small in-memory vector index over markdown/text documents (no Ray here).

Documents are split at headings, then packed paragraph by paragraph into passages of about
`chunk_chars`; each passage keeps its document path and heading so answers can cite it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.inference.schemas import Passage, ReindexResult

__all__ = ["PROJECT_ROOT", "Chunk", "DocumentIndex", "chunk_markdown", "corpus_files"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_SUFFIXES = (".md", ".markdown", ".txt", ".rst")

Embed = Callable[[list[str]], Awaitable[npt.NDArray[np.float32]]]


@dataclass(frozen=True)
class Chunk:
    """One passage of one document."""

    source: str
    text: str


def chunk_markdown(text: str, document: str, chunk_chars: int) -> list[Chunk]:
    """Split a document into passages that never cross a heading."""
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
            if current and len(current) + len(paragraph) + 2 > chunk_chars:
                chunks.append(Chunk(source, current))
                current = ""
            current = f"{current}\n\n{paragraph}" if current else paragraph
        if current and not _HEADING.match(current):
            chunks.append(Chunk(source, current))
    return chunks


def corpus_files(corpus: list[str], root: Path = PROJECT_ROOT) -> list[tuple[Path, str]]:
    """Every indexable file of the corpus entries, with the name it is cited by."""
    files: list[tuple[Path, str]] = []
    for entry in corpus:
        path = Path(entry) if Path(entry).is_absolute() else root / entry
        if path.is_file():
            files.append((path, path.name))
        elif path.is_dir():
            files.extend(
                (file, file.relative_to(path).as_posix())
                for file in sorted(path.rglob("*"))
                if file.is_file() and file.suffix in _SUFFIXES
            )
        else:
            raise FileNotFoundError(f"retriever.corpus: {entry!r} ({path}) does not exist")
    return files


class DocumentIndex:
    """Passages and their unit-length embeddings; `search` is one matrix-vector product."""

    def __init__(self, chunks: list[Chunk], vectors: npt.NDArray[np.float32]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("chunks and vectors differ in length")
        self.chunks = chunks
        self.vectors = vectors

    @classmethod
    async def build(
        cls, corpus: list[str], chunk_chars: int, embed: Embed, *, batch: int = 64
    ) -> tuple[DocumentIndex, ReindexResult]:
        """Read, chunk and embed the corpus."""
        started = time.perf_counter()
        files = corpus_files(corpus)
        chunks = [
            chunk
            for path, name in files
            for chunk in chunk_markdown(path.read_text(encoding="utf-8", errors="replace"), name, chunk_chars)
        ]
        parts = [await embed([c.text for c in chunks[i : i + batch]]) for i in range(0, len(chunks), batch)]
        vectors = np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)
        index = cls(chunks, vectors)
        return index, ReindexResult(
            documents=len(files), passages=len(chunks), seconds=round(time.perf_counter() - started, 3)
        )

    def search(self, query_vector: npt.NDArray[np.float32], k: int) -> list[Passage]:
        """The `k` passages closest to `query_vector`, best first."""
        if not self.chunks:
            return []
        scores = self.vectors @ query_vector
        top = np.argsort(-scores)[:k]
        return [
            Passage(source=self.chunks[i].source, text=self.chunks[i].text, score=round(float(scores[i]), 4))
            for i in top
        ]
