"""Fit the head that tells a request to a person from a task for a model (`models/request_addressee.json`).

    python -m tools.addressee_train --data ../shared/eval/train-safety [--cache .rampart/cache]

`indirect_injection` cuts the requests in third-party content that its rules cannot anchor in
their document; people's e-mails ask for plenty that shares no words with the rest of them. This
head keeps a request written for a person. Its two sides are the requests
`services.gateway.scanners.reader_requests.reader_requests` finds in:

- written for a model: train-safety's rows of the `train` split (prompts, injections, harmful asks,
  tasks; at most three requests per row), so no planted request `tools.indirect_eval` reports on
  (its `report` half is the `test` groups) was trained on;
- written for a person: the project's own `tools/semantic_data/written_for_people_train.jsonl` and the
  `tune` half of the installed distributions' READMEs (`tools.indirect_eval.benign_documents`).

A logistic regression on the MiniLM embedding (classes weighted to balance), seeded and
deterministic for the same data, cached vectors and library versions. The cut, `THRESHOLD`, and
the similarity to the rest of its document at which a request is kept whatever its voice,
`ON_TOPIC_SIMILARITY`, were chosen on the `tune` halves of `tools.indirect_eval` (docs/safety.md
gives the sweeps); the `report` halves were read once, with each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from platform_facts.project import STATE_DIR_NAME
from services.gateway.scanners.addressee import ADDRESSEE_PATH
from services.gateway.scanners.embedding import EMBEDDING_MAX_TOKENS, default_model_dir, weights_sha256
from services.gateway.scanners.reader_requests import reader_requests
from tools.indirect_eval import benign_documents
from tools.jsonl import jsonl_objects
from tools.semantic_train import cached_embeddings, load_train_rows, split_of_row, write_manifest

__all__ = ["main", "requests_for_a_model", "requests_for_a_person"]

WRITTEN_FOR_PEOPLE = Path(__file__).parent / "semantic_data" / "written_for_people_train.jsonl"
REQUESTS_PER_PROMPT = 3  # a jailbreak template asks many times; its first requests carry its voice
MAX_REQUEST_CHARS = 400
THRESHOLD = 0.2
"""Cut a request when the head gives it at least this probability of being a task for a model ..."""
ON_TOPIC_SIMILARITY = 0.25
"""... and its cosine to the rest of the document (without the requests in doubt) is below this."""
REGULARISATION_C = 3.0


def _requests(text: str, limit: int | None = None) -> list[str]:
    found = [text[start:end] for start, end in reader_requests(text)]
    return [request for request in found[:limit] if len(request) < MAX_REQUEST_CHARS]


def requests_for_a_model(train_data: Path) -> list[str]:
    found = {
        request
        for row in load_train_rows(train_data)
        if split_of_row(row) == "train"
        for request in _requests(row.text, REQUESTS_PER_PROMPT)
    }
    return sorted(found)


def requests_for_a_person(documents_path: Path = WRITTEN_FOR_PEOPLE) -> list[str]:
    documents = [str(row["text"]) for _, row in jsonl_objects(documents_path)] + benign_documents("tune")
    return sorted({request for document in documents for request in _requests(document)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="train-safety directory")
    parser.add_argument("--cache", type=Path, default=Path(STATE_DIR_NAME) / "cache", help="request embeddings cache")
    parser.add_argument("--out", type=Path, default=ADDRESSEE_PATH)
    args = parser.parse_args(argv)

    for_a_model, for_a_person = requests_for_a_model(args.data), requests_for_a_person()
    print(f"requests: {len(for_a_model)} written for a model, {len(for_a_person)} for a person", file=sys.stderr)
    model_dir = default_model_dir()
    model_sha = weights_sha256(model_dir)
    vectors = cached_embeddings(for_a_model + for_a_person, args.cache, model_dir, model_sha)
    labels = np.array([1] * len(for_a_model) + [0] * len(for_a_person))
    weights = np.where(labels == 1, len(for_a_person) / len(for_a_model), 1.0)
    fitted = LogisticRegression(C=REGULARISATION_C, max_iter=2000).fit(vectors, labels, sample_weight=weights)

    scores = fitted.predict_proba(vectors)[:, 1]
    document = {
        "version": f"request-addressee-{model_sha[:12]}",
        "embedder": {"weights_sha256": model_sha, "max_tokens": EMBEDDING_MAX_TOKENS},
        "threshold": THRESHOLD,
        "on_topic_similarity": ON_TOPIC_SIMILARITY,
        "head": {
            "weights": [round(float(weight), 7) for weight in fitted.coef_[0]],
            "bias": round(float(fitted.intercept_[0]), 7),
        },
        "training": {
            "requests_for_a_model": len(for_a_model),
            "requests_for_a_person": len(for_a_person),
            "regularisation_c": REGULARISATION_C,
            # In-sample only, a sanity check: the figures that count are tools.indirect_eval's report halves.
            "in_sample_for_a_model_cut": round(float((scores[labels == 1] >= THRESHOLD).mean()), 4),
            "in_sample_for_a_person_cut": round(float((scores[labels == 0] >= THRESHOLD).mean()), 4),
        },
    }
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    write_manifest([args.out])
    print(f"wrote {args.out}: {json.dumps(document['training'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
