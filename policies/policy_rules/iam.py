"""IAM policies: no administrator wildcards, no anonymous principals, IRSA roles bound to one service account,
GitHub workflow roles bound to one repository's branch or environment."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policy_rules.core import Report, Setting, dig, is_mapping, items, json_document, resource_policy, strings

__all__ = ["POLICIES", "documents", "narrowing_keys", "statements"]

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
NARROWING_OPERATORS = frozenset(
    {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "ipaddress"}
)

# Where each resource type keeps its policy documents.
PERMISSION_DOCUMENTS = {
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/userPolicy:UserPolicy": ("policy",),
    "aws:iam/groupPolicy:GroupPolicy": ("policy",),
    "aws:iam/role:Role": (),  # inline policies, read below
}
RESOURCE_DOCUMENTS = {
    "aws:iam/role:Role": ("assumeRolePolicy",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:s3/bucket:Bucket": ("policy",),
    "aws:kms/key:Key": ("policy",),
    "aws:secretsmanager/secret:Secret": ("policy",),
    "aws:secretsmanager/secretPolicy:SecretPolicy": ("policy",),
    "aws:sqs/queue:Queue": ("policy",),
    "aws:sqs/queuePolicy:QueuePolicy": ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
}


def documents(resource_type: str, props: Mapping[str, Any], table: Mapping[str, tuple[str, ...]]) -> Iterator[Any]:
    """The parsed policy documents a resource declares (JSON strings or objects)."""
    for key in table.get(resource_type, ()):
        document = json_document(props.get(key))
        if document is not None:
            yield document
    if resource_type == "aws:iam/role:Role" and table is PERMISSION_DOCUMENTS:
        for inline in items(props.get("inlinePolicies")):
            document = json_document(dig(inline, "policy"))
            if document is not None:
                yield document


def statements(document: Any) -> Iterator[Mapping[str, Any]]:
    statement = dig(document, "Statement")
    for entry in [statement] if is_mapping(statement) else items(statement):
        if is_mapping(entry):
            yield entry


def _star_on_star(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    for document in documents(args.resource_type, args.props, PERMISSION_DOCUMENTS):
        for statement in statements(document):
            actions = strings(statement.get("Action"))
            if (
                statement.get("Effect") == "Allow"
                and any(action in ("*", "*:*") for action in actions)
                and "*" in strings(statement.get("Resource"))
            ):
                report(f"{args.name} must not allow every action (*) on every resource (*).")


def _service_wildcards(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    for document in documents(args.resource_type, args.props, PERMISSION_DOCUMENTS):
        for statement in statements(document):
            if statement.get("Effect") != "Allow" or "*" not in strings(statement.get("Resource")):
                continue
            for action in strings(statement.get("Action")):
                service, _colon, operation = action.partition(":")
                if operation == "*" and service != "*":
                    report(f"{args.name} must not allow every {service} action ({action}) on every resource (*).")


def _wildcard_principals(principal: Any) -> bool:
    if principal == "*":
        return True
    return is_mapping(principal) and any("*" in strings(principal[key]) for key in principal)


def _narrows(operator: str) -> bool:
    """Whether a condition operator can only pass for the listed values.

    Negated operators (`StringNotEquals`) admit everyone else, `...IfExists` and `ForAllValues:` pass
    when the key is absent, `Null` tests presence only: none of them narrows `*` to known callers.
    """
    name = operator.lower()
    if name.startswith("forallvalues:") or name.endswith("ifexists") or "not" in name or name == "null":
        return False
    return name.removeprefix("foranyvalue:") in NARROWING_OPERATORS


def narrowing_keys(condition: Any) -> set[str]:
    """Condition keys (lower case: IAM compares them case-insensitively) that narrow a statement."""
    keys: set[str] = set()
    for operator in condition if is_mapping(condition) else {}:
        block = condition[operator]
        if not isinstance(operator, str) or not _narrows(operator) or not is_mapping(block):
            continue
        keys.update(str(key).lower() for key in block if strings(block[key]) and "*" not in strings(block[key]))
    return keys


def _wildcard_principal(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    wanted = {str(key).lower() for key in settings["narrowingConditionKeys"]}
    for document in documents(args.resource_type, args.props, RESOURCE_DOCUMENTS):
        for statement in statements(document):
            if statement.get("Effect") != "Allow" or not _wildcard_principals(statement.get("Principal")):
                continue
            # A condition on the caller's identity, organisation, account or network narrows `*`.
            if not narrowing_keys(statement.get("Condition")) & wanted:
                report(f"{args.name} must not allow a wildcard principal (*) without a narrowing condition.")


def _trusts_github(statement: Mapping[str, Any]) -> bool:
    """Whether a web-identity statement trusts GitHub Actions' OIDC provider (judged by its own rule)."""
    federated = strings(dig(statement, "Principal", "Federated"))
    return any(arn.endswith(f":oidc-provider/{GITHUB_OIDC_HOST}") for arn in federated)


