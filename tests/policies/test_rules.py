"""Every rule of the pack, one table row each (tests/policies/cases_*.py): happy path, one mutated
field per failing case with its exact message, the property unset, and the property unknown."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UnknownValueError

from platform_facts import project
from policy_rules.pack import all_policies
from tests.policies import (
    cases_aws,
    cases_datastores,
    cases_identity,
    cases_k8s,
    cases_platform,
    cases_state_store,
)
from tests.policies.harness import DELETE, UNKNOWN, Mutation, Res, RuleCases, evaluate, k8s_provider, mutate

PROD = project.environment_prefix("prod")

CASES = (cases_aws.CASES + cases_k8s.CASES + cases_datastores.CASES + cases_platform.CASES + cases_identity.CASES
         + cases_state_store.CASES)
# Rules whose input is not a resource property get their own tests below.
TESTED_SEPARATELY = {"pulumi-config-secrets-encrypted"}
FAILING = [
    pytest.param(case, mutation, id=f"{case.policy}-{i}") for case in CASES for i, mutation in enumerate(case.failing)
]


def test_every_rule_has_cases() -> None:
    names = [policy.name for policy in all_policies()]
    assert len(names) >= 45
    covered = {case.policy for case in CASES} | TESTED_SEPARATELY
    assert sorted(set(names) - covered) == []
    assert all(case.failing for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.policy)
def test_happy_path_passes(case: RuleCases) -> None:
    assert evaluate(case, case.happy()) == []


@pytest.mark.parametrize(("case", "mutation"), FAILING)
def test_mutated_field_fails_with_its_message(case: RuleCases, mutation: Mutation) -> None:
    assert evaluate(case, mutate(case.happy(), mutation.path, mutation.value)) == list(mutation.messages)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.policy)
def test_unset_property(case: RuleCases) -> None:
    assert evaluate(case, mutate(case.happy(), case.unset.path, DELETE)) == list(case.unset.messages)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.policy)
def test_unknown_value_is_reported_as_unknown_not_a_crash(case: RuleCases) -> None:
    """During preview an unknown input raises UnknownValueError, which the analyzer reports as advisory."""
    with pytest.raises(UnknownValueError):
        evaluate(case, mutate(case.happy(), case.unknown, UNKNOWN))


def _case(policy: str) -> RuleCases:
    return next(case for case in CASES if case.policy == policy)


def test_settings_override_defaults() -> None:
    spot = _case("gpu-spot-only-outside-prod")
    spot_pool = mutate(spot.happy(), "spec.template.spec.requirements.1.values", ["spot"])
    assert evaluate(spot, spot_pool) != []
    allowed = RuleCases(**{**spot.__dict__, "config": {"allowSpot": True}})
    assert evaluate(allowed, spot_pool) == []


def test_regulated_workload_on_the_on_prem_provider_passes() -> None:
    case = _case("regulated-workloads-on-prem")
    on_prem = RuleCases(**{**case.__dict__, "provider": lambda: k8s_provider(f"{PROD}-onprem-k8s")})
    regulated = mutate(case.happy(), case.failing[0].path, case.failing[0].value)
    assert evaluate(on_prem, regulated) == []


def test_tls_deny_with_wildcard_principal_is_not_a_wildcard_violation() -> None:
    """The TLS-only bucket policy denies `*`: only Allow statements are judged."""
    assert evaluate(_case("iam-no-wildcard-principal"), cases_aws.bucket_policy()) == []


def test_wildcard_principal_narrowed_by_organisation_passes() -> None:
    case = _case("iam-no-wildcard-principal")
    document = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-123"}},
            }
        ]
    }
    assert evaluate(case, {"policy": json.dumps(document)}) == []


def test_flow_log_linked_by_dependency_counts() -> None:
    case = _case("vpc-flow-logs-enabled")
    resources = [Res("aws:ec2/vpc:Vpc", "vpc", {}), Res("aws:ec2/flowLog:FlowLog", "log", {}, depends_on=("vpc",))]
    assert evaluate(case, resources) == []


def test_ray_worker_groups_are_checked_like_deployments() -> None:
    case = RuleCases(
        "k8s-run-as-non-root", cases_k8s.RAY_SERVICE, cases_k8s.ray_service, (), Mutation("x", None, ()), ""
    )
    spec = "spec.rayClusterConfig.workerGroupSpecs.0.template.spec"
    root = mutate(cases_k8s.ray_service(), f"{spec}.containers.0.securityContext.runAsUser", 0)
    assert evaluate(case, root) == [
        "RayService subject worker group gpu container server must not run as user 0 (root)."
    ]


@pytest.mark.parametrize(
    ("config", "secret_keys", "expected"),
    [
        (
            {project.config_key("region_name"): "us-east-1", project.config_key("model_hub_token"): "hf_" + "x" * 34},
            [project.config_key("model_hub_token")],
            [],
        ),
        (
            {project.config_key("model_hub_token"): "hf_" + "x" * 34},
            [],
            [
                f"Stack config {project.CONFIG_NAMESPACE}:model_hub_token must be set as a secret (pulumi config set --secret "
                f"{project.CONFIG_NAMESPACE}:model_hub_token); model_hub_token looks like a secret."
            ],
        ),
        (
            {project.config_key("onprem"): json.dumps({"kubeconfig_path": "/k", "api_token": "abc"})},
            [],
            [
                f"Stack config {project.CONFIG_NAMESPACE}:onprem must be set as a secret (pulumi config set --secret {project.CONFIG_NAMESPACE}:onprem); "
                "onprem.api_token looks like a secret."
            ],
        ),
        ({project.config_key("secrets"): json.dumps({"recovery_window_days": 7})}, [], []),
        ({}, [], []),  # unset: no config at all
    ],
)
def test_pulumi_config_secrets(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, str], secret_keys: list[str], expected: list[str]
) -> None:
    """The CLI hands config to packs in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS; set them as it does."""
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(secret_keys))
    case = RuleCases("pulumi-config-secrets-encrypted", "", list, (), Mutation("x", None, ()), "")
    assert evaluate(case, []) == expected


def test_docs_rules_table_is_the_generated_one() -> None:
    from pathlib import Path

    from tools.policy_docs import rules_table, upstream_equivalents

    docs = (Path(__file__).resolve().parents[2] / "docs" / "policies.md").read_text()
    table = "\n".join(rules_table(upstream_equivalents()))
    assert table in docs, "regenerate the table with python -m tools.policy_docs"


def test_upstream_equivalents_name_real_rules_and_cover_the_target() -> None:
    from tools.policy_docs import upstream_equivalents

    equivalents = upstream_equivalents()
    names = {policy.name for policy in all_policies()}
    assert sorted(set(equivalents) - names) == []
    assert all(
        checks and all(check.startswith(("Checkov CKV", "Trivy AVD-")) for check in checks)
        for checks in equivalents.values()
    )
    assert len(equivalents) >= 45


def test_docs_list_every_rule_with_its_levels() -> None:
    from pathlib import Path

    from policy_rules.environments import ENVIRONMENTS

    docs = (Path(__file__).resolve().parents[2] / "docs" / "policies.md").read_text()
    for policy in all_policies():
        levels = [
            ENVIRONMENTS[env].overrides.get(policy.name, ENVIRONMENTS[env].level) for env in ("dev", "staging", "prod")
        ]
        assert f"| `{policy.name}` |" in docs, policy.name
        row = next(line for line in docs.splitlines() if f"| `{policy.name}` |" in line)
        assert row.rstrip(" |").endswith(" | ".join(levels)), row


@pytest.mark.parametrize(
    ("policy", "path", "value", "expected"),
    [
        (
            "imdsv2-required-launch-templates",
            "spec.metadataOptions.httpTokens",
            "optional",
            ["EC2NodeClass subject must require IMDSv2 (spec.metadataOptions.httpTokens = required)."],
        ),
        ("imdsv2-required-launch-templates", "spec.metadataOptions", DELETE, []),  # Karpenter defaults to required
        (
            "gpu-approved-ami",
            "spec.amiSelectorTerms.0",
            {"alias": "windows2022@latest"},
            ["EC2NodeClass subject must select an approved AMI family by alias, not windows2022@latest."],
        ),
        (
            "gpu-approved-ami",
            "spec.amiSelectorTerms.0",
            {"id": "ami-123"},
            ["EC2NodeClass subject must select an approved AMI family by alias, not a term without an alias."],
        ),
    ],
)
def test_karpenter_node_classes(policy: str, path: str, value: object, expected: list[str]) -> None:
    case = RuleCases(
        policy, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", cases_aws.node_class, (), Mutation("x", None, ()), ""
    )
    assert evaluate(case, cases_aws.node_class()) == []
    assert evaluate(case, mutate(cases_aws.node_class(), path, value)) == expected


def test_llm_token_counts_in_a_config_file_are_not_secrets() -> None:
    """A gateway config's quotas and prices name tokens (plural); a credential's name says token."""
    from policy_rules.secrets import embedded_secret_names

    text = "tokens_per_minute: 1000000\ncost_per_1k_tokens: 0.0004\nmax_tokens: 512\napi_token: abc123\n"
    assert list(embedded_secret_names(text)) == ["api_token"]


def test_gateway_keys_from_a_mounted_secret_pass_on_the_on_prem_cluster_only() -> None:
    """On-prem has no Secrets Manager: a `file` key source is the mounted Kubernetes Secret there, and
    still refused on the cloud cluster."""
    case = _case("gateway-auth-enabled")
    file_keys = mutate(case.happy(), "gateway-config/data", {"gateway.yaml": "keys: {source: file, path: k.yaml}\n"})
    on_prem, cloud = mutate(file_keys, "gateway-config/data", file_keys[0].props["data"]), file_keys
    on_prem[0].provider = k8s_provider(f"{PROD}-onprem-k8s")
    cloud[0].provider = k8s_provider(f"{PROD}-eks-k8s")
    assert evaluate(case, on_prem) == []
    assert evaluate(case, cloud) == [
        "ConfigMap gateway-config (gateway.yaml) must take API keys from one of secrets_manager (keys.source is file)."
    ]
