"""Where each environment's gateways keep their shared state, as the committed stacks plan it.

Rendered under Pulumi mocks (the cloud and the clusters cannot run here; the mocks compute what RDS would:
address, resource id, the managed master secret). Cloud: one RDS PostgreSQL per environment, in the private
subnets, reachable from them only, its URL in every cloud gateway config with IAM-token login, the serving
role allowed `rds-db:connect` as the gateway's user only, and a Job that creates that user from the master
secret no other role can read. On-prem: a CloudNativePG cluster in the platform's namespace, or a site's
server; the password reaches the pods from a Secret, never through a config. Local stays on SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.network import plan_subnets
from components.postgres import StateDatabaseSettings
from components.postgres_bootstrap import BOOTSTRAP_NAMESPACE, BOOTSTRAP_SERVICE_ACCOUNT
from platform_facts import project
from services.gateway.config import load_gateway_config, parse_gateway_config
from stacks.config import ConfigError, load_stack_config, read_stack_file
from stacks.plan import PlanGraph, PlannedResource, render
from tests.stacks.helpers import component, under

Render = Callable[[str], PlanGraph]
ENVIRONMENTS = ("dev", "staging", "prod")
RDS_INSTANCE = "aws:rds/instance:Instance"
RAY_SERVICE = "kubernetes:ray.io/v1:RayService"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
GATEWAY_USER = f"{project.METRIC_PREFIX}_gateway"


def _database(graph: PlanGraph) -> PlannedResource:
    (instance,) = graph.of_type(RDS_INSTANCE)
    return instance


def _platform(graph: PlanGraph, name: str) -> PlannedResource:
    (platform,) = [p for p in graph.of_type(project.type_token("InferencePlatform")) if p.name.endswith(f"-{name}")]
    return platform


def _gateway_config(graph: PlanGraph, platform: str) -> dict[str, Any]:
    (config_map,) = [c for c in under(graph, _platform(graph, platform), "kubernetes:core/v1:ConfigMap")
                     if c.inputs["metadata"]["name"] == "gateway-config"]
    document: dict[str, Any] = yaml.safe_load(config_map.inputs["data"]["gateway.yaml"])
    return document


def _pod_env(graph: PlanGraph, platform: str) -> list[list[dict[str, Any]]]:
    (service,) = under(graph, _platform(graph, platform), RAY_SERVICE)
    cluster = service.inputs["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"], *(group["template"] for group in cluster["workerGroupSpecs"])]
    return [template["spec"]["containers"][0]["env"] for template in templates]


def _statements(role: PlannedResource) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(role.inputs["inlinePolicies"][0]["policy"])["Statement"]
    return statements


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_cloud_database_sits_in_the_private_subnets_and_admits_only_them(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    config = load_stack_config(*read_stack_file(environment))
    instance = _database(graph)
    database = component(graph, project.type_token("StateDatabase"))
    assert instance.parent == database.urn
    private = sorted(s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if s.name.split("-")[-2] == "private")
    (subnets,) = under(graph, database, "aws:rds/subnetGroup:SubnetGroup")
    assert sorted(subnets.inputs["subnetIds"]) == private and len(private) == config.network.availability_zones
    (group,) = under(graph, database, "aws:ec2/securityGroup:SecurityGroup")
    (ingress,) = group.inputs["ingress"]
    assert ingress["cidrBlocks"] == list(plan_subnets(config.network.cidr, config.network.availability_zones).private)
    assert (ingress["fromPort"], ingress["toPort"]) == (5432, 5432) and group.inputs["egress"] == []
    assert instance.inputs["publiclyAccessible"] is False and instance.inputs["storageEncrypted"] is True
    (key,) = graph.of_type("aws:kms/key:Key")
    assert instance.inputs["kmsKeyId"] == key.outputs["arn"] == instance.inputs["masterUserSecretKmsKeyId"]
    assert instance.inputs["iamDatabaseAuthenticationEnabled"] is True
    assert instance.inputs["backupRetentionPeriod"] == config.state_database.backup_retention_days


def test_prod_protects_its_database_and_dev_can_tear_it_down(rendered: Render) -> None:
    prod, staging, dev = (_database(rendered(env)) for env in ("prod", "staging", "dev"))
    for protected in (prod, staging):
        assert protected.inputs["deletionProtection"] is True and protected.protect, protected.urn
        assert protected.inputs["skipFinalSnapshot"] is False and protected.inputs["finalSnapshotIdentifier"]
    assert prod.inputs["multiAz"] is True and prod.inputs["backupRetentionPeriod"] >= 14
    assert dev.inputs["deletionProtection"] is False and not dev.protect and dev.inputs["skipFinalSnapshot"] is True


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_cloud_gateway_shares_the_database_and_logs_in_with_iam_tokens(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    instance = _database(graph)
    state = _gateway_config(graph, "public")["state"]
    assert state == {
        "url": f"postgresql+psycopg://{GATEWAY_USER}@{instance.outputs['address']}:5432/{project.METRIC_PREFIX}"
               "?sslmode=require",
        "aws_iam_region": load_stack_config(*read_stack_file(environment)).region,
    }
    parsed = parse_gateway_config(_gateway_config(graph, "public"), f"{environment} gateway config")
    assert parsed.state.url == state["url"] and parsed.state.aws_iam_region == state["aws_iam_region"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_serving_role_may_connect_as_the_gateway_user_only(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    instance = _database(graph)
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.name.endswith("-public-identity-serving-role")]
    connects = [s for s in _statements(role) if "rds-db:connect" in json.dumps(s["Action"])]
    region, account = instance.outputs["arn"].split(":")[3:5]
    assert connects == [{
        "Sid": "ConnectToStateDatabase", "Effect": "Allow", "Action": "rds-db:connect",
        "Resource": f"arn:aws:rds-db:{region}:{account}:dbuser:{instance.outputs['resourceId']}/{GATEWAY_USER}",
    }]
    master_secret = instance.outputs["masterUserSecrets"][0]["secretArn"]
    assert master_secret not in role.inputs["inlinePolicies"][0]["policy"], "the pods must not read the master password"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_job_creates_the_gateway_user_from_the_master_secret(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    instance = _database(graph)
    bootstrap = component(graph, project.type_token("StateRoleBootstrap"))
    (job,) = under(graph, bootstrap, "kubernetes:batch/v1:Job")
    master_secret = instance.outputs["masterUserSecrets"][0]["secretArn"]
    spec = job.inputs["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    command = container["command"]
    assert command[:3] == ["python", "-m", "services.state.rds_roles"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options == {"--host": instance.outputs["address"], "--port": "5432", "--database": project.METRIC_PREFIX,
                       "--user": GATEWAY_USER, "--master-secret-arn": master_secret,
                       "--region": load_stack_config(*read_stack_file(environment)).region}
    (service,) = under(graph, _platform(graph, "public"), RAY_SERVICE)
    assert container["image"] == service.inputs["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"][
        "containers"][0]["image"], "the Job runs the serving image's own module"
    assert job.inputs["metadata"]["namespace"] == BOOTSTRAP_NAMESPACE
    assert spec["serviceAccountName"] == BOOTSTRAP_SERVICE_ACCOUNT and spec["automountServiceAccountToken"] is False
    (role,) = under(graph, bootstrap, "aws:iam/role:Role")
    (key,) = graph.of_type("aws:kms/key:Key")
    assert {(s["Action"], s["Resource"]) for s in _statements(role)} == {
        ("secretsmanager:GetSecretValue", master_secret), ("kms:Decrypt", key.outputs["arn"])}
    (association,) = under(graph, bootstrap, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        BOOTSTRAP_NAMESPACE, BOOTSTRAP_SERVICE_ACCOUNT)
    readers = [r.urn for r in graph.of_type("aws:iam/role:Role") if master_secret in json.dumps(r.inputs)]
    assert readers == [role.urn], "only the bootstrap Job's role may read the master secret"


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_on_prem_gateways_share_a_cloudnativepg_cluster_in_their_namespace(rendered: Render, environment: str) -> None:
    graph = rendered(environment)
    config = load_stack_config(*read_stack_file(environment))
    namespace = project.platform_namespace("regulated")
    database = component(graph, project.type_token("OnPremStateDatabase"))
    (cluster,) = under(graph, database, CNPG_CLUSTER)
    name = cluster.inputs["metadata"]["name"]
    assert cluster.inputs["metadata"]["namespace"] == namespace and cluster.protect
    assert cluster.inputs["spec"]["instances"] == config.onprem_state_database.instances >= 2
    (platform_namespace,) = under(graph, _platform(graph, "regulated"), "kubernetes:core/v1:Namespace")
    assert platform_namespace.urn in cluster.dependencies, "the cluster must wait for the namespace it lives in"
    state = _gateway_config(graph, "regulated")["state"]
    assert state == {"url": f"postgresql+psycopg://{GATEWAY_USER}@{name}-rw.{namespace}.svc:5432/"
                            f"{project.METRIC_PREFIX}?sslmode=require"}
    for env in _pod_env(graph, "regulated"):
        assert {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": f"{name}-app", "key": "password"}}} in env
    (operator,) = under(graph, database, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert operator.inputs["spec"]["podSelector"] == {"matchLabels": {"cnpg.io/cluster": name}}
    assert [p["port"] for p in operator.inputs["spec"]["ingress"][0]["ports"]] == [8000, 5432]
    assert not [e for env in _pod_env(graph, "public") for e in env if e["name"] == "PGPASSWORD"]


def test_an_existing_site_database_is_used_as_named_and_nothing_is_created() -> None:
    values, secrets = read_stack_file("staging")
    existing = f"postgresql+psycopg://{GATEWAY_USER}@pg.site.example:5432/{project.METRIC_PREFIX}?sslmode=verify-full"
    values[project.config_key("onprem_state_database")] = json.dumps(
        {"existing_url": existing, "password_secret": "site-postgres"})
    graph = render(values, secrets)
    assert graph.of_type(CNPG_CLUSTER) == []
    assert _gateway_config(graph, "regulated")["state"] == {"url": existing}
    for env in _pod_env(graph, "regulated"):
        assert {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "site-postgres", "key": "password"}}} in env


def test_a_site_database_url_with_a_password_or_without_its_secret_is_refused_by_key() -> None:
    values, secrets = read_stack_file("staging")
    key = project.config_key("onprem_state_database")
    url = f"postgresql+psycopg://{GATEWAY_USER}@pg.site:5432/db"
    values[key] = json.dumps({"existing_url": url})
    with pytest.raises(ConfigError, match=f"{key}: .*password_secret: required with existing_url"):
        load_stack_config(values, secrets)
    values[key] = json.dumps({"existing_url": url.replace("_gateway@", "_gateway:pw@"), "password_secret": "s"})
    with pytest.raises(ConfigError, match=f"{key}: .*existing_url: must not hold a password"):
        load_stack_config(values, secrets)


def test_a_protected_environment_keeps_its_state_database_protected() -> None:
    values, secrets = read_stack_file("prod")
    key = project.config_key("state_database")
    values[key] = json.dumps({"deletion_protection": False})
    with pytest.raises(ConfigError, match=r"state_database.deletion_protection: must stay on where deletion_protection"):
        load_stack_config(values, secrets)
    assert StateDatabaseSettings().deletion_protection is True


def test_local_stays_on_the_embedded_sqlite_store() -> None:
    assert load_gateway_config("local").state.url is None
