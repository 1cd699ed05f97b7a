"""What the gateway audits of a retrieval, read from the answer body; and the retrieval gate's arithmetic."""

from __future__ import annotations

from services.data.lineage import retrieval_lineage
from tools.retrieval_eval import LabelledQuery, evaluate


def test_rag_passages_and_chat_citations_become_the_audit_field() -> None:
    rag = {"query": "q", "passages": [
        {"source": "a.md#A", "text": "t", "score": 0.9, "id": "p1", "content_sha256": "h1", "index_version": 3},
        {"source": "b.md#B", "text": "t", "score": 0.8, "id": "p2", "content_sha256": "h2", "index_version": 3},
    ]}
    assert retrieval_lineage(rag) == {"index_version": 3, "passages": [
        {"id": "p1", "content_sha256": "h1"}, {"id": "p2", "content_sha256": "h2"}]}
    chat = {"choices": [], "citations": [
        {"index": 1, "source": "a.md#A", "score": 0.9, "passage_id": "p1", "content_sha256": "h1", "index_version": 4}]}
    assert retrieval_lineage(chat) == {"index_version": 4, "passages": [{"id": "p1", "content_sha256": "h1"}]}


def test_answers_without_indexed_passages_carry_no_lineage() -> None:
    assert retrieval_lineage({"choices": [], "citations": []}) is None
    assert retrieval_lineage({"data": [{"embedding": [0.1]}]}) is None
    # An upstream engine's passages without ids (or from two versions at once) are not lineage.
    assert retrieval_lineage({"passages": [{"source": "a.md", "text": "t", "score": 1.0}]}) is None
    mixed = {"passages": [{"id": "p1", "content_sha256": "h", "index_version": 1},
                          {"id": "p2", "content_sha256": "h", "index_version": 2}]}
    assert retrieval_lineage(mixed) is None


def test_recall_and_mrr_count_the_first_relevant_rank() -> None:
    queries = [LabelledQuery(query="one", relevant=["a#A"]), LabelledQuery(query="two", relevant=["b#B", "c#C"]),
               LabelledQuery(query="three", relevant=["z#Z"])]
    ranked = [["a#A", "x"], ["x", "y", "c#C"], ["x", "y", "z", "w", "v", "z#Z"]]
    assert evaluate(queries, ranked, k=5) == {"queries": 3, "recall_at_5": round(2 / 3, 4),
                                              "mrr": round((1 + 1 / 3 + 1 / 6) / 3, 4)}
