"""The tags every AWS resource carries, and which resource types can carry them.

Tags are applied once, as default tags of the stack's AWS provider: the provider merges them into
every taggable resource (`tagsAll`), so no component repeats them by hand.
"""

from __future__ import annotations

import functools
import importlib

__all__ = ["REQUIRED_TAGS", "is_taggable", "platform_tags"]

REQUIRED_TAGS = ("rampart:environment", "rampart:owner", "rampart:cost-center", "rampart:data-class")


def platform_tags(*, environment: str, owner: str, cost_center: str, data_class: str) -> dict[str, str]:
    """The required tags with their values for one environment."""
    return dict(zip(REQUIRED_TAGS, (environment, owner, cost_center, data_class), strict=True))


@functools.cache
def is_taggable(type_token: str) -> bool:
    """Whether an AWS resource type accepts tags, read from the pulumi-aws SDK's own classes.

    `aws:ec2/vpc:Vpc` → `pulumi_aws.ec2.Vpc`, taggable when it has a `tags_all` property.
    """
    package, _, rest = type_token.partition(":")
    module_path, _, class_name = rest.partition(":")
    if package != "aws" or not class_name:
        return False
    module_name = module_path.split("/")[0]
    try:
        module = importlib.import_module("pulumi_aws" if module_name == "index" else f"pulumi_aws.{module_name}")
        resource_class = getattr(module, class_name)
    except (ImportError, AttributeError):
        return False
    return hasattr(resource_class, "tags_all")
