"""How the pack recognises the IAM role the Ray serving pods run under.

The serving role carries the tag `SERVING_ROLE_TAG` = `SERVING_ROLE_TAG_VALUE`; its permissions are inline
policies on the same role, so one resource holds both the marker and what the marker vouches for.
"""

from __future__ import annotations

from typing import Final

from platform_facts.project import tag

__all__ = ["SERVING_ROLE_TAG", "SERVING_ROLE_TAG_VALUE"]

SERVING_ROLE_TAG: Final = tag("workload")
SERVING_ROLE_TAG_VALUE: Final = "ray-serving"
