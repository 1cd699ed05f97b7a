"""`OnPremStateDatabase`: the state store of an on-prem environment, where regulated data stays.

Either a CloudNativePG `Cluster` in the inference platform's namespace (the CloudNativePG operator must
be installed in the cluster, in `operator_namespace`), or an existing PostgreSQL the settings name, in
which case no database is created and the URL is passed on as given. Either way the password never
enters the gateway config: the URL names no password, and the platform's pods get `PGPASSWORD` from a
Kubernetes Secret (`password_secret`, key `password`), which libpq reads when the URL has none.
CloudNativePG writes that Secret itself (`<name>-app`); for an existing server operators do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, model_validator

from components.settings import settings_dataclass
from platform_facts.project import METRIC_PREFIX, type_token

__all__ = [
    "OnPremStateDatabase",
    "OnPremStateDatabaseArgs",
    "OnPremStateDatabaseSettings",
    "onprem_password_secret",
    "onprem_state_url",
]

CNPG_OPERATOR_PORTS = (8000, 5432)
"""The instance manager's status port and PostgreSQL: what CloudNativePG's operator connects to."""


@settings_dataclass
class OnPremStateDatabaseSettings:
    """What an on-prem environment chooses about its state database."""

    existing_url: str | None = None
    """`postgresql+psycopg://...` of a PostgreSQL the site already runs; when set, no cluster is created."""
    instances: Annotated[int, Field(ge=1, le=9)] = 3
    """CloudNativePG instances: one primary, the rest streaming replicas it fails over to."""
    storage_class: str = "local-path"
    storage_gb: Annotated[int, Field(ge=1)] = 20
    database: str = METRIC_PREFIX
    owner: str = f"{METRIC_PREFIX}_gateway"
    """The role the gateway logs in as; it owns the database and creates the schema (Alembic) on start."""
    operator_namespace: str = "cnpg-system"
    """Where the CloudNativePG operator runs: it alone may reach the instances' status port from outside."""
    password_secret: str | None = None
    """With `existing_url`: the Kubernetes Secret (key `password`) in the platform's namespace holding the
    password of the URL's user. Without it: CloudNativePG's own `<name>-app` Secret."""

    @model_validator(mode="after")
    def _url_is_postgres(self) -> OnPremStateDatabaseSettings:
        if self.existing_url is None:
            return self
        if not self.existing_url.startswith("postgresql+psycopg://"):
            raise ValueError("existing_url: must start with postgresql+psycopg://")
        if urlsplit(self.existing_url).password is not None:
            raise ValueError("existing_url: must not hold a password (committed config): name password_secret instead")
        if self.password_secret is None:
            raise ValueError("password_secret: required with existing_url (the Secret holding the user's password)")
        return self


@dataclass(frozen=True)
class OnPremStateDatabaseArgs:
    namespace: str
    """Where the Cluster runs: the gateway's namespace (its Service is reached in-cluster only, and a pod can
    read only Secrets of its own namespace)."""
    settings: OnPremStateDatabaseSettings = field(default_factory=OnPremStateDatabaseSettings)
    labels: Mapping[str, str] = field(default_factory=dict)


def onprem_state_url(name: str, namespace: str, settings: OnPremStateDatabaseSettings) -> str:
    """The gateway config's `state.url` (pure): the existing server's, or the Cluster's read-write Service."""
    if settings.existing_url is not None:
        return settings.existing_url
    return f"postgresql+psycopg://{settings.owner}@{name}-rw.{namespace}.svc:5432/{settings.database}?sslmode=require"


def onprem_password_secret(name: str, settings: OnPremStateDatabaseSettings) -> str:
    """The Secret whose `password` key logs the gateway in (pure): the site's, or CloudNativePG's `<name>-app`."""
    return settings.password_secret if settings.existing_url is not None and settings.password_secret else f"{name}-app"


class OnPremStateDatabase(pulumi.ComponentResource):
    """Outputs: `url` (the gateway config's `state.url`, no password in it), `password_secret` (the Secret
    whose `password` key the platform's pods get as PGPASSWORD)."""

    url: pulumi.Output[str]
    password_secret: str

    def __init__(self, name: str, args: OnPremStateDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("OnPremStateDatabase"), name, None, opts)
        settings = args.settings
        self.url = pulumi.Output.from_input(onprem_state_url(name, args.namespace, settings))
        self.password_secret = onprem_password_secret(name, settings)
        if settings.existing_url is None:
            # Children wait for what the component waits for (the namespace they are created in), explicitly.
            waits = opts.depends_on if opts is not None else None
            spec: dict[str, Any] = {
                "instances": settings.instances,
                "enableSuperuserAccess": False,
                "storage": {"storageClass": settings.storage_class, "size": f"{settings.storage_gb}Gi"},
                "bootstrap": {"initdb": {"database": settings.database, "owner": settings.owner}},
                "postgresql": {"parameters": {"log_connections": "on", "log_statement": "ddl"}},
                # Replicas on different nodes: losing one node loses no committed write.
                "affinity": {"enablePodAntiAffinity": True, "podAntiAffinityType": "required"},
                "minSyncReplicas": 1 if settings.instances > 1 else 0,
                "maxSyncReplicas": 1 if settings.instances > 1 else 0,
            }
            metadata = {"namespace": args.namespace, "labels": dict(args.labels)}
            k8s.apiextensions.CustomResource(
                f"{name}-cluster", api_version="postgresql.cnpg.io/v1", kind="Cluster",
                metadata={**metadata, "name": name}, spec=spec,
                opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=waits),
            )
            # The namespace denies ingress from other namespaces; the operator must reach every instance.
            k8s.networking.v1.NetworkPolicy(
                f"{name}-allow-operator",
                metadata={**metadata, "name": f"{name}-allow-cnpg-operator"},
                spec={
                    "podSelector": {"matchLabels": {"cnpg.io/cluster": name}},
                    "policyTypes": ["Ingress"],
                    "ingress": [{
                        "from": [{"namespaceSelector": {"matchLabels": {
                            "kubernetes.io/metadata.name": settings.operator_namespace}}}],
                        "ports": [{"protocol": "TCP", "port": port} for port in CNPG_OPERATOR_PORTS],
                    }],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=waits),
            )
        self.register_outputs({"url": self.url, "password_secret": self.password_secret})
