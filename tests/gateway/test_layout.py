"""The serving half stays readable: one concept per module, none grown into a mega-file.

The gateway is a pipeline of stage modules (docs/safety.md lists them); a module that outgrows
~400 lines has usually picked up a second concept and should be split, not tolerated.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
GATEWAY = SERVICES / "gateway"
MAX_LINES = 420
STAGES = ("edge", "runtime", "admission", "scanning", "routing", "model_chain", "unary", "streaming", "shadow",
          "accounting")


@pytest.mark.parametrize("module", sorted(SERVICES.rglob("*.py")), ids=lambda path: str(path.relative_to(SERVICES)))
def test_no_services_module_is_a_mega_file(module: Path) -> None:
    lines = len(module.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module.relative_to(SERVICES)} has {lines} lines; split it by concept"


def test_the_gateway_reads_as_its_stages_in_order() -> None:
    """middleware.py imports every stage module; its docstring lists them in request order."""
    tree = ast.parse((GATEWAY / "middleware.py").read_text())
    imported = {node.module.rsplit(".", 1)[-1] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert set(STAGES) <= imported, f"middleware.py does not use stages {sorted(set(STAGES) - imported)}"
    docstring = ast.get_docstring(tree) or ""
    positions = [docstring.find(f"{stage}.py") for stage in STAGES]
    assert -1 not in positions and positions == sorted(positions), "the docstring's stage list is out of order"
