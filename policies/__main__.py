"""The Rampart policy pack: `pulumi preview --policy-pack policies`, or `make policy ENV=<env>` offline.

This file only builds the pack. `PolicyPack(...)` starts the analyzer's gRPC server, prints its
port and serves until it is killed, exactly as the Pulumi CLI expects of a policy pack. Python puts
this file's directory first on `sys.path`, so the two packages beside it (`policy_rules`,
`platform_facts`) import as they are, from this directory or from a published copy of it.
"""

import os

from pulumi_policy import EnforcementLevel, PolicyPack

from platform_facts.project import DISPLAY_NAME, env_var
from policy_rules.environments import environment_policy
from policy_rules.pack import PACK_NAME, all_policies

# Levels come from the environment's row in policy_rules/environments.py; the CLI's
# --policy-pack-config (or the offline check's Configure call) carries the same table.
environment = os.environ.get(env_var("ENVIRONMENT")) or os.environ.get("PULUMI_STACK", "").rsplit("/", 1)[-1]
settings = environment_policy(environment)

PolicyPack(
    name=PACK_NAME,
    policies=all_policies(),
    enforcement_level=EnforcementLevel(settings.level),
    initial_config={name: EnforcementLevel(level) for name, level in settings.overrides.items()},
    description=f"{DISPLAY_NAME}: GPU- and LLM-aware guardrails for AWS, EKS, on-prem Kubernetes and model serving.",
)
