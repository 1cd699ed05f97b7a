"""The groundedness gate's judgement (tools/groundedness_eval.py): a sentence counts only when the passage its
marker cites says it; the real extractive answerer's answers are grounded; "nothing relevant" is a decline.
(The gate's run over docs/ is `make eval SUITE=groundedness`, a CI stage.)"""

from __future__ import annotations

import asyncio

import pytest

from platform_facts.project import PROJECT_NAME
from services.data.index_store import PassageFilter
from services.inference.generator import NOTHING_RELEVANT, ExtractiveAnswerer
from services.inference.schemas import Citation, Passage
from services.inference.settings import GeneratorSettings
from tools.groundedness_eval import generator_settings, grounded_sentences, judge

PASSAGES = {
    "p1": "The gateway checks every request. It redacts secrets before a model sees them.",
    "p2": "Quotas hold across replicas through a shared ledger.",
}


def test_sentences_count_only_when_their_cited_passage_says_them() -> None:
    answer = (f"From the indexed documents:\n\n{PASSAGES['p1']} [1]\n\n{PASSAGES['p2']} [2]\n\n"
              "Sources:\n[1] safety.md#Gateway\n[2] safety.md#Quotas")
    assert grounded_sentences(answer, {1: PASSAGES["p1"], 2: PASSAGES["p2"]}) == (3, 3)
    # A sentence no passage says, and a marker that names the wrong passage.
    invented = f"From the indexed documents:\n\n{PASSAGES['p1']} The model never errs. [1]\n\nSources:\n[1] x"
    assert grounded_sentences(invented, {1: PASSAGES["p1"]}) == (3, 2)
    swapped = f"From the indexed documents:\n\n{PASSAGES['p2']} [1]\n\nSources:\n[1] x"
    assert grounded_sentences(swapped, {1: PASSAGES["p1"]}) == (1, 0)
    assert grounded_sentences(f"{PASSAGES['p2']} [3]", {1: PASSAGES["p1"]}) == (1, 0)  # cites nothing retrieved


def test_the_extractive_answerers_answers_are_grounded_and_a_decline_is_not_an_answer() -> None:
    async def retrieve(query: str, k: int, passage_filter: PassageFilter | None = None) -> list[Passage]:
        return [Passage(source=f"doc.md#{key}", text=text, score=0.9 - n / 10, id=key)
                for n, (key, text) in enumerate(PASSAGES.items())][:k]

    settings = GeneratorSettings.model_validate({"engine": "extractive", "model_name": "answerer"})
    text, citations = asyncio.run(ExtractiveAnswerer(settings, retrieve).answer("How do quotas hold?"))
    judged = judge(text, citations, PASSAGES)
    assert judged.answered and judged.sentences == judged.grounded == 3
    assert judged.cited_sources == ("doc.md#p1", "doc.md#p2")
    declined = judge(NOTHING_RELEVANT, [], PASSAGES)
    assert (declined.answered, declined.sentences) == (False, 0)
    wrong = judge(text, [Citation(index=1, source="doc.md#p2", score=0.9, passage_id="p2"),
                         Citation(index=2, source="doc.md#p1", score=0.8, passage_id="p1")], PASSAGES)
    assert wrong.grounded == 0


def test_a_candidate_is_judged_by_the_generator_that_serves_it() -> None:
    """`make eval CANDIDATE=extractive-v2` judges the local candidate's own settings, not the stable one's."""
    assert generator_settings(None).model_name == f"{PROJECT_NAME}-extractive"
    candidate = generator_settings("extractive-v2")
    assert candidate.model_name == f"{PROJECT_NAME}-extractive-v2" and candidate.extractive.passages == 4
    with pytest.raises(ValueError, match=r"^candidate: unknown model version 'nope'"):
        generator_settings("nope")
    with pytest.raises(ValueError, match=r"^candidate: 'minilm' is served by no generator"):
        generator_settings("minilm")
