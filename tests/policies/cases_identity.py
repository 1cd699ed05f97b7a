"""Per-rule cases for the serving pods' IAM role, the GitHub publisher role's trust, and GPU pools'
autoscaling owners. The happy paths are what the components declare (their pure policy functions)."""

from __future__ import annotations

import json
from typing import Any

from components.container_registry import github_publisher_trust_policy
from components.serving_identity import serving_permissions
from platform_facts import project
from tests.policies import cases_aws
from tests.policies.harness import DELETE, Mutation, Res, RuleCases

ROLE = "aws:iam/role:Role"
GITHUB_PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
WILDCARD_RESOURCE = "(only an S3 object key prefix may end in /*)."


def serving_role() -> dict[str, Any]:
    policy = serving_permissions(
        region="us-east-1",
        model_bucket_arn="arn:aws:s3:::models-1",
        model_prefixes=("embedders/", "llm/"),
        audit_bucket_arn="arn:aws:s3:::audit-1",
        audit_prefix="audit/",
        gateway_keys_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:gateway-api-keys-AbCdEf",
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/1234",
    )
    return {
        "assumeRolePolicy": json.dumps({"Version": "2012-10-17", "Statement": []}),
        "inlinePolicies": [{"name": "serving", "policy": policy}],
        "tags": {project.tag("workload"): "ray-serving"},
    }


def _with_statement(statement: dict[str, Any]) -> str:
    document = json.loads(serving_role()["inlinePolicies"][0]["policy"])
    document["Statement"].append(statement)
    return json.dumps(document)


def publisher_role() -> dict[str, Any]:
    return {"assumeRolePolicy": github_publisher_trust_policy(GITHUB_PROVIDER, f"example-org/{project.PROJECT_NAME}", "main")}


def _github_trust(subject: str, audience: str = "sts.amazonaws.com") -> str:
    document = json.loads(github_publisher_trust_policy(GITHUB_PROVIDER, f"example-org/{project.PROJECT_NAME}", "main"))
    document["Statement"][0]["Condition"]["StringEquals"] = {
        "token.actions.githubusercontent.com:sub": subject,
        "token.actions.githubusercontent.com:aud": audience,
    }
    return json.dumps(document)


def autoscaled_gpu_group() -> list[Res]:
    group = {
        **cases_aws.gpu_node_group(),
        "tags": {"k8s.io/cluster-autoscaler/enabled": "true", "k8s.io/cluster-autoscaler/gpu": "owned"},
    }
    return [
        Res("aws:eks/nodeGroup:NodeGroup", "gpu", group),
        Res("kubernetes:helm.sh/v3:Release", "autoscaler", {"chart": "cluster-autoscaler", "version": "9.46.0"}),
    ]


def karpenter_pool() -> list[Res]:
    from tests.policies import cases_k8s

    return [
        Res("kubernetes:karpenter.sh/v1:NodePool", "gpu-pool", cases_k8s.node_pool()),
        Res("kubernetes:helm.sh/v3:Release", "karpenter", {"chart": "oci://public.ecr.aws/karpenter/karpenter"}),
    ]


CASES = [
    RuleCases(
        "serving-role-no-wildcards",
        ROLE,
        serving_role,
        (
            Mutation.one(
                "inlinePolicies.0.policy",
                _with_statement({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::models-1"}),
                "Serving role subject must name each action, not the wildcard s3:*.",
            ),
            Mutation.one(
                "inlinePolicies.0.policy",
                _with_statement({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}),
                f"Serving role subject must name each resource, not the wildcard * {WILDCARD_RESOURCE}",
            ),
            Mutation.one(
                "inlinePolicies.0.policy",
                _with_statement({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::models-1/*"}),
                f"Serving role subject must name each resource, not the wildcard arn:aws:s3:::models-1/* "
                f"{WILDCARD_RESOURCE}",
            ),
            Mutation.one(
                "inlinePolicies.0.policy",
                _with_statement({"Effect": "Allow", "NotAction": "iam:CreateUser", "Resource": "arn:aws:s3:::x"}),
                "Serving role subject must not use NotAction or NotResource (each matches everything else).",
            ),
            # The same wildcards on a role without the serving tag are other rules' business.
            Mutation("tags", {project.tag("workload"): "batch"}, ()),
        ),
        Mutation("tags", DELETE, ()),
        "inlinePolicies.0.policy",
    ),
    RuleCases(
        "github-oidc-role-pinned",
        ROLE,
        publisher_role,
        (
            Mutation.one(
                "assumeRolePolicy",
                _github_trust("repo:example-org/*"),
                "GitHub workflow role subject must trust one repository's branch or environment "
                "(StringEquals on token.actions.githubusercontent.com:sub) with audience sts.amazonaws.com.",
            ),
            Mutation.one(
                "assumeRolePolicy",
                _github_trust(f"repo:example-org/{project.PROJECT_NAME}:ref:refs/heads/main", audience="api://anything"),
                "GitHub workflow role subject must trust one repository's branch or environment "
                "(StringEquals on token.actions.githubusercontent.com:sub) with audience sts.amazonaws.com.",
            ),
            Mutation("assumeRolePolicy", _github_trust(f"repo:example-org/{project.PROJECT_NAME}:environment:prod"), ()),
        ),
        Mutation("assumeRolePolicy", DELETE, ()),
        "assumeRolePolicy",
    ),
    RuleCases(
        "gpu-pools-have-autoscaling-owner",
        "",
        autoscaled_gpu_group,
        (
            Mutation.one(
                "autoscaler/chart",
                "nvidia-device-plugin",
                "GPU node group gpu scales between 0 and 4 nodes, so the stack must run cluster-autoscaler.",
            ),
            Mutation.one(
                "gpu/tags",
                {"team": "ml"},
                "GPU node group gpu scales between 0 and 4 nodes, so it must carry the tag "
                "k8s.io/cluster-autoscaler/enabled=true for cluster-autoscaler to discover it.",
            ),
            # A fixed-size group needs no owner.
            Mutation("gpu/scalingConfig", {"desiredSize": 3, "minSize": 3, "maxSize": 3}, ()),
        ),
        Mutation("gpu/scalingConfig", DELETE, ()),
        "gpu/scalingConfig.minSize",
    ),
    RuleCases(
        "gpu-pools-have-autoscaling-owner",
        "",
        karpenter_pool,
        (
            Mutation.one(
                "karpenter/chart",
                "cluster-autoscaler",
                "GPU NodePool gpu-pool must have an owner: the stack must run the Karpenter controller.",
            ),
        ),
        Mutation(
            "karpenter/chart",
            DELETE,
            ("GPU NodePool gpu-pool must have an owner: the stack must run the Karpenter controller.",),
        ),
        "gpu-pool/spec.template.spec.requirements",
    ),
]
