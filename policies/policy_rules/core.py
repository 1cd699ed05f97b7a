"""What every policy module shares: building policies with typed config, and reading engine properties.

Properties arrive as the engine sends them: camelCase names, nested mappings and lists, and, during a
preview, wrapped in `unknown_checking_proxy` so that touching a value that is not known yet raises
`UnknownValueError` (the analyzer turns that into an advisory "can't run during preview" note). The
readers here therefore never catch exceptions; they only tolerate missing keys and wrong shapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard, cast

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

__all__ = [
    "Report",
    "Setting",
    "customer_managed_key_problem",
    "dig",
    "is_mapping",
    "is_sequence",
    "items",
    "json_document",
    "merged_tags",
    "number",
    "provider_default_tags",
    "resource_policy",
    "settings_of",
    "stack_policy",
    "strings",
]


@dataclass(frozen=True)
class Setting:
    """One configurable value of a policy: its JSON-schema type, default and meaning."""

    type: str
    default: Any
    description: str

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type, "default": self.default, "description": self.description}
        if self.type == "array":
            if self.default and all(isinstance(v, str) for v in self.default):
                schema["items"] = {"type": "string"}
            elif self.default and all(isinstance(v, int) for v in self.default):
                schema["items"] = {"type": "integer"}
        return schema


class Report(Protocol):
    """How a check reports a violation: the message, and for stack policies the resource's URN.

    pulumi_policy types its `ReportViolation` with a required URN; the function it passes takes the URN
    as optional, which is how resource policies call it.
    """

    def __call__(self, message: str, urn: str | None = None, /) -> None: ...


ResourceCheck = Callable[[ResourceValidationArgs, Report, Mapping[str, Any]], None]
StackCheck = Callable[[StackValidationArgs, Report, Mapping[str, Any]], None]


def settings_of(config: Mapping[str, Any], settings: Mapping[str, Setting]) -> dict[str, Any]:
    """The policy's settings: its defaults overlaid with what the pack's config sets."""
    return {key: config.get(key, setting.default) for key, setting in settings.items()}


def resource_policy(
    name: str,
    description: str,
    check: ResourceCheck,
    settings: Mapping[str, Setting] | None = None,
) -> ResourceValidationPolicy:
    """A resource policy whose check receives its settings already merged with their defaults."""
    settings = dict(settings or {})

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        check(args, cast(Report, report), settings_of(args.get_config(), settings))

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        config_schema=PolicyConfigSchema({k: s.schema() for k, s in settings.items()}) if settings else None,
    )


def stack_policy(
    name: str,
    description: str,
    check: StackCheck,
    settings: Mapping[str, Setting] | None = None,
) -> StackValidationPolicy:
    """A stack policy whose check receives its settings already merged with their defaults."""
    settings = dict(settings or {})

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        check(args, cast(Report, report), settings_of(args.get_config(), settings))

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        config_schema=PolicyConfigSchema({k: s.schema() for k, s in settings.items()}) if settings else None,
    )


def number(value: Any) -> int | float | None:
    """A numeric property; the wire carries every number as a double, so 22.0 reads as 22."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else value


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping)


def is_sequence(value: Any) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def dig(value: Any, *path: str | int) -> Any:
    """`value[path[0]][path[1]]...`, or None as soon as a step is missing or of the wrong shape."""
    for step in path:
        if isinstance(step, int):
            if not is_sequence(value) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        else:
            if not is_mapping(value) or step not in value:
                return None
            value = value[step]
    return value


def items(value: Any) -> Iterator[Any]:
    """The elements of a list property; nothing when it is unset or not a list."""
    if is_sequence(value):
        yield from value


def strings(value: Any) -> list[str]:
    """A string-or-list-of-strings property (IAM `Action`, `Resource`...) as a list of strings."""
    if isinstance(value, str):
        return [value]
    return [item for item in items(value) if isinstance(item, str)]


def json_document(value: Any) -> Any:
    """A policy document given as a JSON string (the engine's form) or as an object."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def customer_managed_key_problem(key: Any) -> str | None:
    """Why a KMS key reference is not a customer-managed key, or None.

    Unset and empty mean the service's default (an AWS-owned or AWS-managed key); `alias/aws/<service>`,
    bare or inside an alias ARN, names an AWS-managed key, which no key policy of the account controls.
    """
    if not isinstance(key, str) or not key:
        return "unset"
    if key.startswith("alias/aws/") or ":alias/aws/" in key:
        return key
    return None


def provider_default_tags(provider_props: Mapping[str, Any] | None) -> dict[str, Any]:
    """`defaultTags.tags` of an AWS provider; the engine sends provider inputs JSON-encoded."""
    if provider_props is None:
        return {}
    default_tags = json_document(provider_props.get("defaultTags"))
    tags = dig(default_tags, "tags")
    return {str(key): tags[key] for key in tags} if is_mapping(tags) else {}


def merged_tags(props: Mapping[str, Any], provider_props: Mapping[str, Any] | None) -> dict[str, Any]:
    """The tags the resource ends up with: the provider's default tags overlaid with its own, as AWS does."""
    own = props.get("tags")
    own_tags = {str(key): own[key] for key in own} if isinstance(own, Mapping) else {}
    return {**provider_default_tags(provider_props), **own_tags}
