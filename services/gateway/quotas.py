"""Rate limits and token quotas per tenant that hold across gateway replicas.

One `QuotaLedger` holds every tenant's token buckets. In a Ray cluster it runs as one named
actor (`rampart-quota-ledger`), shared by all gateway replicas; in a single process (tests, plain
`bentoml serve`) it can live in-process. Asking the actor on every request would add a
round-trip to the hot path, so each replica keeps a `LeasedBucket` per tenant and kind that
leases capacity from the ledger in batches (`quotas.lease_size` requests at a time).

The bound: the ledger never grants more than the bucket holds, so the tenant's total across
all replicas never exceeds its limit. The price is fairness, not safety: up to
`replicas × lease_size` units may sit unused in other replicas' leases for at most
`lease_ttl_s`, during which one replica may answer 429 while another still holds capacity.
Unused leases are handed back to the ledger when they expire.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from platform_facts.project import PROJECT_NAME
from services.gateway.config import QuotaConfig, TenantConfig
from services.gateway.errors import QuotaServiceError, RateLimitedError

__all__ = [
    "HEAD_NODE_RESOURCE",
    "LEDGER_ACTOR_NAME",
    "LEDGER_NAMESPACE",
    "Grant",
    "LeasedBucket",
    "LedgerClient",
    "ProcessLedger",
    "QuotaLedger",
    "RayLedger",
    "TenantQuotas",
    "get_or_create_ray_ledger",
]

LEDGER_ACTOR_NAME = f"{PROJECT_NAME}-quota-ledger"
LEDGER_NAMESPACE = PROJECT_NAME

Kind = Literal["requests", "tokens"]


@dataclass(frozen=True)
class Grant:
    """What the ledger handed out: `granted` units (0 when refused) and, if refused, when to retry."""

    granted: float
    retry_after_s: float = 0.0


@dataclass
class _Bucket:
    level: float
    updated: float


class QuotaLedger:
    """Token buckets for every (tenant, kind). Pure Python; the Ray actor is this class."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def lease(
        self,
        tenant: str,
        kind: str,
        minimum: float,
        wanted: float,
        capacity: float,
        refill_per_s: float,
        returned: float = 0.0,
    ) -> Grant:
        """Grant between `minimum` and `wanted` units, or none and the wait until `minimum` refills.

        `returned` is unused capacity from an expired lease, credited back first.
        """
        now = self._clock()
        bucket = self._buckets.get((tenant, kind))
        if bucket is None:
            bucket = self._buckets[(tenant, kind)] = _Bucket(capacity, now)
        bucket.level = min(capacity, bucket.level + (now - bucket.updated) * refill_per_s + max(returned, 0.0))
        bucket.updated = now
        if bucket.level < minimum:
            return Grant(0.0, (minimum - bucket.level) / refill_per_s)
        granted = min(max(wanted, minimum), bucket.level)
        bucket.level -= granted
        return Grant(granted)


class LedgerClient(Protocol):
    """How a replica reaches the ledger (in-process or the Ray actor)."""

    async def lease(
        self, tenant: str, kind: str, minimum: float, wanted: float, capacity: float,
        refill_per_s: float, returned: float,
    ) -> Grant: ...


class ProcessLedger:
    """The ledger in this process: limits hold within it only."""

    def __init__(self, ledger: QuotaLedger | None = None) -> None:
        self.ledger = ledger or QuotaLedger()
        self.calls = 0

    async def lease(
        self, tenant: str, kind: str, minimum: float, wanted: float, capacity: float,
        refill_per_s: float, returned: float,
    ) -> Grant:
        self.calls += 1
        return self.ledger.lease(tenant, kind, minimum, wanted, capacity, refill_per_s, returned)


class RayLedger:
    """The shared ledger actor, reached with one awaited actor call per lease."""

    def __init__(self, actor: Any, timeout_s: float = 2.0) -> None:
        self._actor = actor
        self._timeout_s = timeout_s
        self.calls = 0

    async def lease(
        self, tenant: str, kind: str, minimum: float, wanted: float, capacity: float,
        refill_per_s: float, returned: float,
    ) -> Grant:
        self.calls += 1
        try:
            ref = self._actor.lease.remote(tenant, kind, minimum, wanted, capacity, refill_per_s, returned)
            grant: Grant = await asyncio.wait_for(ref, timeout=self._timeout_s)
        except Exception as error:
            raise QuotaServiceError(f"quota ledger unreachable: {type(error).__name__}: {error}") from error
        return grant


