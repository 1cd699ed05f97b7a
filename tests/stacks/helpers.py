"""Small helpers for asserting on a rendered plan graph."""

from __future__ import annotations

from stacks.plan import PlanGraph, PlannedResource

__all__ = ["component", "under"]


def component(graph: PlanGraph, type_token: str) -> PlannedResource:
    """The single component of this type in the graph."""
    matches = graph.of_type(type_token)
    assert len(matches) == 1, f"expected one {type_token}, found {[m.urn for m in matches]}"
    return matches[0]


def under(graph: PlanGraph, parent: PlannedResource, type_token: str) -> list[PlannedResource]:
    """Descendants of `parent` of one type."""
    return [r for r in graph.descendants(parent.urn) if r.type == type_token]
