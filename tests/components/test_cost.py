"""The monthly cost estimate: a pure function over a dated price table, and the plan's cost section."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from platform_facts import project
from platform_facts.cost import (
    PRICES_DIR,
    CostInputs,
    NodePoolUsage,
    PriceTable,
    cheapest_gpu_instance,
    estimate_monthly_cost,
    latest_price_table,
    load_price_table,
)
from stacks.config import load_stack_config, read_stack_file
from stacks.plan import PlanGraph, environment_cost, main

PROD = project.environment_prefix("prod")

Render = Callable[[str], PlanGraph]
PRICES = PriceTable(
    region="test-1",
    effective="2026-11-01",
    hours_per_month=730,
    spot_discount=0.6,
    instances={"c.large": (0.1, 0), "g.xlarge": (1.0, 1), "g.12xlarge": (3.0, 4)},
    eks_cluster_hour=0.1,
    nat_gateway_hour=0.05,
    interface_endpoint_hour=0.01,
    source="test.yaml",
)


def test_cost_is_hourly_price_times_hours_times_quantity() -> None:
    estimate = estimate_monthly_cost(
        CostInputs(
            eks_clusters=1,
            node_pools=[NodePoolUsage("system", "c.large", 3), NodePoolUsage("gpu", "g.xlarge", 2, "spot")],
            nat_gateways=3,
            interface_endpoint_zones=18,
            onprem_monthly_usd=1000.0,
        ),
        PRICES,
    )
    by_item = {line.item: line.monthly_usd for line in estimate.lines}
    assert by_item == {
        "EKS control plane": 73.0,
        "node pool system: c.large (on_demand)": 219.0,
        "node pool gpu: g.xlarge (spot)": 584.0,  # 2 × 1.0 × (1 - 0.6) × 730
        "NAT gateway": 109.5,
        "interface endpoint × zone": 131.4,
        "on-prem cluster (amortised)": 1000.0,
    }
    assert estimate.total_usd == pytest.approx(2116.9)
    assert estimate.ceiling_usd == 0 and estimate.price_table == "test.yaml"


def test_autoscaling_ceiling_is_priced_per_gpu_and_kept_out_of_the_total() -> None:
    inputs = CostInputs(0, [], 0, 0, autoscaling_gpu_ceiling=8, autoscaling_instance_type="g.12xlarge")
    estimate = estimate_monthly_cost(inputs, PRICES)
    assert estimate.total_usd == 0 and estimate.ceiling_usd == pytest.approx(8 / 4 * 3.0 * 730)


def test_cheapest_instance_per_gpu_within_the_allowed_families() -> None:
    assert cheapest_gpu_instance(PRICES, ["g"]) == "g.12xlarge"  # 0.75 per GPU-hour beats 1.0
    with pytest.raises(ValueError, match=r"instance_families: none of p5"):
        cheapest_gpu_instance(PRICES, ["p5"])


def test_an_unpriced_instance_type_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"instance type x.large is not in the price table test.yaml"):
        estimate_monthly_cost(CostInputs(0, [NodePoolUsage("a", "x.large", 1)], 0, 0), PRICES)


def test_the_committed_price_table_is_dated_and_complete() -> None:
    table = latest_price_table("us-east-1")
    assert table.source == "aws-us-east-1-2026-11.yaml" and table.effective == "2026-11-01"
    for environment in ("dev", "staging", "prod"):
        config = load_stack_config(*read_stack_file(environment))
        for pool in config.eks.gpu_node_pools:
            assert pool.instance_type in table.instances, f"{environment}: {pool.instance_type} is not priced"
        assert config.eks.system_pool.instance_type in table.instances


def test_a_malformed_price_table_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "aws-test-1-2026-01.yaml"
    path.write_text((PRICES_DIR / "aws-us-east-1-2026-11.yaml").read_text().replace("nat_gateway_hour", "nat_hour"))
    with pytest.raises(
        ValueError, match=r"aws-test-1-2026-01.yaml: malformed price table \(KeyError\('nat_gateway_hour'\)\)"
    ):
        load_price_table(path)
    with pytest.raises(ValueError, match=r"region: no price table for eu-west-9"):
        latest_price_table("eu-west-9")


def test_environment_costs_follow_what_each_stack_declares(rendered: Render) -> None:
    costs = {
        e: environment_cost(rendered(e), load_stack_config(*read_stack_file(e))) for e in ("dev", "staging", "prod")
    }
    assert costs["dev"].total_usd < costs["staging"].total_usd < costs["prod"].total_usd
    prod = {line.item: line for line in costs["prod"].lines}
    gpu = prod[f"node pool {PROD}-eks-inference: g6e.2xlarge (on_demand)"]
    assert gpu.quantity == 3 and gpu.monthly_usd == pytest.approx(3 * 2.24208 * 730, abs=0.01)
    assert prod["NAT gateway"].quantity == 3 and prod["interface endpoint × zone"].quantity == 6 * 3
    assert prod["on-prem cluster (amortised)"].monthly_usd == 42000
    dev = {line.item: line for line in costs["dev"].lines}
    assert dev["NAT gateway"].quantity == 1 and "(spot)" in next(i for i in dev if "gpu-spot" in i)
    assert costs["staging"].ceiling_usd > 0, "staging's Karpenter pool has a priced ceiling"


def test_plan_prints_the_cost_and_writes_it_into_the_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path = tmp_path / "dev.json"
    assert main(["dev", "--counts-only", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Estimated monthly cost (dev):" in out and "total per month (USD)" in out
    document = json.loads(path.read_text())
    assert document["cost_estimate"]["price_table"] == "aws-us-east-1-2026-11.yaml"
    assert document["cost_estimate"]["total_usd"] > 0
    assert PlanGraph.from_json(path.read_text()).resources


def test_the_figures_in_docs_match_the_estimate(rendered: Render) -> None:
    """docs/clusters.md quotes the estimates; they must be what `make plan` computes today."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "clusters.md").read_text()
    for environment in ("dev", "staging", "prod"):
        estimate = environment_cost(rendered(environment), load_stack_config(*read_stack_file(environment)))
        ceiling = f"{estimate.ceiling_usd:,.2f}" if estimate.ceiling_usd else "–"
        row = f"| {environment} | {estimate.total_usd:,.2f} | {ceiling} |"
        assert row in docs, f"docs/clusters.md should read: {row}"
