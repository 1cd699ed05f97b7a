"""Every use of the Pulumi SDK beyond its program API, in one place.

A stack program needs only `pulumi`'s public surface. Running one without an engine or providers — the
offline plan, and the policy check that speaks to the pack the way the CLI does — reaches into parts of
the SDK that carry no compatibility promise:

- the mock runtime: `pulumi.runtime.set_mocks`, `Mocks`, `MockMonitor`, `pulumi.runtime.test`
  (`RecordingMonitor`, `run_under_mocks`);
- the settings that hold the root stack resource, reset between renders (`run_under_mocks`);
- the config the language host hands a program (`engine_config`, `set_engine_config`);
- the property wire format: the secret marker, unknown values, `rpc.deserialize_properties`;
- the analyzer's generated gRPC protocol, `pulumi.runtime.proto` (`analyzer_pb2`, `analyzer_pb2_grpc`).

Each was checked against one SDK version, `PINNED_PULUMI_VERSION`, the `pulumi==` pin of pyproject.toml.
When the pin moves, `tests/stacks/test_pulumi_internals.py` fails and names the touchpoint to re-check.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi.output
import pulumi.runtime
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as runtime_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

__all__ = [
    "PINNED_PULUMI_VERSION",
    "SECRET_SIGNATURE",
    "SIGNATURE_KEY",
    "MockCallArgs",
    "MockResourceArgs",
    "Mocks",
    "RecordedResource",
    "RecordingMonitor",
    "analyzer_pb2",
    "analyzer_pb2_grpc",
    "engine_config",
    "is_unknown",
    "run_under_mocks",
    "set_engine_config",
]

PINNED_PULUMI_VERSION = "3.272.0"
"""The SDK release every touchpoint here was checked against (pyproject.toml pins the same)."""

# The property wire format: a secret travels as {SIGNATURE_KEY: SECRET_SIGNATURE, "value": ...}.
SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"

Mocks = runtime_mocks.Mocks
"""What a provider would do, answered in-process: `new_resource` and `call` (invokes)."""
MockResourceArgs = runtime_mocks.MockResourceArgs
MockCallArgs = runtime_mocks.MockCallArgs


@dataclass
class RecordedResource:
    """One registration as the engine sees it."""

    urn: str
    type: str
    name: str
    parent: str
    provider: str
    dependencies: list[str]
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def provider_urn(self) -> str:
        """The provider reference without its `::id` suffix."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


class RecordingMonitor(runtime_mocks.MockMonitor):
    """The engine's resource monitor, played in-process: answers from `mocks`, records every registration."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self._by_urn: dict[str, RecordedResource] = {}
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        record = None
        if request.type != "pulumi:pulumi:Stack":
            record = RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                provider=request.provider,
                dependencies=sorted(set(request.dependencies)),
                custom=bool(request.custom),
                protect=bool(request.protect),
                # Unknowns kept: a preview's unknown values are part of what policies must handle.
                inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
            )
            with self._lock:
                self.recorded.append(record)
                self._by_urn[urn] = record
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # the SDK's mock monitor is unannotated
        if record is not None:
            registration = self.get_registered_resources()[urn]
            record.outputs = registration.state
            record.id = registration.id or ""
        return response

    def lookup(self, urn: str) -> RecordedResource | None:
        """The recorded resource with this URN, if any."""
        with self._lock:
            return self._by_urn.get(urn)


def is_unknown(value: object) -> bool:
    """Whether a recorded input is a value not known until the resource exists (a preview's unknown)."""
    return isinstance(value, pulumi.output.Unknown)


def run_under_mocks(
    program: Callable[[], None],
    monitor: RecordingMonitor,
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: frozenset[str],
) -> None:
    """Run `program` as `pulumi preview` would, with `monitor` in place of the engine.

    The mock runtime is process-wide; every call starts from a fresh root stack, so one process can
    render many stacks one after another.
    """
    runtime_settings.set_root_resource(None)  # type: ignore[arg-type]  # None is how the SDK resets it
    _ensure_event_loop()
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=True, monitor=monitor)
    set_engine_config(config, secret_keys)
    pulumi.runtime.test(program)()


def engine_config() -> tuple[dict[str, str], frozenset[str]]:
    """All config values of the running stack, and the keys that are secrets.

    The language host passes config as `PULUMI_CONFIG` (a JSON object) and the secret keys as
    `PULUMI_CONFIG_SECRET_KEYS`; values set in-process (`set_engine_config`) take precedence.
    """
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys.update(key for key in values if runtime_config.is_config_secret(key))
    return values, frozenset(secret_keys)


def set_engine_config(values: Mapping[str, str], secret_keys: frozenset[str]) -> None:
    """Hand config to the program in-process, as the engine would."""
    runtime_config.set_all_config(dict(values), sorted(secret_keys))


def _ensure_event_loop() -> None:
    """The mock runtime runs on the thread's current event loop; a caller that ran and closed its own
    (an async test, `asyncio.run`) leaves none, so give the render a fresh one."""
    try:
        if not asyncio.get_event_loop().is_closed():
            return
    except RuntimeError:
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())
