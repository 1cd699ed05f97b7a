"""Markdown to passages (services/data/chunking.py): split at headings, packed to about `chunk_chars`."""

from __future__ import annotations

from services.data.chunking import chunk_markdown

LONG = "The serve config names every deployment and its replicas. " * 20  # ≈1,180 characters


def test_a_heading_stays_with_the_long_paragraph_after_it() -> None:
    """A passage that is only a heading answers nothing, however a retriever ranks it."""
    chunks = chunk_markdown(f"# Guide\n\n## Config model\n\n{LONG}\n\nShort closing note.\n", "guide.md", 800)
    assert [chunk.source for chunk in chunks] == ["guide.md#Config model", "guide.md#Config model"]
    assert chunks[0].text.startswith("## Config model\n\nThe serve config")
    assert chunks[1].text == "Short closing note."


def test_passages_never_cross_a_heading_and_fenced_hashes_are_not_headings() -> None:
    text = "Intro.\n\n## One\n\nFirst.\n\n```sh\n# a shell comment\nmake up\n```\n\n## Two\n\nSecond.\n"
    chunks = chunk_markdown(text, "doc.md", 800)
    assert [(chunk.source, chunk.text.splitlines()[-1]) for chunk in chunks] == [
        ("doc.md", "Intro."), ("doc.md#One", "```"), ("doc.md#Two", "Second.")]
    assert "# a shell comment" in chunks[1].text
