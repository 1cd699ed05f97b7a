"""Pulumi program entry point (`Pulumi.yaml` → `main: stacks/`): load typed config, compose."""

import pulumi

from stacks.compose import build_platform
from stacks.config import ConfigError, load_stack_config
from stacks.pulumi_internals import engine_config

try:
    config = load_stack_config(*engine_config())
except ConfigError as error:
    # A RunError is reported by the CLI as a plain message, without a Python traceback.
    raise pulumi.RunError(str(error)) from None
build_platform(config)
