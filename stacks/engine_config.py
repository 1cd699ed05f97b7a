"""Config values as the Pulumi engine hands them to the program (also what the offline plan sets)."""

from __future__ import annotations

import pulumi.runtime.config as runtime_config

__all__ = ["engine_config", "set_engine_config"]


def engine_config() -> tuple[dict[str, str], frozenset[str]]:
    """All config values of the running stack, and the keys that are secrets.

    The language host passes config as `PULUMI_CONFIG` (a JSON object) and the secret keys as
    `PULUMI_CONFIG_SECRET_KEYS`; values set in-process (the offline plan) take precedence.
    """
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys.update(key for key in values if runtime_config.is_config_secret(key))
    return values, frozenset(secret_keys)


def set_engine_config(values: dict[str, str], secret_keys: frozenset[str]) -> None:
    """Hand config to the program in-process, as the engine would (used under mocks)."""
    runtime_config.set_all_config(values, sorted(secret_keys))