def _web_identity_statements(args: ResourceValidationArgs) -> Iterator[Mapping[str, Any]]:
    if args.resource_type != "aws:iam/role:Role":
        return
    for document in documents(args.resource_type, args.props, {"aws:iam/role:Role": ("assumeRolePolicy",)}):
        for statement in statements(document):
            if "sts:AssumeRoleWithWebIdentity" in strings(statement.get("Action")):
                yield statement


def _irsa(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    for statement in _web_identity_statements(args):
        if _trusts_github(statement):
            continue
        condition = statement.get("Condition")
        equals = dig(condition, "StringEquals") or {}
        subjects = [value for key in equals if str(key).endswith(":sub") for value in strings(equals[key])]
        like = dig(condition, "StringLike") or {}
        loose = [value for key in like if str(key).endswith(":sub") for value in strings(like[key])]
        single = len(subjects) == 1 and not loose and subjects[0].startswith("system:serviceaccount:")
        if not single or "*" in subjects[0]:
            report(f"IRSA role {args.name} must trust exactly one service account (StringEquals on :sub).")


def _github_trust(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    # A GitHub token's `sub` is `repo:<owner>/<name>:ref:<ref>` or `repo:<owner>/<name>:environment:<env>`;
    # without an exact match any repository on GitHub (or any branch of this one) could assume the role.
    for statement in _web_identity_statements(args):
        if not _trusts_github(statement):
            continue
        equals = dig(statement.get("Condition"), "StringEquals") or {}
        subjects = strings(equals.get(f"{GITHUB_OIDC_HOST}:sub"))
        audiences = strings(equals.get(f"{GITHUB_OIDC_HOST}:aud"))
        pinned = (
            len(subjects) == 1
            and re.fullmatch(r"repo:[^/*?:]+/[^*?:]+:(ref:refs/heads/[^*?]+|environment:[^*?]+)", subjects[0])
            is not None
        )
        if not pinned or audiences != ["sts.amazonaws.com"]:
            report(
                f"GitHub workflow role {args.name} must trust one repository's branch or environment "
                f"(StringEquals on {GITHUB_OIDC_HOST}:sub) with audience sts.amazonaws.com."
            )


def _pass_role(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    # iam:PassRole on every role lets the holder hand any role, an administrator's included, to a service.
    for document in documents(args.resource_type, args.props, PERMISSION_DOCUMENTS):
        for statement in statements(document):
            actions = strings(statement.get("Action"))
            passes = any(action in ("iam:PassRole", "iam:*") for action in actions)
            if statement.get("Effect") == "Allow" and passes and "*" in strings(statement.get("Resource")):
                report(f"{args.name} must scope iam:PassRole to named roles, not every role (*).")


POLICIES = [
    resource_policy(
        "iam-no-star-on-star",
        "IAM policies must not allow every action on every resource.",
        _star_on_star,
    ),
    resource_policy(
        "iam-no-service-wildcard-on-all-resources",
        "IAM policies must not allow every action of a service on every resource.",
        _service_wildcards,
    ),
    resource_policy(
        "iam-no-wildcard-principal",
        "Resource and trust policies must not allow anyone (*) in.",
        _wildcard_principal,
        {
            "narrowingConditionKeys": Setting(
                "array",
                [
                    "aws:PrincipalOrgID",
                    "aws:PrincipalOrgPaths",
                    "aws:PrincipalAccount",
                    "aws:PrincipalArn",
                    "aws:userid",
                    "aws:SourceAccount",
                    "aws:SourceArn",
                    "aws:SourceOrgID",
                    "aws:SourceOrgPaths",
                    "aws:SourceOwner",
                    "aws:SourceVpce",
                    "aws:SourceVpc",
                    "aws:VpceAccount",
                    "aws:VpceOrgID",
                    "kms:CallerAccount",
                ],
                "Condition keys that narrow a wildcard principal to known callers.",
            )
        },
    ),
    resource_policy(
        "irsa-single-service-account",
        "IRSA roles must be assumable by exactly one Kubernetes service account.",
        _irsa,
    ),
    resource_policy("iam-pass-role-scoped", "iam:PassRole must name the roles it may pass.", _pass_role),
    resource_policy(
        "github-oidc-role-pinned",
        "Roles GitHub Actions may assume must trust one repository's branch or environment.",
        _github_trust,
    ),
]
