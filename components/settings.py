"""Settings: the part of a component's args that an environment chooses, with every rule about it.

A component takes `<Component>Args`: its settings (a `@settings_dataclass` of plain data with the
secure defaults) and the inputs other resources provide (key ARNs, subnet ids, providers). The stack
config (`stacks/config.py`) is built from these same settings types, so each rule is written once
and holds wherever the values come from:

- from `stacks/Pulumi.<env>.yaml`, pydantic validates the whole document and the stack names the
  dotted key (`rampart:network.nat: Input should be 'single' or 'per_az' (got 'both')`);
- from code, the constructor validates and raises `SettingsError` naming the field
  (`NetworkSettings: nat: Input should be 'single' or 'per_az' (got 'both')`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, cast, dataclass_transform, overload

import pydantic.dataclasses
from pydantic import ConfigDict, Field, ValidationError

__all__ = [
    "DataClass",
    "KubernetesVersion",
    "Location",
    "ResourceName",
    "SettingsError",
    "describe_errors",
    "python_path",
    "settings_dataclass",
]

T = TypeVar("T")
Location = tuple[int | str, ...]
"""Where a value sits in the validated input: field names and list indexes."""

DataClass = Literal["public", "internal", "confidential", "regulated"]
"""The most sensitive data an environment, cluster or platform may hold (`rampart:data-class`)."""
ResourceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
"""A name that becomes part of resource and Kubernetes object names."""
KubernetesVersion = Annotated[str, Field(pattern=r"^1\.\d{2}$")]
"""A Kubernetes minor version such as `1.33`."""

# Unknown keys are typos until proven otherwise: refuse them instead of silently ignoring them.
_CONFIG = ConfigDict(extra="forbid")


class SettingsError(ValueError):
    """Settings built in code are invalid; the message names each bad field and why."""


@overload
def settings_dataclass(cls: type[T], /) -> type[T]: ...
@overload
def settings_dataclass(*, kw_only: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(Field, dataclasses.field))
def settings_dataclass(
    cls: type[T] | None = None, /, *, kw_only: bool = False
) -> type[T] | Callable[[type[T]], type[T]]:
    """A frozen pydantic dataclass that refuses unknown fields and validates when constructed.

    `kw_only=True` for settings that the stack config extends with keys of its own.
    """

    def validated(cls: type[T]) -> type[T]:
        dataclass: Any = pydantic.dataclasses.dataclass(frozen=True, kw_only=kw_only, config=_CONFIG)(cls)
        validate: Callable[..., None] = dataclass.__init__
        positional = tuple(f.name for f in dataclasses.fields(dataclass) if f.init and not f.kw_only)

        # Pydantic raises ValidationError with positional arguments located by index and a
        # multi-line report; code that builds settings gets one line naming each field instead.
        # Validation from config does not go through __init__ and keeps pydantic's full locations.
        @functools.wraps(validate)
        def __init__(self: object, *args: Any, **kwargs: Any) -> None:
            try:
                validate(self, *args, **kwargs)
            except ValidationError as error:
                lines = describe_errors(error, lambda loc: python_path(_named(loc, positional)))
                raise SettingsError(f"{dataclass.__name__}: {'; '.join(lines)}") from None

        dataclass.__init__ = __init__
        return cast("type[T]", dataclass)

    return validated if cls is None else validated(cls)


def describe_errors(error: ValidationError, key: Callable[[Location], str]) -> list[str]:
    """One line per problem: `<key>: <reason> (got <value>)`, the key spelled by `key`."""
    lines = []
    for issue in error.errors():
        location = tuple(issue["loc"])
        if issue["type"] in ("missing", "missing_argument"):
            reason = "required but not set"
        elif issue["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            reason = "unknown key"
        else:
            reason = issue["msg"].removeprefix("Value error, ")
            given = issue.get("input")
            # A whole block as "got" buries the reason: cross-field checks name their fields themselves.
            if given is None or isinstance(given, str | int | float):
                reason = f"{reason} (got {given!r})"
        lines.append(f"{key(location)}: {reason}" if location else reason)
    return lines


def python_path(location: Location) -> str:
    """`("gpu_node_pools", 0, "instance_type")` → `gpu_node_pools[0].instance_type`."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path


def _named(location: Location, positional: tuple[str, ...]) -> Location:
    """Pydantic locates a positional argument by its index; name the field instead."""
    if location and isinstance(location[0], int) and location[0] < len(positional):
        return (positional[location[0]], *location[1:])
    return location
