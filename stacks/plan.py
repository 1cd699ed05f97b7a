"""Offline plan: render a stack under mocks and show what `pulumi preview` would create.

    python -m stacks.plan prod            # tree, counts by type; graph JSON in .rampart/plan/prod.json

The recorded graph (URN, type, parent, provider, dependencies, inputs) is what the policy pack and
the cost estimate run over.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from platform_facts.cost import BilledResource, CostEstimate, cost_inputs, estimate_monthly_cost, latest_price_table
from platform_facts.project import PROJECT_NAME, STATE_DIR_NAME
from stacks.config import STACKS_DIR, ConfigError, StackConfig, load_stack_config, read_stack_file
from stacks.mocks import PlanMocks, plain
from stacks.pulumi_internals import RecordedResource, RecordingMonitor, engine_config, run_under_mocks

__all__ = [
    "PROJECT",
    "PlanGraph",
    "PlannedResource",
    "environment_cost",
    "format_cost",
    "main",
    "render",
    "render_environment",
]

PROJECT = PROJECT_NAME
PLAN_DIR = Path(STATE_DIR_NAME) / "plan"

# Properties worth a glance in the tree, in the order they are shown.
KEY_PROPERTIES = (
    "cidrBlock",
    "availabilityZone",
    "serviceName",
    "vpcEndpointType",
    "trafficType",
    "enableKeyRotation",
    "retentionInDays",
    "objectLockEnabled",
    "region",
    "instanceTypes",
    "capacityType",
    "version",
    "chart",
    "kind",
    "namespace",
)


@dataclass(frozen=True)
class PlannedResource:
    """One resource of the plan, JSON-safe (secrets shown as `[secret]`)."""

    urn: str
    type: str
    name: str
    parent: str
    provider: str
    dependencies: list[str]
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str = ""

    @classmethod
    def from_record(cls, record: RecordedResource) -> PlannedResource:
        return cls(
            urn=record.urn,
            type=record.type,
            name=record.name,
            parent=record.parent,
            provider=record.provider_urn,
            dependencies=record.dependencies,
            custom=record.custom,
            protect=record.protect,
            inputs=plain(record.inputs),
            outputs=plain(record.outputs),
            id=record.id,
        )


@dataclass(frozen=True)
class PlanGraph:
    """The recorded resource graph of one rendered stack."""

    environment: str
    resources: list[PlannedResource]

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [resource for resource in self.resources if resource.type == type_token]

    def children(self, urn: str) -> list[PlannedResource]:
        return [resource for resource in self.resources if resource.parent == urn]

    def descendants(self, urn: str) -> Iterator[PlannedResource]:
        for child in self.children(urn):
            yield child
            yield from self.descendants(child.urn)

    def get(self, urn: str) -> PlannedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(urn)

    def by_id(self, resource_id: str) -> PlannedResource:
        """The resource whose (mock) physical id is `resource_id`: how inputs reference each other."""
        for resource in self.resources:
            if resource.id == resource_id:
                return resource
        raise KeyError(resource_id)

    def counts_by_type(self) -> Counter[str]:
        return Counter(resource.type for resource in self.resources)

    def to_json(self) -> str:
        return json.dumps(
            {"environment": self.environment, "project": PROJECT, "resources": [asdict(r) for r in self.resources]},
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> PlanGraph:
        document = json.loads(text)
        return cls(document["environment"], [PlannedResource(**r) for r in document["resources"]])


Program = Callable[[StackConfig], object]


def render(
    values: dict[str, str],
    secret_keys: frozenset[str] = frozenset(),
    *,
    stack: str = "dev",
    program: Program | None = None,
) -> PlanGraph:
    """Run the stack program under mocks with these config values and return the recorded graph.

    Config is validated exactly as in `pulumi up` (through the engine's config), so a bad value
    raises `ConfigError` before any resource is declared.
    """
    if program is None:
        from stacks.compose import build_platform

        program = build_platform
    config = load_stack_config(values, secret_keys)
    mocks = PlanMocks(region=config.region)
    monitor = RecordingMonitor(mocks)
    mocks.monitor = monitor

    def run_program() -> None:
        program(load_stack_config(*engine_config()))

    run_under_mocks(run_program, monitor, project=PROJECT, stack=stack, config=values, secret_keys=secret_keys)
    return PlanGraph(stack, [PlannedResource.from_record(record) for record in monitor.recorded])


def render_environment(environment: str, stacks_dir: Path = STACKS_DIR) -> PlanGraph:
    """Render `stacks/Pulumi.<environment>.yaml` as committed."""
    values, secret_keys = read_stack_file(environment, stacks_dir)
    return render(values, secret_keys, stack=environment)


def format_tree(graph: PlanGraph) -> str:
    """Components with their children, indented, each with its type and key properties."""
    urns = {resource.urn for resource in graph.resources}
    lines: list[str] = []

    def describe(resource: PlannedResource, depth: int) -> None:
        shown = []
        for key in KEY_PROPERTIES:
            value = resource.inputs.get(key)
            if value not in (None, "", [], {}):
                shown.append(f"{key}={json.dumps(value) if not isinstance(value, str) else value}")
        flags = " [protected]" if resource.protect else ""
        details = f"  {' '.join(shown)}" if shown else ""
        lines.append(f"{'  ' * depth}{resource.name} ({resource.type}){flags}{details}")
        for child in graph.children(resource.urn):
            describe(child, depth + 1)

    for resource in graph.resources:
        if resource.parent not in urns:
            describe(resource, 0)
    return "\n".join(lines)


def format_counts(graph: PlanGraph) -> str:
    counts = graph.counts_by_type()
    width = max(len(type_token) for type_token in counts)
    rows = [f"  {type_token.ljust(width)}  {count}" for type_token, count in sorted(counts.items())]
    return "\n".join([*rows, f"  {'total'.ljust(width)}  {sum(counts.values())}"])


def environment_cost(graph: PlanGraph, config: StackConfig) -> CostEstimate:
    """Monthly estimate of a rendered environment from the newest price table of its region."""
    prices = latest_price_table(config.region)
    inputs = cost_inputs(
        (BilledResource(resource.type, resource.name, resource.inputs) for resource in graph.resources),
        prices,
        onprem_monthly_usd=config.onprem.monthly_cost_usd if config.onprem.enabled else 0.0,
    )
    return estimate_monthly_cost(inputs, prices)


def format_cost(estimate: CostEstimate) -> str:
    width = max(len(line.item) for line in estimate.lines)
    rows = [
        f"  {line.item.ljust(width)}  {line.quantity:>5g} × {line.unit_usd:>10,.2f}  = {line.monthly_usd:>11,.2f}"
        for line in estimate.lines
    ]
    rows.append(f"  {'total per month (USD)'.ljust(width)}  {'':>20}  {estimate.total_usd:>11,.2f}")
    if estimate.ceiling_usd:
        rows.append(f"  {'+ autoscaled GPUs at their ceiling'.ljust(width)}  {'':>20}  {estimate.ceiling_usd:>11,.2f}")
    rows.append(f"  prices: policies/platform_facts/prices/{estimate.price_table}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make plan", description=__doc__.splitlines()[0])
    parser.add_argument("environment", help="stack name: stacks/Pulumi.<environment>.yaml")
    parser.add_argument("--json", type=Path, help=f"where to write the graph (default {PLAN_DIR}/<env>.json)")
    parser.add_argument("--counts-only", action="store_true", help="print only the counts by type")
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help="folder holding Pulumi.<env>.yaml")
    options = parser.parse_args(argv)

    print(f"Rendering stack '{options.environment}' offline under mocks...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        graph = render_environment(options.environment, options.stacks_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:  # a component rejected its arguments; the message names the field
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(f"Recorded {len(graph.resources)} resources in {elapsed:.1f}s.", file=sys.stderr)

    config = load_stack_config(*read_stack_file(options.environment, options.stacks_dir))
    try:
        estimate = environment_cost(graph, config)
    except ValueError as error:  # an instance type or region missing from the price table
        print(f"error: cost estimate: {error}", file=sys.stderr)
        return 2
    path = options.json or PLAN_DIR / f"{options.environment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = json.loads(graph.to_json())
    document["cost_estimate"] = asdict(estimate)
    path.write_text(json.dumps(document, indent=1, sort_keys=True))
    if not options.counts_only:
        print(f"\nPlan for {options.environment}:\n")
        print(format_tree(graph))
    print("\nResources by type:\n")
    print(format_counts(graph))
    print(f"\nEstimated monthly cost ({options.environment}):\n")
    print(format_cost(estimate))
    print(f"\nGraph written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
