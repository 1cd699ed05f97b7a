"""`StateDatabase` (RDS PostgreSQL) and `OnPremStateDatabase` (CloudNativePG or an existing server) rendered
under Pulumi mocks (the AWS and Kubernetes providers cannot run here), and checked by the policy pack's
data-store rules like any stack resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.proxy import unknown_checking_proxy

from components.postgres import StateDatabase, StateDatabaseArgs, StateDatabaseSettings, state_url
from components.postgres_onprem import OnPremStateDatabase, OnPremStateDatabaseArgs, OnPremStateDatabaseSettings
from components.settings import SettingsError
from platform_facts import project
from policy_rules.pack import policies_by_domain
from stacks.config import StackConfig, read_stack_file
from stacks.plan import PlanGraph, render
from tests.policies.harness import policy_resource_options

# The database and the user the gateway connects as: Postgres names allow no `-`, so they use the metric prefix.
DATABASE = project.METRIC_PREFIX
GATEWAY_USER = f"{DATABASE}_gateway"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _render(settings: StateDatabaseSettings) -> PlanGraph:
    values, secrets = read_stack_file("dev")

    def program(_: StackConfig) -> None:
        StateDatabase("state", StateDatabaseArgs(vpc_id="vpc-1", private_subnet_ids=["subnet-a", "subnet-b"],
                                                 client_cidrs=["10.0.32.0/19"], kms_key_arn=KEY, settings=settings))

    return render(values, secrets, program=program)


def _only(graph: PlanGraph, type_token: str) -> Any:
    (resource,) = graph.of_type(type_token)
    return resource


def test_the_database_is_private_encrypted_iam_authenticated_and_backed_up() -> None:
    graph = _render(StateDatabaseSettings())
    db = _only(graph, "aws:rds/instance:Instance")
    inputs = db.inputs
    assert (inputs["engine"], inputs["publiclyAccessible"], inputs["storageEncrypted"], inputs["kmsKeyId"]) == (
        "postgres", False, True, KEY)
    assert inputs["iamDatabaseAuthenticationEnabled"] is True and inputs["manageMasterUserPassword"] is True
    assert inputs["masterUserSecretKmsKeyId"] == KEY and inputs["performanceInsightsKmsKeyId"] == KEY
    assert inputs["backupRetentionPeriod"] == 7
    assert inputs["deletionProtection"] is True and inputs["skipFinalSnapshot"] is False and db.protect
    subnets = _only(graph, "aws:rds/subnetGroup:SubnetGroup")
    assert subnets.inputs["subnetIds"] == ["subnet-a", "subnet-b"]
    group = _only(graph, "aws:ec2/securityGroup:SecurityGroup")
    assert group.inputs["ingress"] == [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432,
                                        "cidrBlocks": ["10.0.32.0/19"]}]
    assert group.inputs["egress"] == []
    parameters = {p["name"]: p["value"] for p in _only(graph, "aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]}
    assert parameters["rds.force_ssl"] == "1"


def test_without_deletion_protection_dev_can_tear_it_down() -> None:
    db = _only(_render(StateDatabaseSettings(deletion_protection=False)), "aws:rds/instance:Instance")
    assert db.inputs["deletionProtection"] is False and db.inputs["skipFinalSnapshot"] is True and not db.protect


def test_the_pack_passes_the_database() -> None:
    """Every data-store rule of the policy pack, over the instance as planned (settings at their defaults)."""
    db = _only(_render(StateDatabaseSettings()), "aws:rds/instance:Instance")
    messages: list[str] = []
    checked = 0
    for policy in policies_by_domain()["datastores"]:
        assert isinstance(policy, ResourceValidationPolicy)
        defaults = {key: value["default"] for key, value in (policy.config_schema.properties or {}).items()} if (
            policy.config_schema) else {}
        args = ResourceValidationArgs(db.type, unknown_checking_proxy(db.inputs), db.urn, "state-db",
                                      policy_resource_options(), None, defaults)
        policy.validate(args, _collect(messages))
        checked += 1
    assert checked >= 4 and messages == []


def test_bad_args_and_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^private_subnet_ids: RDS needs at least two subnets"):
        StateDatabaseArgs(vpc_id="v", private_subnet_ids=["a"], client_cidrs=["10.0.0.0/8"], kms_key_arn=KEY)
    with pytest.raises(ValueError, match=r"^client_cidrs: name the subnets"):
        StateDatabaseArgs(vpc_id="v", private_subnet_ids=["a", "b"], client_cidrs=[], kms_key_arn=KEY)
    with pytest.raises(SettingsError, match="backup_retention_days"):
        StateDatabaseSettings(backup_retention_days=0)
    with pytest.raises(SettingsError, match="existing_url: must start with postgresql"):
        OnPremStateDatabaseSettings(existing_url="mysql://db/x")


def test_the_url_the_gateway_config_gets() -> None:
    assert state_url("db.internal", 5432, DATABASE, GATEWAY_USER) == (
        f"postgresql+psycopg://{GATEWAY_USER}@db.internal:5432/{DATABASE}?sslmode=require")


def _render_onprem(settings: OnPremStateDatabaseSettings) -> PlanGraph:
    values, secrets = read_stack_file("dev")

    def program(_: StackConfig) -> None:
        OnPremStateDatabase("state", OnPremStateDatabaseArgs(namespace=f"{project.PROJECT_NAME}-serving", settings=settings))

    return render(values, secrets, program=program)


def test_on_prem_runs_a_cloudnativepg_cluster_with_synchronous_replicas() -> None:
    cluster = _only(_render_onprem(OnPremStateDatabaseSettings()), "kubernetes:postgresql.cnpg.io/v1:Cluster")
    spec = cluster.inputs["spec"]
    assert spec["instances"] == 3 and spec["enableSuperuserAccess"] is False
    assert (spec["minSyncReplicas"], spec["maxSyncReplicas"]) == (1, 1)
    assert spec["bootstrap"]["initdb"] == {"database": DATABASE, "owner": GATEWAY_USER}
    assert cluster.inputs["metadata"]["namespace"] == f"{project.PROJECT_NAME}-serving" and cluster.protect


def test_on_prem_with_an_existing_server_creates_nothing() -> None:
    graph = _render_onprem(OnPremStateDatabaseSettings(existing_url=f"postgresql+psycopg://gw@pg.site:5432/{DATABASE}",
                                                       password_secret="site-postgres"))
    assert graph.of_type("kubernetes:postgresql.cnpg.io/v1:Cluster") == []
    assert graph.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") == []


def _collect(messages: list[str]) -> Callable[..., None]:
    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    return report
