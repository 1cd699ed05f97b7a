"""Render the cloud-init for an environment's on-prem GPU hosts from its committed config.

    python -m stacks.bootstrap prod     # writes .rampart/bootstrap/prod-gpu-node.cloud-init.yaml

Apply the file as the user-data of each GPU host (or `cloud-init single` on an existing one),
then verify the host with `pytest tests/hosts --hosts=ssh://<host>`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.bootstrap import render_cloud_init
from platform_facts.project import STATE_DIR_NAME, config_key
from stacks.config import STACKS_DIR, ConfigError, load_stack_config, read_stack_file

__all__ = ["main"]

BOOTSTRAP_DIR = Path(STATE_DIR_NAME) / "bootstrap"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bootstrap", description=__doc__.splitlines()[0])
    parser.add_argument("environment", help="stack name: stacks/Pulumi.<environment>.yaml")
    parser.add_argument(
        "--output", type=Path, help=f"where to write (default {BOOTSTRAP_DIR}/<env>-gpu-node.cloud-init.yaml)"
    )
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR)
    options = parser.parse_args(argv)
    try:
        config = load_stack_config(*read_stack_file(options.environment, options.stacks_dir))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not config.onprem.enabled:
        print(
            f"error: {config_key('onprem.enabled')} is false in {options.environment}: it has no on-prem GPU hosts",
            file=sys.stderr,
        )
        return 2
    document = render_cloud_init(config.onprem.bootstrap, environment=config.environment)
    path = options.output or BOOTSTRAP_DIR / f"{options.environment}-gpu-node.cloud-init.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document)
    hosts = ", ".join(node.hostname for node in config.onprem.gpu_nodes)
    print(f"Wrote {path} for {hosts}.\nVerify each host afterwards: pytest tests/hosts --hosts=ssh://<host>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
