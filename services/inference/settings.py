"""Typed `args` of the Serve application (`applications[].args` in services/config/serve-<env>.yaml).

Only pydantic here: the infra-only install validates the config files without Ray or torch.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AppArgs",
    "BatchingSettings",
    "EmbedderSettings",
    "ExtractiveSettings",
    "GatewaySettings",
    "GeneratorSettings",
    "IndexSettings",
    "ModelSource",
    "RetrieverSettings",
    "UpstreamSettings",
]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSource(_Settings):
    """Where a model's files come from and the checksum they must match."""

    uri: str = Field(min_length=1)
    """A local directory, `s3://bucket/prefix` (downloaded with boto3 into the cache), or
    `pkg:<python package>` for a model shipped inside a wheel that exposes `get_model_path()`."""
    sha256: str | None = None
    """sha256 of the model directory manifest (`python -m services.inference.model_store checksum DIR`).
    Required for `s3://` sources; when set for other sources it is verified too."""

    @model_validator(mode="after")
    def _checksum_rules(self) -> ModelSource:
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise ValueError("sha256: must be 64 lowercase hex characters")
        if self.uri.startswith("s3://") and self.sha256 is None:
            raise ValueError("sha256: required for s3:// model sources (downloads are verified)")
        return self


class EmbedderSettings(_Settings):
    """The sentence-embedding model behind `/v1/embeddings` and the retriever."""

    model_name: str = Field(min_length=1)
    """Name clients pass as `model` and `/v1/models` lists."""
    source: ModelSource
    """The sentence-transformers model directory."""
    device: str = "cpu"
    """torch device for the model (`cpu`, `cuda`)."""
    trace: bool = True
    """Run the model as one TorchScript graph per batch instead of eager PyTorch (checked against
    eager at load; falls back to eager with a warning when the model cannot be traced). Measured
    in docs/serving.md: the traced model barely slows down beside a busy event loop."""
    in_ingress: bool = False
    """Also load the model in each Ingress replica and answer `/v1/embeddings` there, batched,
    instead of one more replica hop to the Embedder deployment (which still serves the
    Retriever). Costs one model copy per Ingress replica; see docs/serving.md for what it buys."""


class BatchingSettings(_Settings):
    """The embedder's batching and threading tunables: its deployment's `user_config`, applied live
    by Serve's `reconfigure` (the Embedder's, and the Ingress's when it embeds itself)."""

    max_batch_size: int = Field(default=64, ge=1)
    """Requests' texts per `@serve.batch` batch; a request with at least this many texts is a batch on its own."""
    batch_wait_timeout_s: float = Field(default=0.005, ge=0)
    """How long a batch waits to fill before it is closed."""
    max_merged_batch_size: int = Field(default=64, ge=0)
    """Closed batches waiting behind a busy model are merged into one call of up to this many
    texts; 0 means no merging (one call per batch)."""
    torch_threads: int = Field(default=1, ge=1)
    """torch threads for request batches."""
    bulk_torch_threads: int | None = Field(default=None, ge=1)
    """torch threads for corpus-sized batches (indexing); default: `torch_threads`."""


