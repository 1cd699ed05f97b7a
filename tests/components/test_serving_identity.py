"""`ServingIdentity` under mocks (IAM and EKS cannot run here; the stacks are rendered with Pulumi mocks):
the Ray pods' role, its exact permissions, its Pod Identity association, and no identity on-prem."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from components._pod_identity import pod_identity_trust_policy
from components.serving_identity import (
    SERVING_MODEL_PREFIXES,
    SERVING_SERVICE_ACCOUNT,
    ServingIdentityArgs,
    serving_permissions,
)
from platform_facts import project
from policy_rules.serving_identity import wildcard_resource
from stacks.config import load_stack_config, read_stack_file
from stacks.plan import PlanGraph, PlannedResource
from tests.stacks.helpers import under

Render = Callable[[str], PlanGraph]
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ENVIRONMENTS = ("dev", "staging", "prod")


def _one(graph: PlanGraph, type_token: str, name_part: str) -> PlannedResource:
    (match,) = [r for r in graph.of_type(type_token) if name_part in r.name]
    return match


def test_permissions_are_exactly_what_the_services_do() -> None:
    document = json.loads(
        serving_permissions(
            region="eu-west-1",
            model_bucket_arn="arn:aws:s3:::models",
            model_prefixes=("embedders/", "llm/"),
            audit_bucket_arn="arn:aws:s3:::audit",
            audit_prefix="audit/",
            gateway_keys_secret_arn="arn:aws:secretsmanager:eu-west-1:1:secret:keys-AbC",
            kms_key_arn="arn:aws:kms:eu-west-1:1:key/k",
        )
    )
    assert document["Statement"] == [
        {
            "Sid": "ReadModels",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": ["arn:aws:s3:::models/embedders/*", "arn:aws:s3:::models/llm/*"],
        },
        {
            "Sid": "ListModels",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::models",
            "Condition": {"StringLike": {"s3:prefix": ["embedders/*", "llm/*"]}},
        },
        {
            "Sid": "WriteAuditSegments",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:PutObjectRetention"],
            "Resource": "arn:aws:s3:::audit/audit/*",
        },
        {
            "Sid": "ReadGatewayKeys",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:eu-west-1:1:secret:keys-AbC",
        },
        {
            "Sid": "DecryptThroughS3AndSecretsManager",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "arn:aws:kms:eu-west-1:1:key/k",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": ["s3.eu-west-1.amazonaws.com", "secretsmanager.eu-west-1.amazonaws.com"]
                }
            },
        },
        {
            "Sid": "EncryptAuditSegments",
            "Effect": "Allow",
            "Action": "kms:GenerateDataKey",
            "Resource": "arn:aws:kms:eu-west-1:1:key/k",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        },
    ]


def _state_connect_arn(graph: PlanGraph) -> str:
    """The state database's gateway user, as RDS names it for `rds-db:connect` (tests/stacks/test_state.py)."""
    (instance,) = graph.of_type("aws:rds/instance:Instance")
    region, account = instance.outputs["arn"].split(":")[3:5]
    return f"arn:aws:rds-db:{region}:{account}:dbuser:{instance.outputs['resourceId']}/{project.METRIC_PREFIX}_gateway"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_cloud_platform_role_names_the_plans_own_resources(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    config = load_stack_config(*read_stack_file(environment))
    cloud = [platform.name for platform in config.inference_platforms if platform.cluster == "eks"]
    identities = graph.of_type(project.type_token("ServingIdentity"))
    assert sorted(i.name for i in identities) == sorted(f"{project.environment_prefix(environment)}-{name}-identity" for name in cloud)
    model_bucket = _one(graph, "aws:s3/bucket:Bucket", "-models")
    audit_bucket = _one(graph, "aws:s3/bucket:Bucket", "-audit")
    secret = _one(graph, "aws:secretsmanager/secret:Secret", "gateway-api-keys")
    (key,) = graph.of_type("aws:kms/key:Key")
    (cluster,) = graph.of_type("aws:eks/cluster:Cluster")
    (agent,) = graph.of_type("aws:eks/addon:Addon")
    assert agent.inputs["addonName"] == "eks-pod-identity-agent"
    for identity, platform in zip(identities, cloud, strict=True):
        (role,) = under(graph, identity, "aws:iam/role:Role")
        (association,) = under(graph, identity, ASSOCIATION)
        namespace = project.platform_namespace(platform)
        assert role.inputs["tags"] == {project.tag("workload"): "ray-serving"}
        assert role.inputs["assumeRolePolicy"] == pod_identity_trust_policy(
            cluster.outputs["arn"], namespace, SERVING_SERVICE_ACCOUNT
        )
        (inline,) = role.inputs["inlinePolicies"]
        assert inline["policy"] == serving_permissions(
            region=config.region,
            model_bucket_arn=model_bucket.outputs["arn"],
            model_prefixes=SERVING_MODEL_PREFIXES,
            audit_bucket_arn=audit_bucket.outputs["arn"],
            audit_prefix="audit/",
            gateway_keys_secret_arn=secret.outputs["arn"],
            kms_key_arn=key.outputs["arn"],
            state_connect_arn=_state_connect_arn(graph),
        ), role.urn
        assert association.inputs == {
            "clusterName": cluster.outputs["name"],
            "namespace": namespace,
            "serviceAccount": SERVING_SERVICE_ACCOUNT,
            "roleArn": role.outputs["arn"],
        }
        assert agent.urn in association.dependencies, "an association without the agent hands out nothing"


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_on_prem_pods_get_no_aws_identity(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    (onprem,) = graph.of_type(project.type_token("OnPremCluster"))
    assert under(graph, onprem, ASSOCIATION) == [] and under(graph, onprem, "aws:iam/role:Role") == []
    namespaces = {r.inputs["namespace"] for r in graph.of_type(ASSOCIATION)}
    assert project.platform_namespace("regulated") not in namespaces
    roles = [r for r in graph.of_type("aws:iam/role:Role") if "regulated" in r.name]
    assert roles == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_serving_role_names_no_wildcard(rendered: Render, environment: str) -> None:
    for role in rendered(environment).of_type("aws:iam/role:Role"):
        if (role.inputs.get("tags") or {}).get(project.tag("workload")) != "ray-serving":
            continue
        for statement in json.loads(role.inputs["inlinePolicies"][0]["policy"])["Statement"]:
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
            assert not any("*" in action for action in actions), role.urn
            assert not any(wildcard_resource(resource) for resource in resources), role.urn


@pytest.mark.parametrize(
    ("resource", "wildcard"),
    [
        ("arn:aws:s3:::models/llm/*", False),
        ("arn:aws:s3:::models/llm/qwen/*", False),
        ("arn:aws:kms:us-east-1:1:key/k", False),
        ("*", True),
        ("arn:aws:s3:::models/*", True),
        ("arn:aws:s3:::*/llm/*", True),
        ("arn:aws:s3:::models/ll*/*", True),
        ("arn:aws:secretsmanager:us-east-1:1:secret:*", True),
    ],
)
def test_only_an_object_key_prefix_may_end_in_a_wildcard(resource: str, wildcard: bool) -> None:
    assert wildcard_resource(resource) is wildcard


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model_prefixes", (), r"model_prefixes: name at least one prefix"),
        ("model_prefixes", ("llm",), r"model_prefixes\[0\]: 'llm' must be a key prefix ending in '/'"),
        ("model_prefixes", ("llm/", "*/"), r"model_prefixes\[1\]: '\*/' must be a key prefix"),
        ("audit_prefix", "", r"audit_prefix: '' must be a key prefix"),
    ],
)
def test_bad_prefixes_are_refused_naming_the_field(field: str, value: object, message: str) -> None:
    args: dict[str, object] = {
        "region": "us-east-1",
        "cluster_name": "c",
        "cluster_arn": "arn:aws:eks:us-east-1:1:cluster/c",
        "namespace": project.platform_namespace("public"),
        "model_bucket_arn": "arn:aws:s3:::m",
        "audit_bucket_arn": "arn:aws:s3:::a",
        "gateway_keys_secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:k",
        "kms_key_arn": "arn:aws:kms:us-east-1:1:key/k",
        "pod_identity_agent": object(),
        field: value,
    }
    with pytest.raises(ValueError, match=message):
        ServingIdentityArgs(**args)  # type: ignore[arg-type]
