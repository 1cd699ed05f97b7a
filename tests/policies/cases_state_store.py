"""Per-rule cases for the state store's databases: RDS deletion protection and TLS, CloudNativePG replicas."""

from __future__ import annotations

from typing import Any

from platform_facts import project
from tests.policies.cases_datastores import rds_instance
from tests.policies.harness import DELETE, Mutation, RuleCases

RDS_INSTANCE = "aws:rds/instance:Instance"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"

PROTECTION = "RDS instance subject must have deletion protection on (deletionProtection)."
TLS = "RDS parameter group subject must require TLS (rds.force_ssl = 1)."
INSTANCES = "CloudNativePG cluster subject must run at least 2 instances (spec.instances)."
SUPERUSER = "CloudNativePG cluster subject must not enable superuser access (spec.enableSuperuserAccess)."


def protected_instance() -> dict[str, Any]:
    return {**rds_instance(), "deletionProtection": True}


def parameter_group() -> dict[str, Any]:
    return {"family": "postgres16", "parameters": [{"name": "log_connections", "value": "1"},
                                                   {"name": "rds.force_ssl", "value": "1"}]}


def cnpg_cluster() -> dict[str, Any]:
    return {"metadata": {"name": "state", "namespace": f"{project.PROJECT_NAME}-serving"},
            "spec": {"instances": 3, "enableSuperuserAccess": False,
                     "storage": {"storageClass": "local-path", "size": "20Gi"}}}


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
]
