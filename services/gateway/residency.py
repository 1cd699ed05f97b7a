"""Residency: a regulated tenant's requests reach on-prem model versions only, or are refused.

A regulated tenant is served by the on-prem platform's gateway. A gateway with no on-prem version
for a route (every cloud gateway) refuses such a request with 403 `data_residency` at admission,
before the body is read: the text is never scanned, queued for review or sent anywhere here, and the
refusal is audited like any other answer. Routing applies the same rule to the versions it draws
from (the promotion controller's weights can name versions the route's config does not).
"""

from __future__ import annotations

from services.gateway.config import GatewayConfig, RouteConfig
from services.gateway.errors import ResidencyError

__all__ = ["eligible", "require_residency", "residency_refusal"]


def eligible(config: GatewayConfig, model_version: str, regulated: bool) -> bool:
    """Whether a request of this data class may be sent to the model version."""
    return not regulated or config.model_versions[model_version].location == "on_prem"


def residency_refusal(route: RouteConfig, tenant: str | None = None) -> ResidencyError:
    who = f"tenant {tenant!r}" if tenant else "a regulated tenant"
    return ResidencyError(
        f"{who} holds regulated data and is served by the on-prem gateway only: no on-prem model version "
        f"serves {route.path} on this gateway, and regulated data is never sent to the cloud",
        data_class="regulated", served_by="on_prem", route=route.path,
        **({"tenant": tenant} if tenant else {}),
    )


def require_residency(config: GatewayConfig, route: RouteConfig, tenant: str) -> None:
    """Raises ResidencyError (403) when `tenant` is regulated and none of the route's versions is on-prem."""
    settings = config.tenants.get(tenant)
    regulated = settings is not None and settings.data_class == "regulated"
    if regulated and not any(eligible(config, version.model_version, True) for version in route.versions):
        raise residency_refusal(route, tenant)
