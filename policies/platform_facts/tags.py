"""The tags every AWS resource carries, and which resource types can carry them.

Tags are applied once, as default tags of the stack's AWS provider: the provider merges them into
every taggable resource (`tagsAll`), so no component repeats them by hand.

Which types are taggable is data (`aws_taggable_types.txt`, generated from the pinned pulumi-aws SDK
by `python -m tools.policy_facts`): the policy pack answers it without the SDK installed, and
without importing its modules (about 1.6 s per pack start on a 2-core machine).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

from platform_facts.project import tag

__all__ = ["REQUIRED_TAGS", "TAGGABLE_TYPES_FILE", "is_taggable", "platform_tags", "taggable_types"]

REQUIRED_TAGS: Final = (tag("environment"), tag("owner"), tag("cost-center"), tag("data-class"))
TAGGABLE_TYPES_FILE: Final = Path(__file__).resolve().parent / "aws_taggable_types.txt"


def platform_tags(*, environment: str, owner: str, cost_center: str, data_class: str) -> dict[str, str]:
    """The required tags with their values for one environment."""
    return dict(zip(REQUIRED_TAGS, (environment, owner, cost_center, data_class), strict=True))


@functools.cache
def taggable_types() -> frozenset[str]:
    """Every AWS resource type token that has `tagsAll` in the pinned pulumi-aws SDK."""
    lines = TAGGABLE_TYPES_FILE.read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def is_taggable(type_token: str) -> bool:
    """Whether an AWS resource type accepts tags: `aws:ec2/vpc:Vpc` is, `aws:iam/rolePolicy:RolePolicy` is not."""
    return type_token in taggable_types()
