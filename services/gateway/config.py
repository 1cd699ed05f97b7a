"""Typed gateway configuration: `services/config/gateway-<env>.yaml`, one file per environment.

Environments differ only in data. Every error names the dotted field that is wrong
(`ConfigError("gateway-prod.yaml: routes.chat.versions.0.model_version: unknown model version 'x'")`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from platform_facts.project import STATE_DIR_NAME, env_var
from services.config.render import placeholders
from services.data.metadata import TenantName
from services.gateway.errors import ConfigError
from services.gateway.promotion_config import PromotionConfig
from services.gateway.scanners import ScannersConfig
from services.gateway.state_config import StateConfig
from services.telemetry import TracingConfig

__all__ = [
    "CONFIG_DIR",
    "AuditConfig",
    "AuditUploadConfig",
    "BreakerConfig",
    "DriftConfig",
    "GatewayConfig",
    "KeySourceConfig",
    "LimitsConfig",
    "ModelVersionConfig",
    "QuotaConfig",
    "RouteConfig",
    "ShadowConfig",
    "TenantConfig",
    "TracingConfig",
    "WeightedVersion",
    "config_path",
    "format_validation_error",
    "load_gateway_config",
    "load_scanners_config",
    "parse_gateway_config",
    "path_matches",
    "state_dir_for",
]

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
REPO_ROOT = Path(__file__).resolve().parents[2]

# What a key may be allowed to do. Routes name the scope they need.
Scope = Literal["chat", "embeddings", "rag", "models", "review:read", "review:write", "admin"]

# A route's kind says how the gateway reads its body (which texts to scan, where the answer is).
RouteKind = Literal["chat", "embeddings", "texts", "rag", "passthrough"]


# Keys renamed in 0.2 ("backend" meant three things; in the gateway it is a model version).
_RENAMED_KEYS = {"backends": "model_versions", "backend": "model_version"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_renamed_keys(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            for old, new in _RENAMED_KEYS.items():
                if old in raw:
                    raise ValueError(f"{old}: renamed to {new!r} (docs/safety.md, 'Config keys renamed')")
        return raw


class KeySourceConfig(_Strict):
    """Where the tenants' API key hashes come from."""

    source: Literal["file", "secrets_manager"]
    """`file` (local: a YAML next to this config) or `secrets_manager` (cloud: one JSON secret)."""
    path: str | None = None
    """For `file`: the key file, relative to services/config/."""
    secret_id: str | None = None
    """For `secrets_manager`: the secret's name or ARN."""
    region: str | None = None
    """For `secrets_manager`: the AWS region (default: the SDK's)."""

    @model_validator(mode="after")
    def _source_has_its_field(self) -> KeySourceConfig:
        if self.source == "file" and not self.path:
            raise ValueError("path: required when source is 'file'")
        if self.source == "secrets_manager" and not self.secret_id:
            raise ValueError("secret_id: required when source is 'secrets_manager'")
        return self


class TenantConfig(_Strict):
    """One tenant's data class and limits."""

    data_class: Literal["standard", "regulated"] = "standard"
    """`regulated` tenants are served only by on-prem model versions, never the cloud."""
    requests_per_minute: int = Field(gt=0)
    """Requests per minute across all replicas (token bucket; bursts up to one minute's worth)."""
    tokens_per_minute: int = Field(gt=0)
    """Model tokens (prompt + completion) per minute across all replicas."""
    scanners: ScannersConfig | None = None
    """This tenant's scanners, replacing the environment's `scanners` (e.g. block PII instead of
    redacting it); `null` uses the environment's."""


class LimitsConfig(_Strict):
    """Request size limits, checked before anything else touches the body."""

    max_body_bytes: int = Field(default=1_048_576, gt=0)
    """Larger bodies get 413."""
    max_messages: int = Field(default=64, gt=0)
    """Chat requests with more messages get 422."""
    max_chars: int = Field(default=32_000, gt=0)
    """Requests whose texts add up to more characters get 422."""
    max_inputs: int = Field(default=256, gt=0)
    """Embedding requests with more inputs get 422."""


class QuotaConfig(_Strict):
    """How rate limits and token quotas are shared between gateway replicas."""

    ledger: Literal["process", "ray_actor"] = "ray_actor"
    """`ray_actor`: one named Ray actor holds every bucket (limits hold across replicas);
    `process`: buckets live in this process (single-process runs and unit tests)."""
    lease_size: int = Field(default=8, gt=0)
    """Request units a replica leases from the ledger at once (one actor call per lease)."""
    lease_ttl_s: float = Field(default=2.0, gt=0)
    """Unused leased units lapse after this long, so an idle replica does not hoard capacity."""
    on_error: Literal["fail_closed", "fail_open"] = "fail_closed"
    """When the ledger cannot be reached: refuse (503) or admit and record."""


class BreakerConfig(_Strict):
    failures: int = Field(default=5, gt=0)
    """Consecutive failures that open the circuit."""
    reset_s: float = Field(default=10.0, gt=0)
    """How long an open circuit stays open before one trial request is let through."""


