"""In-process harness for single policies, and the table format every per-rule test is written in.

Each rule gets: a happy-path factory that passes, mutations that each change one field and must
produce exactly one message (asserted verbatim), an unset-property case (the field removed), and
an unknown-value case (the field unknown, as during `pulumi preview`: the policy must raise
`UnknownValueError`, which the analyzer reports as "can't run during preview", never crash).
Violations are collected with a list-appending `report`, as in pulumi-policy's own tests.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from platform_facts import project
from policy_rules.pack import all_policies

__all__ = [
    "DELETE",
    "UNKNOWN",
    "Mutation",
    "Res",
    "RuleCases",
    "aws_provider",
    "evaluate",
    "k8s_provider",
    "mutate",
    "policy_named",
    "policy_resource_options",
]

UNKNOWN = UNKNOWN_STRING_VALUE
DELETE = object()
_POLICIES = {policy.name: policy for policy in all_policies()}


def policy_named(name: str) -> Policy:
    return _POLICIES[name]


def policy_resource_options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def aws_provider(
    tags: Mapping[str, str] | None = None, region: str = "us-east-1", name: str = "aws"
) -> PolicyProviderResource:
    """An AWS provider as the engine sends it: default tags JSON-encoded."""
    import json

    props = {"region": region, "defaultTags": json.dumps({"tags": dict(tags or {})})}
    return PolicyProviderResource(
        "pulumi:providers:aws", props, f"urn:pulumi:test::{project.PROJECT_NAME}::pulumi:providers:aws::{name}", name
    )


def k8s_provider(name: str) -> PolicyProviderResource:
    return PolicyProviderResource(
        "pulumi:providers:kubernetes", {}, f"urn:pulumi:test::{project.PROJECT_NAME}::pulumi:providers:kubernetes::{name}", name
    )


@dataclass
class Res:
    """One resource of a stack-policy case."""

    type: str
    name: str
    props: dict[str, Any]
    parent: str | None = None
    depends_on: tuple[str, ...] = ()
    provider: PolicyProviderResource | None = None


@dataclass(frozen=True)
class Mutation:
    """Set `path` (dotted, list indexes as numbers; stack cases prefix `resource-name/`) and expect `messages`."""

    path: str
    value: Any
    messages: tuple[str, ...]

    @classmethod
    def one(cls, path: str, value: Any, message: str) -> Mutation:
        return cls(path, value, (message,))


@dataclass(frozen=True)
class RuleCases:
    policy: str
    resource_type: str  # "" for stack policies
    happy: Callable[[], Any]  # props for resource policies, list[Res] for stack policies
    failing: tuple[Mutation, ...]
    unset: Mutation  # value ignored: the path is removed
    unknown: str  # path set to an unknown value
    config: Mapping[str, Any] = field(default_factory=dict)
    provider: Callable[[], PolicyProviderResource | None] = lambda: None
    name: str = "subject"

    @property
    def id(self) -> str:
        return self.policy


def _set(target: Any, path: str, value: Any) -> None:
    steps: list[str | int] = [int(s) if s.isdigit() else s for s in path.split(".")]
    for step in steps[:-1]:
        target = target[step]
    if value is DELETE:
        del target[steps[-1]]
    else:
        target[steps[-1]] = value


def mutate(subject: Any, path: str, value: Any) -> Any:
    """A deep copy of props (or of a list of `Res`) with one field changed or removed."""
    subject = copy.deepcopy(subject)
    if isinstance(subject, list):
        name, _, inner = path.partition("/")
        resource = next(r for r in subject if r.name == name)
        if inner:
            _set(resource.props, inner, value)
        else:
            resource.props = value
        return subject
    _set(subject, path, value)
    return subject


def evaluate(cases: RuleCases, subject: Any) -> list[str]:
    """Run one policy over props (resource policy) or resources (stack policy); return the messages."""
    policy = policy_named(cases.policy)
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    if isinstance(policy, ResourceValidationPolicy):
        args = ResourceValidationArgs(
            cases.resource_type,
            unknown_checking_proxy(subject),
            f"urn:pulumi:test::{project.PROJECT_NAME}::{cases.resource_type}::{cases.name}",
            cases.name,
            policy_resource_options(),
            cases.provider(),
            dict(cases.config),
        )
        policy.validate(args, report)
    else:
        by_name: dict[str, PolicyResource] = {}
        resources = []
        for res in subject:
            resource = PolicyResource(
                res.type,
                unknown_checking_proxy(res.props),
                f"urn:pulumi:test::{project.PROJECT_NAME}::{res.type}::{res.name}",
                res.name,
                policy_resource_options(),
                res.provider,
                None,
                [],
                {},
            )
            by_name[res.name] = resource
            resources.append(resource)
        for res in subject:
            resource = by_name[res.name]
            resource.parent = by_name.get(res.parent) if res.parent else None
            resource.dependencies = [by_name[name] for name in res.depends_on]
        assert isinstance(policy, StackValidationPolicy), cases.policy
        policy.validate(StackValidationArgs(resources, dict(cases.config)), report)
    return messages
