"""Where the upstream name is still written by hand in code a fork would run (pure functions, no I/O but reads).

Python files are read with `ast`: only string constants that are values count (docstrings and comments are
prose, not names). Other code files (Makefile, templates, static pages) count every line that is not a comment.
Data files the fork rewrites (`tools.fork.FORK_DATA_GLOBS`) are not code and are checked by the fork test.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Stray", "python_strays", "text_strays"]


@dataclass(frozen=True)
class Stray:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def _prose_nodes(tree: ast.AST) -> set[int]:
    """ids of string constants that are whole expression statements: docstrings, attribute docstrings."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def python_strays(path: Path, relative: str, word: str) -> Iterator[Stray]:
    tree = ast.parse(path.read_text(), filename=relative)
    prose = _prose_nodes(tree)
    pattern = re.compile(re.escape(word), re.IGNORECASE)
    for node in ast.walk(tree):
        is_value = isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
        if is_value and pattern.search(node.value):
            yield Stray(relative, node.lineno, node.value.strip().splitlines()[0][:100])


def text_strays(path: Path, relative: str, word: str, comment_prefixes: Iterable[str] = ("#",)) -> Iterator[Stray]:
    pattern = re.compile(re.escape(word), re.IGNORECASE)
    prefixes = tuple(comment_prefixes)
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if pattern.search(line) and not line.lstrip().startswith(prefixes):
            yield Stray(relative, number, line.strip()[:100])
