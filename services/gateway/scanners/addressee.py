"""Who a request in third-party content was written for: a person reading the document, or a model.

`indirect_injection` cuts the requests its rules cannot anchor in their document, and e-mails ask
their readers for plenty that shares no words with the rest ("Also, can you recommend a good
plumber?"). Two things tell such a request from a planted one. Its voice: a task written for a
model reads like a prompt, and a logistic head on the request's MiniLM embedding
(`tools/addressee_train.py`: prompts of train-safety's train split against requests in documents
written for people) keeps the requests it finds written for a person. And its topic: a person's
request is about what the document is about even when it shares hardly a word with it ("Click the
button below to choose a new password." in a password-reset e-mail), where a planted one was
written for another page; a request whose embedding is close enough to the rest of the document's
is kept too. The embedder is the one the semantic heads share, loaded on the first request that
needs a vector.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from services.gateway.scanners.embedding import default_model_dir, load_embedder
from services.gateway.scanners.semantic import MODELS_DIR, LinearHead, head_from_document, verify_artifact

__all__ = ["ADDRESSEE_PATH", "RequestAddressee", "load_request_addressee"]

ADDRESSEE_PATH = MODELS_DIR / "request_addressee.json"


@dataclass(frozen=True)
class RequestAddressee:
    head: LinearHead
    threshold: float
    on_topic_similarity: float
    """Cosine between a request and the rest of its document at or above which the request is the document's own."""
    embedder_sha256: str
    model_dir: Path

    def for_a_model(self, requests: list[str], rest_of_document: str) -> list[bool]:
        """Whether each request reads as a task written for a model (cut it): the head finds it
        written for a model and it is off the topic of `rest_of_document` (the document without
        the requests in question). One batch through the embedder for the requests (less what it
        holds already), however many a document asks, and one vector more for the document only
        when the head would cut one."""
        embedder = load_embedder(self.model_dir, self.embedder_sha256)
        vectors = embedder.embed_all(requests)
        by_voice = [self.head.score(vector) >= self.threshold for vector in vectors]
        if not any(by_voice):
            return by_voice
        [document] = embedder.embed_all([rest_of_document])
        return [  # unit vectors: the dot product is the cosine
            cut and float(vector @ document) < self.on_topic_similarity
            for cut, vector in zip(by_voice, vectors, strict=True)
        ]


@functools.cache
def load_request_addressee(path: Path = ADDRESSEE_PATH) -> RequestAddressee:
    """The head, verified against the models' manifest (once per process)."""
    verify_artifact(path)
    document = json.loads(path.read_text())
    head = head_from_document(document["head"])
    if not isinstance(head, LinearHead):
        raise ValueError(f"{path.name}: head: must be linear (weights and bias), not {type(head).__name__}")
    sha256 = document["embedder"]["weights_sha256"]
    return RequestAddressee(
        head, float(document["threshold"]), float(document["on_topic_similarity"]), sha256, default_model_dir()
    )
