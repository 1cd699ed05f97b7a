"""Tenants' API keys, stored only as SHA-256 hashes with their scopes.

A key is 32 random bytes (urlsafe base64, prefix `rk-`): with that much entropy a plain SHA-256 is
the right hash (no salt or slow KDF needed: there is nothing to brute-force), and it makes the
check one dict lookup. Key sets come from a YAML file (local) or one AWS Secrets Manager secret
holding the same structure as JSON (cloud). Plaintext keys are never stored or logged.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.gateway.config import CONFIG_DIR, KeySourceConfig, Scope, format_validation_error
from services.gateway.errors import AuthenticationError, ConfigError, ScopeError
from services.gateway.scanners.key_checksum import api_key_checksum, api_key_checksum_ok

__all__ = [
    "LOCAL_DEV_KEY",
    "ApiKey",
    "KeyRecord",
    "KeySet",
    "KeyStore",
    "api_key_checksum",
    "api_key_checksum_ok",
    "generate_api_key",
    "hash_api_key",
    "load_key_store",
    "local_api_key",
    "parse_key_set",
    "write_key_file",
]

# Dev-only key for `make up` on 127.0.0.1; only its hash is in tenants-local.yaml, and only the
# local environment reads that file (cloud environments load keys from Secrets Manager).
LOCAL_DEV_KEY = "rk-local-dev-only-not-a-secret-0000000000000"


def local_api_key() -> str:
    """The API key `make up` prints: valid only against the local environment's key file."""
    return LOCAL_DEV_KEY


def generate_api_key() -> str:
    """A new key to hand to a tenant; store only `hash_api_key(key)`.

    `rk-`, 43 random characters (32 bytes, urlsafe base64) and a 6-character checksum of them, so
    a scanner can tell a leaked Rampart key from random text offline (`api_key_checksum_ok`).
    Keys made before the checksum (`rk-` + 43 characters) still authenticate: the store only
    compares hashes. To migrate, issue checksummed keys and retire the old ones as they rotate.
    """
    body = secrets.token_urlsafe(32)
    return f"rk-{body}{api_key_checksum(body)}"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRecord(BaseModel):
    """One key as stored: its hash, owner, and what it may do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    """A name for the key that is safe to log and audit (never the key)."""
    tenant: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """Hex SHA-256 of the key."""
    scopes: tuple[Scope, ...]
    """Which routes the key may call."""
    models: tuple[str, ...] = ("*",)
    """Which public models the key may use (`*`: all)."""

    @field_validator("scopes")
    @classmethod
    def _not_empty(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        if not scopes:
            raise ValueError("a key needs at least one scope")
        return scopes


class KeySet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: tuple[KeyRecord, ...]


@dataclass(frozen=True)
class ApiKey:
    """An authenticated caller."""

    id: str
    tenant: str
    scopes: frozenset[str]
    models: frozenset[str]

    def require_scope(self, scope: str, what: str) -> None:
        if scope not in self.scopes:
            raise ScopeError(
                f"API key {self.id!r} lacks scope {scope!r} needed for {what}",
                required_scope=scope,
                key_id=self.id,
            )

    def require_model(self, model: str) -> None:
        if "*" not in self.models and model not in self.models:
            raise ScopeError(
                f"API key {self.id!r} may not use model {model!r}",
                required_model=model,
                key_id=self.id,
            )


class KeyStore:
    """Hash → key lookup. `authenticate` is O(1)."""

    def __init__(self, records: Iterable[KeyRecord], tenants: Iterable[str]) -> None:
        known_tenants = set(tenants)
        by_hash: dict[str, ApiKey] = {}
        for index, record in enumerate(records):
            if record.tenant not in known_tenants:
                raise ConfigError(f"keys.{index}.tenant: unknown tenant {record.tenant!r}")
            if record.sha256 in by_hash:
                raise ConfigError(f"keys.{index}.sha256: the same key is listed twice")
            by_hash[record.sha256] = ApiKey(
                record.id, record.tenant, frozenset(record.scopes), frozenset(record.models)
            )
        self._by_hash = by_hash

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, headers: Mapping[str, str]) -> ApiKey:
        """Find the caller from `Authorization: Bearer <key>` or `X-API-Key`; raise 401 if unknown."""
        presented = _presented_key(headers)
        if presented is None:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                reason="missing_key",
            )
        # The lookup is keyed by the key's hash, so its timing reveals nothing about valid keys.
        key = self._by_hash.get(hash_api_key(presented))
        if key is None:
            raise AuthenticationError("invalid API key", reason="invalid_key")
        return key


def _presented_key(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""  # present but malformed: treated as invalid, not missing
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


def parse_key_set(source: str, raw: Any) -> KeySet:
    try:
        return KeySet.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(source, error)) from None


def load_key_store(config: KeySourceConfig, tenants: Iterable[str], secrets_client: Any = None) -> KeyStore:
    """Load the key set named by the config: a YAML file, or a Secrets Manager secret (boto3)."""
    if config.source == "file":
        assert config.path is not None
        path = CONFIG_DIR / config.path
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"keys.path: no such key file {path}") from None
        return KeyStore(parse_key_set(path.name, raw).keys, tenants)
    client = secrets_client or _secrets_manager_client(config.region)
    try:
        secret = client.get_secret_value(SecretId=config.secret_id)
    except Exception as error:
        raise ConfigError(f"keys.secret_id: cannot read secret {config.secret_id!r}: {error}") from None
    try:
        raw = json.loads(secret["SecretString"])
    except (KeyError, json.JSONDecodeError) as error:
        raise ConfigError(f"keys.secret_id: secret {config.secret_id!r} is not a JSON key set: {error}") from None
    return KeyStore(parse_key_set(f"secret {config.secret_id}", raw).keys, tenants)


def _secrets_manager_client(region: str | None) -> Any:
    import boto3

    return boto3.client("secretsmanager", region_name=region)


def write_key_file(path: Path, records: Iterable[KeyRecord]) -> None:
    """Write a key set as YAML (used to provision the local file; never holds plaintext)."""
    data = {"keys": [record.model_dump(mode="json") for record in records]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
