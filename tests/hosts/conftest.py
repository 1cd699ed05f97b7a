"""Host tests for on-prem GPU nodes (pytest-testinfra).

Operators run them against real hosts after the bootstrap:

    pytest tests/hosts --hosts=ssh://gpu-node-1,ssh://gpu-node-2

Without `--hosts` (as under `make test`) testinfra targets the local host (`local://`). A host is
checked against what it was bootstrapped to: the cloud-init writes `/etc/rampart/bootstrap.json`
(driver branch, toolkit and Kubernetes versions, time sources, encryption). Where that file is
absent the host is not a Rampart GPU node, and the node checks skip saying so; the checks that
apply to any host still run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import testinfra.host

from components.bootstrap import BOOTSTRAP_MARKER
from platform_facts import project

__all__ = ["bootstrapped"]


@pytest.fixture
def bootstrapped(host: testinfra.host.Host) -> dict[str, Any]:
    """What this host was bootstrapped to; skips on hosts the Rampart cloud-init never ran on."""
    marker = host.file(BOOTSTRAP_MARKER)
    if not marker.exists:
        pytest.skip(
            f"{host.backend.get_pytest_id()} is not a {project.DISPLAY_NAME} GPU host ({BOOTSTRAP_MARKER} is missing, the "
            "rendered cloud-init writes it): run `pytest tests/hosts --hosts=ssh://<gpu-node>` against a node"
        )
    return json.loads(marker.content_string)
