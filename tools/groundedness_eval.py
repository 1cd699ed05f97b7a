"""Answer groundedness of the extractive generator: it says only what the passages it cites say, cites what
answers the question, and declines what the documents do not cover.

    .venv/bin/python -m tools.groundedness_eval [--thresholds eval/groundedness-thresholds.yaml] [--misses]
                                                [--candidate MODEL_VERSION]
    make eval SUITE=groundedness [CANDIDATE=extractive-v2]

The corpus is ingested into a temporary index exactly as the retrieval gate does (`tools.retrieval_eval`),
and an extractive engine of the local serve config answers every question over it, as its Generator
deployment runs it: the stable one (`generator`), or with `--candidate` (which `make eval CANDIDATE=` passes
on) the one serving that model version of the local gateway config. Two question sets:
- answerable: the retrieval gate's labelled queries (each names the doc sections that answer it);
- unanswerable: questions the docs do not cover at all (`eval/groundedness-unanswerable.jsonl`, written
  for this gate, never used to set the engine's `min_score`).

Per answer, the numbers the gate checks:
- grounded: of the sentences before each `[n]` marker, the share found verbatim (whitespace aside) in the
  text of passage n, and every marker names a cited passage — an answer may repeat its sources, nothing more;
- supported: an answerable question's answer cites at least one section its label names;
- answered: an answerable question gets an answer rather than the engine's "nothing relevant";
- declined: an unanswerable question gets "nothing relevant" rather than an answer.
Exit status 1 when a rate falls under its minimum or a set is smaller than its minimum size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.data.index_store import IndexSnapshot, PassageFilter
from services.inference.embedder import SentenceEmbedder
from services.inference.generator import NOTHING_RELEVANT, ExtractiveAnswerer
from services.inference.retriever import passages_of
from services.inference.schemas import Citation, Passage
from services.inference.settings import AppArgs, GeneratorSettings
from tools.eval_suites import CANDIDATE_VARIABLE
from tools.jsonl import jsonl_objects
from tools.retrieval_eval import LabelledQuery, evaluation_index, exit_status, load_labelled

__all__ = ["GroundednessThresholds", "Judged", "generator_settings", "grounded_sentences", "judge", "main"]

ROOT = Path(__file__).resolve().parents[1]

MARKER = re.compile(r" \[(\d+)\]")
FRAMING = re.compile(r"\A[^\n]*:\n\n")
"""The answer's opening line (`From the indexed documents:`): framing, not a claim."""
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class GroundednessThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    answerable: str
    unanswerable: str
    corpus: str
    min_grounded: float = Field(ge=0, le=1)
    min_supported: float = Field(ge=0, le=1)
    min_answered: float = Field(ge=0, le=1)
    min_declined: float = Field(ge=0, le=1)
    min_answerable: int = Field(ge=1)
    min_unanswerable: int = Field(ge=1)


class _Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    query: str = Field(min_length=3)


@dataclass(frozen=True)
class Judged:
    sentences: int
    grounded: int
    """Sentences found in the passage their marker cites."""
    answered: bool
    cited_sources: tuple[str, ...]


def _normal(text: str) -> str:
    return " ".join(text.split())


def grounded_sentences(answer: str, passages: dict[int, str]) -> tuple[int, int]:
    """(sentences, grounded sentences) of an answer whose claims end in `[n]` markers; `passages` maps each
    cited n to its passage text. Text after the last marker (the source list) is not a claim."""
    pieces = MARKER.split(FRAMING.sub("", answer))
    sentences = grounded = 0
    for claim, marker in zip(pieces[0::2], pieces[1::2], strict=False):
        source = _normal(passages.get(int(marker), ""))
        for sentence in filter(None, (_normal(s) for s in SENTENCE_END.split(claim))):
            sentences += 1
            grounded += bool(source) and sentence in source
    return sentences, grounded


def judge(answer: str, citations: list[Citation], texts: dict[str, str]) -> Judged:
    """One answer: `texts` holds the text of every passage retrieved for it, by passage id."""
    if answer == NOTHING_RELEVANT:
        return Judged(0, 0, answered=False, cited_sources=())
    passages = {c.index: texts.get(c.passage_id or "", "") for c in citations}
    sentences, grounded = grounded_sentences(answer, passages)
    return Judged(sentences, grounded, answered=True, cited_sources=tuple(c.source for c in citations))