class IndexSettings(_Settings):
    """Where the versioned passage index lives (LanceDB, written by `make ingest`; docs/data.md)."""

    uri: str = Field(min_length=1)
    """A directory (relative: under the local state dir, `RAMPART_LOCAL_STATE_DIR`) or `s3://bucket/prefix`."""
    table: str = Field(default="docs", pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    """The passages table inside it."""
    version: int | None = Field(default=None, ge=1)
    """The table version to serve, pinned; null: follow the store's serving pin (set by `ingest`
    and `rollback`), re-read every `refresh_s`."""
    refresh_s: float = Field(default=5.0, gt=0)
    """How often an unpinned replica checks the serving pin; a switch never drops a request."""


class RetrieverSettings(_Settings):
    """The document index behind `/v1/rag/query` and the extractive answerer."""

    corpus: list[str] = Field(min_length=1)
    """What `/v1/rag/reindex` (and the first start, with `bootstrap`) ingests: directories, files or
    `s3://` prefixes; relative paths are resolved against the project root."""
    chunk_chars: int = Field(default=800, ge=100, le=8000)
    """Target size of one passage in characters; chunks break at headings and paragraphs."""
    index: IndexSettings
    """The index served."""
    bootstrap: bool = False
    """Ingest `corpus` at start when the index holds no version yet (the local default); otherwise
    a missing index is an error at start."""
    secrets: Literal["quarantine", "redact"] = "quarantine"
    """Ingestion by this retriever: a document carrying a credential is quarantined or redacted."""
    pii: Literal["quarantine", "redact", "keep"] = "redact"
    """Ingestion by this retriever: a document carrying personal data."""


class ExtractiveSettings(_Settings):
    """The grounded answerer: answers only with retrieved passages."""

    passages: int = Field(default=3, ge=1, le=10)
    """How many passages to retrieve per question."""
    min_score: float = Field(default=0.35, ge=-1.0, le=1.0)
    """Cosine similarity below which a passage counts as not relevant."""


class UpstreamSettings(_Settings):
    """An OpenAI-compatible server (vLLM in production) the generator forwards to."""

    base_url: str = Field(pattern=r"^https?://")
    """Base URL including `/v1`, e.g. `http://vllm.serving.svc:8000/v1`."""
    model: str = Field(min_length=1)
    """Model name to request upstream."""
    connect_timeout_s: float = Field(default=2.0, gt=0)
    """Seconds to establish the connection."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Seconds to wait for the upstream between bytes (read/write/pool)."""
    api_key_env: str | None = None
    """Environment variable holding the upstream API key, if it needs one."""


class GeneratorSettings(_Settings):
    """The chat-completion engine."""

    engine: Literal["extractive", "transformers", "openai"]
    """`extractive` (grounded answers from the retriever), `transformers` (a local Hugging Face
    causal LM directory) or `openai` (an upstream OpenAI-compatible server)."""
    model_name: str = Field(min_length=1)
    """Name clients pass as `model` and `/v1/models` lists."""
    source: ModelSource | None = None
    """Model directory for the `transformers` engine."""
    device: str = "cpu"
    """torch device for the `transformers` engine."""
    max_new_tokens: int = Field(default=128, ge=1, le=8192)
    """Default and ceiling for `max_tokens` with the `transformers` engine."""
    max_batch_size: int = Field(default=32, ge=1, le=1024)
    """`transformers` engine: requests decoded together in one step (continuous batching). Memory
    grows with it (one KV cache row per request); throughput too, until the device is busy."""
    max_queue: int = Field(default=32, ge=0)
    """`transformers` engine: requests waiting for a batch slot. When every slot and queue place is
    taken, a request is answered 503 with `Retry-After` instead of waiting without bound. The
    Generator deployment's `max_ongoing_requests` should be at least `max_batch_size + max_queue`,
    or Serve queues the excess before the engine can refuse it."""
    retry_after_s: float = Field(default=1.0, gt=0)
    """`transformers` engine: the `Retry-After` a refused request is given (rounded up to whole seconds)."""
    extractive: ExtractiveSettings = ExtractiveSettings()
    """Settings of the `extractive` engine."""
    upstream: UpstreamSettings | None = None
    """Settings of the `openai` engine."""

    @model_validator(mode="before")
    @classmethod
    def _renamed_backend_key(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "backend" in raw:
            raise ValueError("backend: renamed to 'engine' (docs/serving.md, 'Config keys renamed')")
        return raw

    @model_validator(mode="after")
    def _engine_needs(self) -> GeneratorSettings:
        if self.engine == "transformers" and self.source is None:
            raise ValueError("source: required when engine is 'transformers'")
        if self.engine == "openai" and self.upstream is None:
            raise ValueError("upstream: required when engine is 'openai'")
        return self


class GatewaySettings(_Settings):
    """How the serving layer constructs the safety gateway (`gateway:` in the app args)."""

    env: str
    """Environment name: the gateway reads services/config/gateway-<env>.yaml."""
    config_path: str | None = None
    """An explicit config file instead (tests)."""
    state_dir: str | None = None
    """Audit log and review queue directory (default: $RAMPART_STATE_DIR or .rampart/<env>)."""


class AppArgs(_Settings):
    """Everything the application builder needs besides the deployment options."""

    embedder: EmbedderSettings
    retriever: RetrieverSettings
    generator: GeneratorSettings
    additional_generators: list[GeneratorSettings] = []
    """Further chat models served side by side with `generator` (canary candidates, shadow copies),
    each in a deployment of its own named `Generator-<model_name>` (the name its `deployments:`
    entry uses). Requests reach one by its `model_name`."""
    gateway: GatewaySettings | None = None
    """The safety gateway in front of the models; `None` serves without it."""

    @property
    def generators(self) -> list[GeneratorSettings]:
        """Every chat model served, `generator` first."""
        return [self.generator, *self.additional_generators]

    @model_validator(mode="after")
    def _model_names_are_unique(self) -> AppArgs:
        names = [self.embedder.model_name, *(generator.model_name for generator in self.generators)]
        if duplicates := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"model_name: {', '.join(duplicates)} is served twice; every model needs its own name")
        return self
