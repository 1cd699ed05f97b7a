"""The rules table of docs/policies.md, generated from the pack so that the page cannot drift from it.

    python -m tools.policy_docs          # prints the table; tests/policies compare it with the page

One row per rule: domain, name, kind (resource or stack), description and settings, the checks of the
established scanners that judge the same thing (eval/upstream-equivalents.yaml), and the rule's level in
each committed environment.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml
from pulumi_policy import StackValidationPolicy

from policy_rules.environments import ENVIRONMENTS
from policy_rules.pack import policies_by_domain

__all__ = ["UPSTREAM_EQUIVALENTS", "main", "rules_table", "upstream_equivalents"]

UPSTREAM_EQUIVALENTS = Path(__file__).resolve().parent.parent / "eval" / "upstream-equivalents.yaml"
COMMITTED_ENVIRONMENTS = ("dev", "staging", "prod")


def upstream_equivalents(path: Path = UPSTREAM_EQUIVALENTS) -> dict[str, list[str]]:
    document = yaml.safe_load(path.read_text()) or {}
    return {str(rule): [str(check) for check in checks] for rule, checks in document.items()}


def _level(environment: str, rule: str) -> str:
    policy = ENVIRONMENTS[environment]
    return policy.overrides.get(rule, policy.level)


def rules_table(equivalents: Mapping[str, list[str]]) -> Iterator[str]:
    yield "| Domain | Rule | Kind | What it requires | Upstream equivalent | dev | staging | prod |"
    yield "|---|---|---|---|---|---|---|---|"
    for domain, policies in policies_by_domain().items():
        for policy in policies:
            kind = "stack" if isinstance(policy, StackValidationPolicy) else "resource"
            settings = list(policy.config_schema.properties) if policy.config_schema else []
            requires = policy.description + (f" Settings: {', '.join(f'`{s}`' for s in settings)}." if settings else "")
            upstream = ", ".join(equivalents.get(policy.name, [])) or "—"
            levels = " | ".join(_level(environment, policy.name) for environment in COMMITTED_ENVIRONMENTS)
            yield f"| {domain} | `{policy.name}` | {kind} | {requires} | {upstream} | {levels} |"


def main() -> int:
    for line in rules_table(upstream_equivalents()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
