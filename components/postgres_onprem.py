"""`OnPremStateDatabase`: the state store of an on-prem environment, where regulated data stays.

Either a CloudNativePG `Cluster` in the serving cluster (the CloudNativePG operator must be installed
there), or an existing PostgreSQL the settings name, in which case nothing is created and the URL is
passed on as given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, model_validator

from components.settings import settings_dataclass
from platform_facts.project import METRIC_PREFIX, type_token

__all__ = ["OnPremStateDatabase", "OnPremStateDatabaseArgs", "OnPremStateDatabaseSettings"]


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

    @model_validator(mode="after")
    def _url_is_postgres(self) -> OnPremStateDatabaseSettings:
        if self.existing_url is not None and not self.existing_url.startswith("postgresql+psycopg://"):
            raise ValueError("existing_url: must start with postgresql+psycopg://")
        return self


@dataclass(frozen=True)
class OnPremStateDatabaseArgs:
    namespace: pulumi.Input[str]
    """Where the Cluster runs (the gateway's namespace: its Service is reached in-cluster only)."""
    settings: OnPremStateDatabaseSettings = field(default_factory=OnPremStateDatabaseSettings)


class OnPremStateDatabase(pulumi.ComponentResource):
    """Outputs: `url` (the gateway config's `state.url`; the password comes from the `<name>-app` Secret
    CloudNativePG writes, mounted into the gateway as PGPASSWORD)."""

    url: pulumi.Output[str]

    def __init__(self, name: str, args: OnPremStateDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("OnPremStateDatabase"), name, None, opts)
        settings = args.settings
        if settings.existing_url is not None:
            self.url = pulumi.Output.from_input(settings.existing_url)
        else:
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
            k8s.apiextensions.CustomResource(
                f"{name}-cluster", api_version="postgresql.cnpg.io/v1", kind="Cluster",
                metadata={"name": name, "namespace": args.namespace}, spec=spec,
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            self.url = pulumi.Output.from_input(args.namespace).apply(
                lambda namespace: f"postgresql+psycopg://{settings.owner}@{name}-rw.{namespace}.svc:5432/"
                                  f"{settings.database}?sslmode=require")
        self.register_outputs({"url": self.url})
