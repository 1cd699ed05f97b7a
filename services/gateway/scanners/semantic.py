"""Semantic scoring: small heads on the shared MiniLM embedding, opened by a lexical pre-check.

Three heads read the same vector: `attack` and `attack_context` (jailbreaks, prompt injection
and prompt extraction against benign prompts) and `harmful` (plainly harmful requests against
benign ones). `attack` and `harmful` are logistic regressions; `attack_context` also weighs named
lexical signals beside the vector (the lexical injection score, the attack patterns, the gate's
probability) through one hidden layer: the embedding alone tells role-play attacks from benign
role-play poorly, the words alone miss new phrasings, and together they hold up on attack
families neither saw. Every head is Platt-calibrated on out-of-fold scores of a group-wise
cross-validation, with the tuned threshold folded into its bias so that a score of 0.5 is the
tuned cut (as for the lexical models).

Embedding a 1 KB text costs tens of milliseconds on one core; most prompts are plainly
harmless. The `gate` (a hashed n-gram model trained on the same data for recall, not
precision) decides which texts are worth a vector: below its cut the heads are not consulted.
Everything here is loaded from `models/`, trained by `tools/semantic_train.py`, and checked
against `models/MANIFEST.sha256` before use.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import numpy as np
import numpy.typing as npt

from services.gateway.scanners.base import Stage, Verdict
from services.gateway.scanners.embedding import PromptEmbedder, Vector, default_model_dir, load_embedder
from services.gateway.scanners.textmodel import LinearTextModel, features

__all__ = [
    "MODELS_DIR",
    "SEMANTIC_MODEL_PATH",
    "ArtifactChecksumError",
    "ContextScanner",
    "Head",
    "HiddenLayerHead",
    "LinearHead",
    "MissingSignalError",
    "SemanticModels",
    "TextContext",
    "decode_array",
    "encode_array",
    "head_from_document",
    "load_semantic_models",
    "verify_artifact",
]

MODELS_DIR = Path(__file__).parent / "models"
SEMANTIC_MODEL_PATH = MODELS_DIR / "semantic_heads.json"
MANIFEST_PATH = MODELS_DIR / "MANIFEST.sha256"

T = TypeVar("T")

MIN_WORDS_FOR_A_HEAD = 3
"""Shorter texts are left to the lexical model: an embedding of one or two words says nothing about intent."""
_WORD = re.compile(r"\w+")


class ArtifactChecksumError(RuntimeError):
    """A model file does not match the checksum the training run recorded for it."""


def verify_artifact(path: Path, manifest: Path = MANIFEST_PATH) -> None:
    """Refuse a model file whose sha256 differs from its line in the manifest."""
    expected = {
        name: digest for digest, name in (line.split(maxsplit=1) for line in manifest.read_text().splitlines() if line)
    }
    if path.name not in expected:
        raise ArtifactChecksumError(f"{path.name}: not listed in {manifest.name}")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected[path.name]:
        raise ArtifactChecksumError(
            f"{path.name}: sha256 {actual} does not match {manifest.name} ({expected[path.name]})"
        )


class MissingSignalError(ValueError):
    """A head was asked to score without a lexical signal it was trained with."""


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _ordered_signals(names: Sequence[str], signals: Mapping[str, float] | None) -> list[float]:
    given = signals or {}
    missing = sorted(set(names) - set(given))
    if missing:
        raise MissingSignalError(f"head needs the signals {', '.join(missing)}")
    return [given[name] for name in names]


class Head(Protocol):
    """A calibrated probability that the text is what the head was trained to find; 0.5 is the tuned threshold."""

    @property
    def signal_names(self) -> tuple[str, ...]: ...

    def score(self, vector: Vector, signals: Mapping[str, float] | None = None) -> float: ...


@dataclass(frozen=True)
class LinearHead:
    """sigmoid(weights · embedding + Σ signal_weights[name] · signals[name] + bias)."""

    weights: npt.NDArray[np.float32]
    bias: float
    signal_weights: Mapping[str, float] = field(default_factory=dict)

    @property
    def signal_names(self) -> tuple[str, ...]:
        return tuple(self.signal_weights)

    def score(self, vector: Vector, signals: Mapping[str, float] | None = None) -> float:
        z = float(self.weights @ vector) + self.bias
        if self.signal_weights:
            values = _ordered_signals(self.signal_names, signals)
            z += sum(weight * value for weight, value in zip(self.signal_weights.values(), values, strict=True))
        return _sigmoid(z)


@dataclass(frozen=True)
class HiddenLayerMember:
    """One small network: sigmoid(output · relu(hidden · inputs + hidden_bias) + output_bias)."""

    hidden: npt.NDArray[np.float32]  # (inputs, units)
    hidden_bias: npt.NDArray[np.float32]
    output: npt.NDArray[np.float32]  # (units,)
    output_bias: float

    def probability(self, inputs: npt.NDArray[np.float32]) -> float:
        units = np.maximum(inputs @ self.hidden + self.hidden_bias, 0.0)
        return _sigmoid(float(units @ self.output) + self.output_bias)


@dataclass(frozen=True)
class HiddenLayerHead:
    """The mean probability of a few one-hidden-layer networks (one per seed) over the embedding and
    the named lexical signals, Platt-calibrated: sigmoid(scale · logit(mean) + bias). A hidden layer
    lets the head weigh the words against the vector (a role-play frame is an attack when the words
    also steer the model, not on its own), which one linear layer cannot."""

    members: tuple[HiddenLayerMember, ...]
    signal_names: tuple[str, ...]
    scale: float
    bias: float

    def score(self, vector: Vector, signals: Mapping[str, float] | None = None) -> float:
        inputs = np.concatenate([vector, np.asarray(_ordered_signals(self.signal_names, signals), dtype=np.float32)])
        mean = sum(member.probability(inputs) for member in self.members) / len(self.members)
        mean = min(max(mean, 1e-9), 1 - 1e-9)
        return _sigmoid(self.scale * math.log(mean / (1 - mean)) + self.bias)


def encode_array(values: npt.NDArray[np.floating]) -> dict[str, object]:
    """A float16 array as JSON: its shape and little-endian bytes in base64 (a hidden layer as
    decimal lists would be megabytes; tests/gateway/scanners/test_semantic.py holds the served
    scores within 0.005 of scikit-learn's for the same networks)."""
    data = np.ascontiguousarray(values, dtype="<f2")
    return {"shape": list(data.shape), "float16_base64": base64.b64encode(data.tobytes()).decode()}


def decode_array(document: Mapping[str, object]) -> npt.NDArray[np.float32]:
    shape = tuple(int(n) for n in cast(list[int], document["shape"]))
    raw = base64.b64decode(cast(str, document["float16_base64"]))
    return np.frombuffer(raw, dtype="<f2").reshape(shape).astype(np.float32)


def head_from_document(document: Mapping[str, Any]) -> Head:
    """A head as `tools/semantic_train.py` stores it: `members` for a hidden-layer head, else `weights`."""
    if "members" in document:
        return HiddenLayerHead(
            tuple(
                HiddenLayerMember(
                    decode_array(member["hidden"]),
                    decode_array(member["hidden_bias"]),
                    decode_array(member["output"]),
                    float(member["output_bias"]),
                )
                for member in document["members"]
            ),
            tuple(document.get("signals", ())),
            float(document["scale"]),
            float(document["bias"]),
        )
    return LinearHead(
        np.asarray(document["weights"], dtype=np.float32),
        float(document["bias"]),
        {signal: float(weight) for signal, weight in document.get("signal_weights", {}).items()},
    )


@dataclass(frozen=True)
class SemanticModels:
    heads: dict[str, Head]
    gate: LinearTextModel
    embedder_sha256: str
    version: str
    model_dir: Path

    def embedder(self) -> PromptEmbedder:
        return load_embedder(self.model_dir, self.embedder_sha256)

    def gate_probability(self, context: TextContext) -> float:
        return context.shared("gate", lambda: self.gate.probability(features(context.text)))

    def gate_open(self, context: TextContext) -> bool:
        """Whether the lexical pre-check finds the text risky enough to be worth a vector."""
        return self.gate_probability(context) >= 0.5

    def embedding(self, context: TextContext) -> Vector:
        return context.shared("embedding", lambda: self.embedder().embed(context.text))

    def head_score(self, head: str, context: TextContext, signals: Mapping[str, float] | None = None) -> float:
        """The head's probability; 0 for a text of fewer than `MIN_WORDS_FOR_A_HEAD` words, whose
        embedding carries too little meaning to judge (a one-word input scored as an attack).
        `signals` are the lexical values the head was trained with (its signal names)."""
        if len(_WORD.findall(context.text)) < MIN_WORDS_FOR_A_HEAD:
            return 0.0
        return self.heads[head].score(self.embedding(context), signals)


@functools.cache
def load_semantic_models(path: Path = SEMANTIC_MODEL_PATH) -> SemanticModels:
    """The heads and the gate, verified against the manifest (once per process)."""
    verify_artifact(path)
    document = json.loads(path.read_text())
    gate_path = path.parent / document["gate"]["file"]
    verify_artifact(gate_path)
    heads = {name: head_from_document(head) for name, head in document["heads"].items()}
    return SemanticModels(
        heads=heads,
        gate=LinearTextModel.load(gate_path),
        embedder_sha256=document["embedder"]["weights_sha256"],
        version=document["version"],
        model_dir=default_model_dir(),
    )


class TextContext:
    """What every scanner of one text shares: costly values (the gate score, the embedding)
    computed at most once, whichever scanner asks first. The pipeline hands the embedding on
    to drift monitoring, so a request is embedded once for both."""

    def __init__(self, text: str, *, third_party: bool = False) -> None:
        self.text = text
        self.third_party = third_party
        """Whether the text is third-party content (a tool result), not a prompt the client wrote."""
        self._values: dict[str, object] = {}

    def shared(self, key: str, compute: Callable[[], T]) -> T:
        if key not in self._values:
            self._values[key] = compute()
        return cast(T, self._values[key])

    @property
    def embedding(self) -> Vector | None:
        value = self._values.get("embedding")
        return cast(Vector, value) if value is not None else None


@runtime_checkable
class ContextScanner(Protocol):
    """A scanner that can share derived values with the others that look at the same text."""

    name: str
    stage: Stage

    def scan(self, text: str) -> Verdict: ...

    def scan_in(self, context: TextContext) -> Verdict: ...
