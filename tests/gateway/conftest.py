"""Gateway test fixtures: the model bench behind a GatewayMiddleware, called over httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway import GatewayMiddleware, GatewaySettings
from services.gateway.quotas import ProcessLedger
from tests.gateway.harness import ModelBench, base_config, write_gateway_config


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def bench() -> ModelBench:
    return ModelBench()


@pytest.fixture
def make_gateway(tmp_path: Path, bench: ModelBench) -> Callable[..., GatewayMiddleware]:
    """Build a gateway over the bench; `edit(config)` may change the config dict first."""

    def make(edit: Callable[[dict[str, Any]], None] | None = None, **kwargs: Any) -> GatewayMiddleware:
        config = base_config(tmp_path / "keys.yaml")
        if edit:
            edit(config)
        path = write_gateway_config(tmp_path, config)
        settings = GatewaySettings(env="test", config_path=str(path), state_dir=str(tmp_path / "state"))
        kwargs.setdefault("ledger", ProcessLedger())
        return GatewayMiddleware(bench.app(), settings, **kwargs)

    return make


@pytest.fixture
def gateway(make_gateway: Callable[..., GatewayMiddleware]) -> GatewayMiddleware:
    return make_gateway()


@pytest.fixture
async def client(gateway: GatewayMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway") as http:
        yield http
