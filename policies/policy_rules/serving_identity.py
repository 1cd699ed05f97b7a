"""The serving pods' IAM role: every action and every resource named, never a wildcard.

The Ray head and worker pods of an inference platform run model code and tenant prompts; their role is
what a compromised replica could do with AWS. It is recognised by the tag `platform_facts.identity`
names, and its inline policies must list each action and each resource. The one wildcard allowed is
the trailing `/*` of an S3 object ARN after a named bucket and a non-empty key prefix
(`arn:aws:s3:::models/llm/*`): objects under a prefix cannot be named one by one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from platform_facts.identity import SERVING_ROLE_TAG, SERVING_ROLE_TAG_VALUE
from policy_rules.core import Report, is_mapping, resource_policy, strings
from policy_rules.iam import PERMISSION_DOCUMENTS, documents, statements

__all__ = ["POLICIES", "is_serving_role", "wildcard_resource"]

ROLE = "aws:iam/role:Role"
_OBJECT_PREFIX = re.compile(r"^arn:aws[a-z-]*:s3:::[^/*?]+/[^*?]*[^/*?][^*?]*/\*$")


def is_serving_role(props: Mapping[str, Any]) -> bool:
    tags = props.get("tags")
    return is_mapping(tags) and tags.get(SERVING_ROLE_TAG) == SERVING_ROLE_TAG_VALUE


def wildcard_resource(resource: str) -> bool:
    """Whether a resource ARN matches more than it names (an object key prefix's trailing `/*` aside)."""
    if "*" not in resource and "?" not in resource:
        return False
    return _OBJECT_PREFIX.fullmatch(resource) is None


def _no_wildcards(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != ROLE or not is_serving_role(args.props):
        return
    for document in documents(args.resource_type, args.props, PERMISSION_DOCUMENTS):
        for statement in statements(document):
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement or "NotResource" in statement:
                report(
                    f"Serving role {args.name} must not use NotAction or NotResource (each matches everything else)."
                )
            for action in strings(statement.get("Action")):
                if "*" in action or "?" in action:
                    report(f"Serving role {args.name} must name each action, not the wildcard {action}.")
            resources = strings(statement.get("Resource"))
            if "Resource" not in statement and "NotResource" not in statement:
                report(f"Serving role {args.name} must name the resources of every statement.")
            for resource in resources:
                if wildcard_resource(resource):
                    report(
                        f"Serving role {args.name} must name each resource, not the wildcard {resource} "
                        "(only an S3 object key prefix may end in /*)."
                    )


POLICIES = [
    resource_policy(
        "serving-role-no-wildcards",
        "The Ray serving pods' IAM role must name every action and resource it is allowed.",
        _no_wildcards,
    ),
]
