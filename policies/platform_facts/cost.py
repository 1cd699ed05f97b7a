"""Monthly cost estimate of an environment from a dated price table (pure functions).

The estimate covers what the platform provisions and bills by the hour: EKS control planes,
node pools (instance hours × pool size, spot priced as spot), NAT gateways and interface endpoints
(per zone), plus the configured on-prem amortisation. Data transfer, storage and logs scale with
traffic and are left out: the estimate is a floor, not an invoice. Karpenter capacity is shown as a
ceiling (its NodePool's GPU limit), not added to the total.

`cost_inputs` reads those quantities from a plan's resources; `make plan` and the pack's budget
policy both call it, so the plan's estimate and the policy's verdict cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from platform_facts.kubernetes import GPU_RESOURCE

__all__ = [
    "DEFAULT_NODE_GROUP_TYPE",
    "PRICES_DIR",
    "BilledResource",
    "CostEstimate",
    "CostInputs",
    "CostLine",
    "NodePoolUsage",
    "PriceTable",
    "cheapest_gpu_instance",
    "cost_inputs",
    "estimate_monthly_cost",
    "latest_price_table",
    "load_price_table",
]

PRICES_DIR = Path(__file__).resolve().parent / "prices"
DEFAULT_NODE_GROUP_TYPE = "t3.medium"
"""What EKS launches when a node group names no instance type."""


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


@dataclass(frozen=True)
class BilledResource:
    """One resource of a plan as the cost model reads it: engine type token, logical name, properties."""

    type: str
    name: str
    props: Mapping[str, Any]


def _dig(value: Any, *path: str) -> Any:
    for step in path:
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def _count(value: Any) -> int:
    """A count: a number (the engine carries them as doubles) or a whole Kubernetes quantity ("8"); unset is 0."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [item for item in value if isinstance(item, str)]
    return []


def _karpenter_ceiling(node_pool: BilledResource, prices: PriceTable) -> tuple[int, str | None]:
    """GPUs a Karpenter NodePool may add at most, and the listed type of its families that prices them."""
    spec = node_pool.props.get("spec")
    gpus = _count(_dig(spec, "limits", GPU_RESOURCE))
    requirements = _dig(spec, "template", "spec", "requirements")
    families = next(
        (
            _strings(requirement.get("values"))
            for requirement in (requirements if isinstance(requirements, Sequence) else [])
            if isinstance(requirement, Mapping) and requirement.get("key") == "karpenter.k8s.aws/instance-family"
        ),
        [],
    )
    if not gpus or not families:
        return 0, None
    return gpus, cheapest_gpu_instance(prices, families)


def cost_inputs(
    resources: Iterable[BilledResource], prices: PriceTable, *, onprem_monthly_usd: float = 0.0
) -> CostInputs:
    """What a plan bills by the hour, read from its resources (not from stack config).

    Tolerates what a preview leaves unset: a node group without instance types runs EKS's default,
    one without a desired size counts as empty, an interface endpoint sits in at least one zone.
    """
    resources = list(resources)
    pools = [
        NodePoolUsage(
            name=group.name,
            instance_type=(_strings(group.props.get("instanceTypes")) or [DEFAULT_NODE_GROUP_TYPE])[0],
            count=_count(_dig(group.props, "scalingConfig", "desiredSize")),
            capacity="spot" if group.props.get("capacityType") == "SPOT" else "on_demand",
        )
        for group in resources
        if group.type == "aws:eks/nodeGroup:NodeGroup"
    ]
    interface_zones = sum(
        max(1, len(_strings(endpoint.props.get("subnetIds"))))
        for endpoint in resources
        if endpoint.type == "aws:ec2/vpcEndpoint:VpcEndpoint" and endpoint.props.get("vpcEndpointType") == "Interface"
    )
    ceiling, ceiling_type = 0, None
    for node_pool in resources:
        if node_pool.type == "kubernetes:karpenter.sh/v1:NodePool":
            gpus, instance_type = _karpenter_ceiling(node_pool, prices)
            ceiling, ceiling_type = ceiling + gpus, instance_type or ceiling_type
    return CostInputs(
        eks_clusters=sum(resource.type == "aws:eks/cluster:Cluster" for resource in resources),
        node_pools=pools,
        nat_gateways=sum(resource.type == "aws:ec2/natGateway:NatGateway" for resource in resources),
        interface_endpoint_zones=interface_zones,
        onprem_monthly_usd=onprem_monthly_usd,
        autoscaling_gpu_ceiling=ceiling,
        autoscaling_instance_type=ceiling_type,
    )