class ModelVersionConfig(_Strict):
    """A model version the gateway can send a request to."""

    model: str
    """The model id the serving layer knows it by (the `model` field sent to it)."""
    location: Literal["on_prem", "cloud"]
    """Where it runs. Regulated tenants only ever reach `on_prem`."""
    timeout_s: float = Field(default=30.0, gt=0)
    """Time to the response's first byte (streams: to the first event)."""
    retries: int = Field(default=1, ge=0)
    """Extra attempts on a failure before moving down the fallback chain."""
    hedge_after_s: float | None = Field(default=None, gt=0)
    """Unary calls: start the next attempt (one of `retries`) when the newest has not answered by then,
    leaving it running; the first answer wins. For idempotent calls whose replica can vanish mid-call
    (a lost node answers nothing until `timeout_s`). Streams are never hedged."""
    breaker: BreakerConfig = BreakerConfig()
    cost_per_1k_tokens: float = Field(default=0.0, ge=0)
    """Estimated cost in USD per 1000 tokens, for the per-tenant cost metric and audit."""

    @model_validator(mode="after")
    def _hedge_within_the_attempts(self) -> ModelVersionConfig:
        if self.hedge_after_s is None:
            return self
        if self.hedge_after_s >= self.timeout_s:
            raise ValueError(f"hedge_after_s: {self.hedge_after_s} is not shorter than timeout_s ({self.timeout_s})")
        if self.retries == 0:
            raise ValueError("hedge_after_s: a hedge is one of the retries, and retries is 0")
        return self


class WeightedVersion(_Strict):
    model_version: str
    weight: float = Field(gt=0)


class ShadowConfig(_Strict):
    model_version: str
    """The candidate that receives a copy of the traffic; its answers are recorded, never returned."""
    sample_rate: float = Field(default=1.0, gt=0, le=1)


class RouteConfig(_Strict):
    """One public endpoint: who may call it, and which model versions answer it."""

    path: str
    kind: RouteKind
    """How the body is read: `chat` (messages), `embeddings` (input), `texts` (BentoML `/embed`),
    `rag` (query), `passthrough` (not scanned, e.g. `GET /v1/models`)."""
    scope: Scope
    methods: tuple[str, ...] = ("POST",)
    public_model: str | None = None
    """The model name clients send (and `/v1/models` lists); the gateway picks the version."""
    versions: tuple[WeightedVersion, ...] = ()
    """Canary: weighted choice between model versions for this route."""
    fallback: tuple[str, ...] = ()
    """Tried in order when the chosen version fails: model version names, or `review` (human review queue)."""
    shadow: ShadowConfig | None = None

    @model_validator(mode="after")
    def _routed_kinds_have_versions(self) -> RouteConfig:
        if self.kind != "passthrough" and not self.versions:
            raise ValueError(f"versions: a {self.kind} route needs at least one version")
        if self.kind in ("chat", "embeddings") and not self.public_model:
            raise ValueError(f"public_model: a {self.kind} route needs the model name clients send")
        if "review" in self.fallback and self.kind != "chat":
            raise ValueError("fallback: 'review' answers chat requests only")
        if "review" in self.fallback and self.fallback[-1] != "review":
            raise ValueError("fallback: 'review' ends the chain; nothing can follow it")
        return self


class AuditUploadConfig(_Strict):
    bucket: str
    """The Object-Lock audit bucket."""
    prefix: str = "audit/"
    retention_days: int = Field(default=365, gt=0)
    mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    batch_records: int = Field(default=100, gt=0)
    """Upload once this many records are waiting..."""
    flush_interval_s: float = Field(default=60.0, gt=0)
    """...or once the oldest waiting record is this old (quiet replicas still upload)."""
    region: str | None = None


class AuditConfig(_Strict):
    upload: AuditUploadConfig | None = None
    """Where sealed audit segments go in the cloud; `null` keeps the log local only."""


class DriftConfig(_Strict):
    baseline: str | None = None
    """JSON file (relative to services/config/) with `mean_length` and `centroids` (space → vector,
    services/gateway/drift.py); when absent, or for a space it does not name, the first `warmup`
    inputs become the baseline."""
    warmup: int = Field(default=200, gt=0)
    window: int = Field(default=500, gt=0)
    """The current statistics are an exponential average over about this many inputs."""


