"""What the audit log keeps of a retrieval: the index version and the passages an answer used.

Pure Python on purpose: the gateway imports it on its hot path (no LanceDB, no Arrow). The
gateway reads lineage from the answer it already parsed (RAG `passages`, chat `citations`), so
what is audited is what the client was given.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["PassageRef", "RetrievalFields", "retrieval_lineage"]


class PassageRef(TypedDict):
    id: str
    content_sha256: str


class RetrievalFields(TypedDict):
    """The audit record's `retrieval` field."""

    index_version: int
    passages: list[PassageRef]


def retrieval_lineage(answer: dict[str, Any]) -> RetrievalFields | None:
    """The lineage of a RAG or chat answer body; None when it used no indexed passage."""
    items = answer.get("passages") if isinstance(answer.get("passages"), list) else answer.get("citations")
    if not isinstance(items, list):
        return None
    refs: list[PassageRef] = []
    versions: set[int] = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        passage_id = item.get("id", item.get("passage_id"))
        digest, version = item.get("content_sha256"), item.get("index_version")
        if isinstance(passage_id, str) and isinstance(digest, str) and isinstance(version, int):
            refs.append({"id": passage_id, "content_sha256": digest})
            versions.add(version)
    if not refs or len(versions) != 1:  # one answer is served from one snapshot
        return None
    return {"index_version": versions.pop(), "passages": refs}
