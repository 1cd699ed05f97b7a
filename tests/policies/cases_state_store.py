"""Per-rule cases for the state store's databases: RDS deletion protection and TLS, CloudNativePG replicas, and
deployed gateway configs that name a shared PostgreSQL."""

from __future__ import annotations

from typing import Any

import yaml

from platform_facts import project
from tests.policies.cases_datastores import rds_instance
from tests.policies.harness import DELETE, Mutation, RuleCases

RDS_INSTANCE = "aws:rds/instance:Instance"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"

PROTECTION = "RDS instance subject must have deletion protection on (deletionProtection)."
TLS = "RDS parameter group subject must require TLS (rds.force_ssl = 1)."
INSTANCES = "CloudNativePG cluster subject must run at least 2 instances (spec.instances)."
SUPERUSER = "CloudNativePG cluster subject must not enable superuser access (spec.enableSuperuserAccess)."
UNSHARED = ("Gateway config subject must name a state store every replica shares (state.url: postgresql+psycopg://...), "
            "not a SQLite file on each pod's disk.")
PASSWORD = ("Gateway config subject must not hold the database password in state.url (IAM tokens on RDS, a Secret as "
            "PGPASSWORD on site).")
NO_IAM = "Gateway config subject must log in to RDS with IAM tokens (state.aws_iam_region)."
RDS_URL = f"postgresql+psycopg://{project.METRIC_PREFIX}_gateway@state.c0a1b2.us-east-1.rds.amazonaws.com:5432/db"


def protected_instance() -> dict[str, Any]:
    return {**rds_instance(), "deletionProtection": True}


def parameter_group() -> dict[str, Any]:
    return {"family": "postgres16", "parameters": [{"name": "log_connections", "value": "1"},
                                                   {"name": "rds.force_ssl", "value": "1"}]}


def cnpg_cluster() -> dict[str, Any]:
    return {"metadata": {"name": "state", "namespace": f"{project.PROJECT_NAME}-serving"},
            "spec": {"instances": 3, "enableSuperuserAccess": False,
                     "storage": {"storageClass": "local-path", "size": "20Gi"}}}


def _gateway_yaml(state: dict[str, Any] | None) -> dict[str, str]:
    document: dict[str, Any] = {"environment": "prod", "routes": {}}
    if state is not None:
        document["state"] = state
    return {"gateway.yaml": yaml.safe_dump(document)}


def gateway_config_map() -> dict[str, Any]:
    return {"metadata": {"name": "gateway-config", "namespace": f"{project.PROJECT_NAME}-public"},
            "data": _gateway_yaml({"url": RDS_URL, "aws_iam_region": "us-east-1"})}


CASES = [
    RuleCases(
        "rds-deletion-protection",
        RDS_INSTANCE,
        protected_instance,
        (Mutation.one("deletionProtection", False, PROTECTION),),
        Mutation("deletionProtection", DELETE, (PROTECTION,)),
        "deletionProtection",
    ),
    RuleCases(
        "rds-postgres-tls-required",
        PARAMETER_GROUP,
        parameter_group,
        (
            Mutation.one("parameters.1.value", "0", TLS),
            Mutation.one("parameters", [{"name": "log_connections", "value": "1"}], TLS),
        ),
        Mutation("parameters", DELETE, (TLS,)),
        "family",
    ),
    RuleCases(
        "cnpg-cluster-replicated",
        CNPG_CLUSTER,
        cnpg_cluster,
        (
            Mutation.one("spec.instances", 1, INSTANCES),
            Mutation.one("spec.enableSuperuserAccess", True, SUPERUSER),
        ),
        Mutation("spec.instances", DELETE, (INSTANCES,)),
        "spec.instances",
    ),
    RuleCases(
        "gateway-shared-state",
        CONFIG_MAP,
        gateway_config_map,
        (
            Mutation.one("data", _gateway_yaml(None), UNSHARED),
            Mutation.one("data", _gateway_yaml({"url": "sqlite:////var/lib/state.sqlite"}), UNSHARED),
            Mutation.one("data", {"gateway.yaml": "state: [not, a, mapping"}, UNSHARED),
            Mutation.one("data", _gateway_yaml({"url": RDS_URL}), NO_IAM),
            Mutation.one("data", _gateway_yaml({"url": RDS_URL.replace("_gateway@", "_gateway:hunter2@"),
                                                "aws_iam_region": "us-east-1"}), PASSWORD),
        ),
        Mutation("data", DELETE, (UNSHARED,)),
        "data",
    ),
]