class GatewayConfig(_Strict):
    """The whole gateway configuration of one environment."""

    environment: str
    keys: KeySourceConfig
    tenants: dict[TenantName, TenantConfig]
    """By name: letters, digits, '_', '.' or '-' (the retriever filters passages on it)."""
    limits: LimitsConfig = LimitsConfig()
    quotas: QuotaConfig = QuotaConfig()
    model_versions: dict[str, ModelVersionConfig]
    routes: dict[str, RouteConfig]
    public_paths: tuple[str, ...] = ()
    """Paths served without a key (health and readiness only)."""
    audit: AuditConfig = AuditConfig()
    scanners: ScannersConfig = ScannersConfig()
    drift: DriftConfig = DriftConfig()
    reload_check_s: float = Field(default=1.0, gt=0)
    """How often a replica looks at its config file's modification time (promote/rollback)."""
    state: StateConfig = StateConfig()
    """The store every replica shares (review queue, feedback, shadow comparisons, promotion state)."""
    promotion: PromotionConfig = PromotionConfig()
    """How the promotion controller moves a candidate version through its steps (promotion.py)."""
    tracing: TracingConfig = TracingConfig()
    """OpenTelemetry spans to the collector (`enabled`, `endpoint`, `capture_content`, `sample_ratio`):
    off by default; prompt and answer text only with `capture_content` (docs/observability.md, "Traces")."""

    @model_validator(mode="after")
    def _references_resolve(self) -> GatewayConfig:
        for route_name, route in self.routes.items():
            for index, version in enumerate(route.versions):
                if version.model_version not in self.model_versions:
                    raise ValueError(
                        f"routes.{route_name}.versions.{index}.model_version: "
                        f"unknown model version {version.model_version!r}"
                    )
            for index, name in enumerate(route.fallback):
                if name != "review" and name not in self.model_versions:
                    raise ValueError(f"routes.{route_name}.fallback.{index}: unknown model version {name!r}")
            if route.shadow and route.shadow.model_version not in self.model_versions:
                raise ValueError(
                    f"routes.{route_name}.shadow.model_version: "
                    f"unknown model version {route.shadow.model_version!r}"
                )
        paths = [route.path for route in self.routes.values()]
        duplicates = {path for path in paths if paths.count(path) > 1}
        if duplicates:
            raise ValueError(f"routes: path {min(duplicates)!r} is used by more than one route")
        return self

    def route_for(self, path: str) -> RouteConfig | None:
        for route in self.routes.values():
            if path_matches(route.path, path):
                return route
        return None


def path_matches(pattern: str, path: str) -> bool:
    """`/v1/review/items/{id}/approve` matches `/v1/review/items/42/approve`."""
    pattern_parts = pattern.rstrip("/").split("/")
    path_parts = path.rstrip("/").split("/")
    if len(pattern_parts) != len(path_parts):
        return False
    return all(
        expected == actual or (expected.startswith("{") and expected.endswith("}") and actual)
        for expected, actual in zip(pattern_parts, path_parts, strict=True)
    )


def format_validation_error(source: str, error: ValidationError, within: str = "") -> str:
    """One line per problem: `source: dotted.field: message` (`within` prefixes the dotted path
    when the model validated is one section of the file)."""
    lines = []
    for problem in error.errors():
        dotted = ".".join(str(part) for part in (within, *problem["loc"]) if part != "")
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {dotted}: {message}" if dotted else f"{source}: {message}")
    return "\n".join(lines)


def config_path(env: str) -> Path:
    return CONFIG_DIR / f"gateway-{env}.yaml"


def load_gateway_config(env_or_path: str | Path) -> GatewayConfig:
    """Load and validate `gateway-<env>.yaml` (or an explicit path); raises ConfigError."""
    path, raw = _gateway_document(env_or_path)
    return parse_gateway_config(raw, path.name)


def load_scanners_config(env_or_path: str | Path) -> ScannersConfig:
    """Only the `scanners:` section of `gateway-<env>.yaml` (or an explicit path); raises ConfigError.

    Evaluation tools and tests build production's scanners from the committed gateway-prod.yaml,
    which `load_gateway_config` refuses until a stack fills its `${...}` placeholders (keys, URLs);
    the scanners section holds none. A file without the section gets the default scanners.
    """
    path, raw = _gateway_document(env_or_path)
    try:
        return ScannersConfig.model_validate(raw.get("scanners") or {})
    except ValidationError as error:
        raise ConfigError(format_validation_error(path.name, error, within="scanners")) from None


def _gateway_document(env_or_path: str | Path) -> tuple[Path, dict[str, Any]]:
    path = Path(env_or_path) if str(env_or_path).endswith((".yaml", ".yml")) else config_path(str(env_or_path))
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such gateway config") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: must be a mapping at the top level")
    return path, raw


def parse_gateway_config(raw: dict[str, Any], source: str) -> GatewayConfig:
    """Validate a parsed gateway config document; `source` names it in errors.

    A cloud file still holding `${...}` placeholders is refused: only the copy the stack rendered
    with its outputs (services/config/render.py) names real buckets and secrets.
    """
    if unfilled := sorted(placeholders(raw)):
        names = ", ".join(f"${{{name}}}" for name in unfilled)
        raise ConfigError(
            f"{source}: {names} not filled in: the stack renders this file with its outputs before a gateway "
            "loads it (services/config/render.py)"
        )
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(source, error)) from None


def state_dir_for(env: str) -> Path:
    """Where the audit log and review queue live: `$RAMPART_STATE_DIR`, else `.rampart/<env>`."""
    configured = os.environ.get(env_var("STATE_DIR"))
    return Path(configured) if configured else REPO_ROOT / STATE_DIR_NAME / env