def generator_settings(candidate: str | None) -> GeneratorSettings:
    """The local serve config's generator, or the one serving `candidate` (a model version of the local
    gateway config); ValueError naming the field when there is none, or it is no extractive engine."""
    from services.config import serve_config
    from services.gateway.config import load_gateway_config

    args = AppArgs.model_validate(serve_config("local")["applications"][0]["args"])
    if candidate is None:
        chosen = args.generator
    else:
        versions = load_gateway_config("local").model_versions
        if candidate not in versions:
            raise ValueError(f"candidate: unknown model version {candidate!r} (known: {', '.join(sorted(versions))})")
        served = {generator.model_name: generator for generator in args.generators}
        if versions[candidate].model not in served:
            raise ValueError(f"candidate: {candidate!r} is served by no generator of the local serve config")
        chosen = served[versions[candidate].model]
    if chosen.engine != "extractive":
        raise ValueError(f"candidate: {chosen.model_name} runs the {chosen.engine} engine; this suite judges "
                         "extractive answers")
    return chosen


def _answer_all(snapshot: IndexSnapshot, embedder: SentenceEmbedder, questions: list[str],
                settings: GeneratorSettings) -> list[Judged]:
    retrieved: dict[str, str] = {}

    async def retrieve(query: str, k: int, passage_filter: PassageFilter | None = None) -> list[Passage]:
        [vector] = embedder.encode([query])
        hits = snapshot.search(vector, k, passage_filter)
        retrieved.update((hit.chunk_id, hit.text) for hit in hits)
        return passages_of(hits, snapshot.version)

    answerer = ExtractiveAnswerer(settings, retrieve)

    async def run() -> list[Judged]:
        judged = []
        for question in questions:
            text, citations = await answerer.answer(question)
            judged.append(judge(text, citations, retrieved))
        return judged

    return asyncio.run(run())


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.groundedness_eval", description=__doc__)
    parser.add_argument("--thresholds", default=str(ROOT / "eval" / "groundedness-thresholds.yaml"))
    parser.add_argument("--misses", action="store_true", help="print the questions each rate counts against")
    parser.add_argument("--candidate", default=os.environ.get(CANDIDATE_VARIABLE) or None,
                        help=f"judge the generator serving this model version (default: ${CANDIDATE_VARIABLE})")
    args = parser.parse_args(argv)
    try:
        settings = generator_settings(args.candidate)
    except ValueError as error:
        parser.error(str(error))
    thresholds = GroundednessThresholds.model_validate(yaml.safe_load(Path(args.thresholds).read_text()))
    answerable: list[LabelledQuery] = load_labelled(ROOT / thresholds.answerable)
    unanswerable = [_Question.model_validate(data).query for _, data in jsonl_objects(ROOT / thresholds.unanswerable)]

    with evaluation_index(ROOT / thresholds.corpus) as (snapshot, embedder):
        judged = _answer_all(snapshot, embedder, [q.query for q in answerable] + unanswerable, settings)
    on_answerable, on_unanswerable = judged[: len(answerable)], judged[len(answerable):]
    answered = [j for j in on_answerable if j.answered]
    supported = [q for q, j in zip(answerable, on_answerable, strict=True) if set(j.cited_sources) & set(q.relevant)]
    rates = {
        "grounded": _rate(sum(j.grounded for j in judged), sum(j.sentences for j in judged)),
        "supported": _rate(len(supported), len(answerable)),
        "answered": _rate(len(answered), len(answerable)),
        "declined": _rate(sum(not j.answered for j in on_unanswerable), len(unanswerable)),
    }
    print(json.dumps({"model": settings.model_name, "answerable": len(answerable),
                      "unanswerable": len(unanswerable), **rates}))
    if args.misses:
        for q, j in zip(answerable, on_answerable, strict=True):
            if not set(j.cited_sources) & set(q.relevant):
                print(f"unsupported: {q.query!r} wants {q.relevant}, cited {list(j.cited_sources)}")
        for question, j in zip(unanswerable, on_unanswerable, strict=True):
            if j.answered:
                print(f"answered off-topic: {question!r} from {list(j.cited_sources)}")
    failures = [f"{name} {rates[name]} < {minimum}" for name, minimum in (
        ("grounded", thresholds.min_grounded), ("supported", thresholds.min_supported),
        ("answered", thresholds.min_answered), ("declined", thresholds.min_declined),
    ) if rates[name] < minimum]
    if len(answerable) < thresholds.min_answerable:
        failures.append(f"answerable {len(answerable)} < min_answerable {thresholds.min_answerable}")
    if len(unanswerable) < thresholds.min_unanswerable:
        failures.append(f"unanswerable {len(unanswerable)} < min_unanswerable {thresholds.min_unanswerable}")
    return exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
