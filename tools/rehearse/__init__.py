"""Rehearsal of the deployable environments on this machine (`make rehearse ENV=<env>`; docs/rehearsal.md).

plan (`stacks.plan`) → cluster specs (`spec`) → substitutions (`substitutions`, the only differences
from a cluster) → podman containers per Ray node (`cluster`, `podman`) with a stand-in cloud
(`cloud`, `models`, `access`) → smoke suite (`smoke`) → fault drill (`drill`) → summary (`summary`).
"""

__all__: list[str] = []
