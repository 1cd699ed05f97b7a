"""Who a request in third-party content was written for: a person reading the document, or a model.

`indirect_injection` cuts the requests its rules cannot anchor in their document, and e-mails ask
their readers for plenty that shares no words with the rest ("Also, can you recommend a good
plumber?"). What tells such a request from a planted one is its voice: a task written for a model
reads like a prompt. A logistic head on the request's MiniLM embedding (`tools/addressee_train.py`:
prompts of train-safety's train split against requests in documents written for people) keeps the
requests it finds written for a person; the embedder is the one the semantic heads share, loaded
on the first request that needs a vector.
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
    embedder_sha256: str
    model_dir: Path

    def for_a_model(self, requests: list[str]) -> list[bool]:
        """Whether each request reads as a task written for a model (cut it), not a request to a
        person: one batch through the embedder (less what it holds already), however many a document asks."""
        vectors = load_embedder(self.model_dir, self.embedder_sha256).embed_all(requests)
        return [self.head.score(vector) >= self.threshold for vector in vectors]


@functools.cache
def load_request_addressee(path: Path = ADDRESSEE_PATH) -> RequestAddressee:
    """The head, verified against the models' manifest (once per process)."""
    verify_artifact(path)
    document = json.loads(path.read_text())
    head = head_from_document(document["head"])
    if not isinstance(head, LinearHead):
        raise ValueError(f"{path.name}: head: must be linear (weights and bias), not {type(head).__name__}")
    sha256 = document["embedder"]["weights_sha256"]
    return RequestAddressee(head, float(document["threshold"]), sha256, default_model_dir())