# Ray gives the head node this resource (and no other node): a fraction of it places an actor there.
HEAD_NODE_RESOURCE = "node:__internal_head__"


def get_or_create_ray_ledger() -> RayLedger:
    """The cluster's one ledger actor (created by whichever replica asks first)."""
    import ray

    actor_class = ray.remote(num_cpus=0, max_restarts=-1)(QuotaLedger)
    actor = actor_class.options(
        name=LEDGER_ACTOR_NAME, namespace=LEDGER_NAMESPACE, lifetime="detached", get_if_exists=True,
        # On the head node, the one node the cluster cannot lose anyway: on a worker, losing that
        # worker refused every request of a fail-closed gateway until Ray had restarted the ledger
        # elsewhere (the rehearsal's worker kill). Ray Train pins its state actor the same way.
        resources={HEAD_NODE_RESOURCE: 0.001},
    ).remote()
    return RayLedger(actor)


@dataclass
class LeasedBucket:
    """A replica's local share of one tenant's bucket (see the module docstring for the bound)."""

    balance: float = 0.0
    expires: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class TenantQuotas:
    """Admits requests and charges tokens for every tenant, leasing from a shared ledger."""

    def __init__(
        self, ledger: LedgerClient, config: QuotaConfig, tenants: dict[str, TenantConfig],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self._config = config
        self._tenants = tenants
        self._clock = clock
        self._buckets: dict[tuple[str, str], LeasedBucket] = {}
        # Typical tokens per request per tenant (moving average), to size token leases.
        self._typical_tokens: dict[str, float] = {}

    def reconfigure(self, config: QuotaConfig, tenants: dict[str, TenantConfig]) -> None:
        self._config = config
        self._tenants = tenants

    async def admit(self, tenant: str, estimated_tokens: int) -> None:
        """Take one request and the estimated tokens, or raise RateLimitedError (429)."""
        limits = self._tenants[tenant]
        await self._take(tenant, "requests", 1, self._config.lease_size, limits.requests_per_minute)
        # Token leases are sized like request leases: lease_size typical requests' worth.
        typical = max(float(estimated_tokens), self._typical_tokens.get(tenant, 0.0))
        await self._take(
            tenant, "tokens", estimated_tokens, typical * self._config.lease_size, limits.tokens_per_minute,
        )

    def settle_tokens(self, tenant: str, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the token charge once the real usage is known (a debt is paid by the next lease)."""
        bucket = self._buckets.setdefault((tenant, "tokens"), LeasedBucket())
        bucket.balance -= actual_tokens - estimated_tokens
        previous = self._typical_tokens.get(tenant, float(actual_tokens))
        self._typical_tokens[tenant] = previous + 0.2 * (actual_tokens - previous)

    async def _take(self, tenant: str, kind: Kind, amount: float, lease: float, per_minute: int) -> None:
        if amount <= 0:
            return
        bucket = self._buckets.setdefault((tenant, kind), LeasedBucket())
        async with bucket.lock:
            now = self._clock()
            if bucket.balance >= amount and now < bucket.expires:
                bucket.balance -= amount
                return
            returned = 0.0
            if now >= bucket.expires and bucket.balance > 0:
                returned, bucket.balance = bucket.balance, 0.0
            debt = max(0.0, -bucket.balance)
            minimum = amount + debt - max(bucket.balance, 0.0)
            capacity = float(per_minute)
            if minimum > capacity:
                raise RateLimitedError(
                    f"tenant {tenant!r}: this request needs {math.ceil(amount)} {kind}, more than the "
                    f"limit of {per_minute} per minute",
                    retry_after_s=60.0, limit=per_minute, kind=kind,
                )
            grant = await self._ledger.lease(
                tenant, kind, minimum, max(lease, minimum), capacity, capacity / 60.0, returned
            )
            if grant.granted <= 0:
                raise RateLimitedError(
                    f"tenant {tenant!r} is over its limit of {per_minute} {kind} per minute",
                    retry_after_s=grant.retry_after_s, limit=per_minute, kind=kind,
                )
            bucket.balance += grant.granted - amount
            bucket.expires = now + self._config.lease_ttl_s
