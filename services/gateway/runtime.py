"""The runtime config snapshot and its reload (promote, roll back, change weights without a restart).

A `RuntimeConfig` is everything derived from one version of the config file: the config, the
key store, the scanner pipelines. A request keeps the snapshot it started with; a reload builds
a new one off the event loop and swaps it in one assignment. A config that does not validate is
refused: the old one stays in force, and the error is logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_facts.project import PROJECT_NAME
from services.gateway.config import GatewayConfig, load_gateway_config
from services.gateway.errors import ConfigError
from services.gateway.keys import KeyStore, load_key_store
from services.gateway.metrics import GatewayMetrics
from services.gateway.scanners.pipeline import ScannerPipeline

__all__ = ["ConfigReloader", "RuntimeConfig"]

log = logging.getLogger(f"{PROJECT_NAME}.gateway")


@dataclass(frozen=True)
class RuntimeConfig:
    """One version of the config and everything derived from it."""

    config: GatewayConfig
    keys: KeyStore
    pipeline: ScannerPipeline
    tenant_pipelines: dict[str, ScannerPipeline]
    """Tenants whose config overrides the environment's scanners."""
    mtime: float
    """The config file's modification time when it was read."""

    def pipeline_for(self, tenant: str) -> ScannerPipeline:
        return self.tenant_pipelines.get(tenant, self.pipeline)

    @classmethod
    def load(cls, path: Path, secrets_client: Any = None) -> RuntimeConfig:
        mtime = path.stat().st_mtime if path.exists() else 0.0
        config = load_gateway_config(path)
        return cls(
            config=config,
            keys=load_key_store(config.keys, config.tenants, secrets_client),
            pipeline=ScannerPipeline.from_config(config.scanners),
            tenant_pipelines={
                name: ScannerPipeline.from_config(tenant.scanners)
                for name, tenant in config.tenants.items()
                if tenant.scanners is not None
            },
            mtime=mtime,
        )


class ConfigReloader:
    """Holds the current snapshot; `current` is what a new request gets."""

    def __init__(
        self,
        path: Path,
        metrics: GatewayMetrics,
        on_swap: Callable[[RuntimeConfig], None],
        secrets_client: Any = None,
    ) -> None:
        self.path = path
        self._metrics = metrics
        self._on_swap = on_swap
        self._secrets_client = secrets_client
        self.current = RuntimeConfig.load(path, secrets_client)
        self._checked_mtime = self.current.mtime
        self._lock = asyncio.Lock()
        self._last_check = time.monotonic()

    async def reload(self, force: bool = True) -> bool:
        """Re-read the file if it changed (or always, when forced); True when a new snapshot was swapped in.

        Raises ConfigError (after logging and counting it) when the new file does not validate."""
        async with self._lock:
            mtime = self.path.stat().st_mtime
            changed = mtime != self.current.mtime
            if not (changed or force):
                return False
            try:
                runtime = await asyncio.to_thread(RuntimeConfig.load, self.path, self._secrets_client)
            except ConfigError as error:
                self._metrics.config_reloads.labels("error").inc()
                log.error("gateway config reload refused, keeping the previous config: %s", error)
                raise
            self._on_swap(runtime)
            self.current = runtime
            self._checked_mtime = runtime.mtime
            self._metrics.config_reloads.labels("ok").inc()
            return True

    async def reload_if_changed(self) -> None:
        """At most every `reload_check_s`, look at the file's modification time and reload on a change."""
        now = time.monotonic()
        if now - self._last_check < self.current.config.reload_check_s:
            return
        self._last_check = now
        try:
            mtime = self.path.stat().st_mtime
            if mtime != self._checked_mtime:
                # Remember the refused version too, so a broken file is not re-read on every check.
                self._checked_mtime = mtime
                await self.reload(force=False)
        except (ConfigError, OSError):
            pass  # keep serving with the config in force; the error was logged and counted
