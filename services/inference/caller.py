"""Who is asking: the caller's tenant and data class, as the safety gateway hands them to the serving layer.

The gateway authenticates the API key, drops any of these headers a client sent (a client never
chooses its own clearance) and sets both from the key's tenant and that tenant's configured
`data_class` (services/gateway/asgi.py `caller_scope`). The serving layer reads them here and
turns them into the retriever's `PassageFilter`, so RAG queries and the passages a chat answer
is grounded in come only from documents for that tenant (or every tenant) cleared for its data
class. Without the headers (no gateway in front: `bentoml serve`, an ungated test application)
retrieval is not filtered: there is no authenticated caller to filter for.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from platform_facts.project import PROJECT_NAME
from services.data.index_store import PassageFilter
from services.data.metadata import DataClass, TenantName

__all__ = ["CALLER_HEADERS", "DATA_CLASS_HEADER", "TENANT_HEADER", "Caller", "passage_filter_for"]

TENANT_HEADER = f"x-{PROJECT_NAME}-tenant"
DATA_CLASS_HEADER = f"x-{PROJECT_NAME}-data-class"
CALLER_HEADERS = (TENANT_HEADER, DATA_CLASS_HEADER)


class Caller(BaseModel):
    """The caller's identity headers, validated; each error names the header at fault."""

    # By header name from a request; by field name where the gateway states the caller.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=True)

    tenant: TenantName = Field(alias=TENANT_HEADER)
    """The tenant of the API key the gateway authenticated."""
    data_class: DataClass = Field(alias=DATA_CLASS_HEADER)
    """That tenant's data class (services/gateway/config.py `TenantConfig.data_class`)."""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Caller | None:
        """The caller `headers` name (looked up in lower case, as ASGI servers deliver them); None
        when they name none. A bad or missing one of the pair raises pydantic's ValidationError,
        which the HTTP edge answers with 400 naming the header (the gateway always sends both)."""
        named = {name: headers[name] for name in CALLER_HEADERS if name in headers}
        return cls.model_validate(named) if named else None

    def passage_filter(self) -> PassageFilter:
        """The retriever's filter for this caller."""
        return PassageFilter(tenant=self.tenant, data_class=self.data_class)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """As the gateway sends them to the serving layer (ASGI header pairs)."""
        return [(TENANT_HEADER.encode(), self.tenant.encode()), (DATA_CLASS_HEADER.encode(), self.data_class.encode())]


def passage_filter_for(headers: Mapping[str, str]) -> PassageFilter | None:
    """The filter for the caller `headers` name; None (retrieval unfiltered) when no gateway named one."""
    caller = Caller.from_headers(headers)
    return caller.passage_filter() if caller else None
