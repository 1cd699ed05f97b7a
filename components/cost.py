"""Monthly cost estimate of an environment from a dated price table (pure functions).

The estimate covers what the platform provisions and bills by the hour: EKS control planes,
node pools (instance hours × pool size), NAT gateways and interface endpoints (per zone), plus
the configured on-prem amortisation. Data transfer, storage and logs scale with traffic and are
left out: the estimate is a floor, not an invoice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

__all__ = [
    "PRICES_DIR",
    "CostEstimate",
    "CostInputs",
    "CostLine",
    "NodePoolUsage",
    "PriceTable",
    "cheapest_gpu_instance",
    "estimate_monthly_cost",
    "latest_price_table",
    "load_price_table",
]

PRICES_DIR = Path(__file__).resolve().parent / "prices"


@dataclass(frozen=True)
class PriceTable:
    """Hourly prices of one region on one date."""

    region: str
    effective: str
    hours_per_month: float
    spot_discount: float
    instances: dict[str, tuple[float, int]]
    """Instance type → (on-demand USD per hour, GPUs)."""
    eks_cluster_hour: float
    nat_gateway_hour: float
    interface_endpoint_hour: float
    source: str = ""

    def hourly(self, instance_type: str, capacity: Literal["on_demand", "spot"]) -> float:
        if instance_type not in self.instances:
            raise ValueError(f"instance type {instance_type} is not in the price table {self.source or self.effective}")
        on_demand = self.instances[instance_type][0]
        return on_demand * (1 - self.spot_discount) if capacity == "spot" else on_demand


def load_price_table(path: Path) -> PriceTable:
    """Parse a price table file; a missing or malformed key is named in the error."""
    document = yaml.safe_load(path.read_text())
    try:
        services = document["services"]
        return PriceTable(
            region=str(document["region"]),
            effective=str(document["effective"]),
            hours_per_month=float(document["hours_per_month"]),
            spot_discount=float(document["spot_discount"]),
            instances={name: (float(price), int(gpus)) for name, (price, gpus) in document["instances"].items()},
            eks_cluster_hour=float(services["eks_cluster_hour"]),
            nat_gateway_hour=float(services["nat_gateway_hour"]),
            interface_endpoint_hour=float(services["interface_endpoint_hour"]),
            source=path.name,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path.name}: malformed price table ({error!r})") from None


def latest_price_table(region: str, prices_dir: Path = PRICES_DIR) -> PriceTable:
    """The newest dated table for `region` (`aws-<region>-<yyyy>-<mm>.yaml`)."""
    candidates = sorted(prices_dir.glob(f"aws-{region}-*.yaml"))
    if not candidates:
        raise ValueError(f"region: no price table for {region} in {prices_dir}")
    return load_price_table(candidates[-1])


def cheapest_gpu_instance(prices: PriceTable, families: Sequence[str]) -> str:
    """The listed instance type of these families with the lowest on-demand price per GPU."""
    candidates = [
        (price / gpus, name)
        for name, (price, gpus) in prices.instances.items()
        if gpus and name.split(".", 1)[0] in families
    ]
    if not candidates:
        raise ValueError(f"instance_families: none of {', '.join(families)} is in the price table {prices.source}")
    return min(candidates)[1]


@dataclass(frozen=True)
class NodePoolUsage:
    """Instances that run all month: a node pool at its baseline (desired) size."""

    name: str
    instance_type: str
    count: int
    capacity: Literal["on_demand", "spot"] = "on_demand"


@dataclass(frozen=True)
class CostInputs:
    """What an environment runs, as far as hourly billing is concerned."""

    eks_clusters: int
    node_pools: Sequence[NodePoolUsage]
    nat_gateways: int
    interface_endpoint_zones: int
    """Interface endpoints × the zones each one sits in."""
    onprem_monthly_usd: float = 0.0
    autoscaling_gpu_ceiling: int = 0
    """GPUs an autoscaler (Karpenter) may add at most; shown as a ceiling, not in the total."""
    autoscaling_instance_type: str | None = None
    """Instance type used to price the ceiling (the family's smallest listed type)."""


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: float
    unit_usd: float
    monthly_usd: float


@dataclass(frozen=True)
class CostEstimate:
    lines: tuple[CostLine, ...]
    total_usd: float
    ceiling_usd: float
    """Extra monthly cost if autoscaled GPU capacity ran at its ceiling all month (0 without one)."""
    price_table: str


def estimate_monthly_cost(inputs: CostInputs, prices: PriceTable) -> CostEstimate:
    """Monthly USD per line and in total: hourly price × hours per month × quantity."""
    hours = prices.hours_per_month
    lines: list[CostLine] = []

    def add(item: str, quantity: float, hourly: float) -> None:
        if quantity:
            lines.append(CostLine(item, quantity, round(hourly * hours, 2), round(quantity * hourly * hours, 2)))

    add("EKS control plane", inputs.eks_clusters, prices.eks_cluster_hour)
    for pool in inputs.node_pools:
        add(
            f"node pool {pool.name}: {pool.instance_type} ({pool.capacity})",
            pool.count,
            prices.hourly(pool.instance_type, pool.capacity),
        )
    add("NAT gateway", inputs.nat_gateways, prices.nat_gateway_hour)
    add("interface endpoint × zone", inputs.interface_endpoint_zones, prices.interface_endpoint_hour)
    if inputs.onprem_monthly_usd:
        lines.append(CostLine("on-prem cluster (amortised)", 1, inputs.onprem_monthly_usd, inputs.onprem_monthly_usd))

    ceiling = 0.0
    if inputs.autoscaling_gpu_ceiling:
        if inputs.autoscaling_instance_type is None:
            raise ValueError("autoscaling_instance_type: needed to price an autoscaling ceiling")
        hourly = prices.hourly(inputs.autoscaling_instance_type, "on_demand")
        gpus = prices.instances[inputs.autoscaling_instance_type][1] or 1
        ceiling = round(inputs.autoscaling_gpu_ceiling / gpus * hourly * hours, 2)
    total = round(sum(line.monthly_usd for line in lines), 2)
    return CostEstimate(tuple(lines), total, ceiling, prices.source or prices.effective)
