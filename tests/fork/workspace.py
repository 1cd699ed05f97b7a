"""A copy of the working tree to fork, and `make` run inside it with this checkout's virtualenv.

The copy holds what git would commit (tracked files and untracked ones it does not ignore), so it is what
a fresh clone of this tree would be; `.venv` is a symlink to this checkout's, so nothing is reinstalled.
The editable install maps `platform_facts` and `policy_rules` to this checkout, so every command in the
copy runs with the copy's own directories first on `PYTHONPATH`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["REPO_ROOT", "copy_worktree", "make", "run_pytest", "run_python", "worktree_files"]

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = REPO_ROOT / ".venv"


def worktree_files(root: Path = REPO_ROOT) -> list[str]:
    """Paths git would commit, relative to `root`: tracked (and present) plus untracked, not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted(
        {path for path in listed.split("\0") if path and not path.startswith(".venv/") and (root / path).is_file()}
    )


def copy_worktree(destination: Path, root: Path = REPO_ROOT) -> Path:
    """Copy the working tree into `destination` (which must not exist) and link this checkout's `.venv`."""
    if destination.resolve() == root.resolve():
        raise ValueError("the copy must not be the checkout itself")
    destination.mkdir(parents=True)
    for relative in worktree_files(root):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)
    (destination / ".venv").symlink_to(VENV, target_is_directory=True)
    return destination


def _environment(workspace: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(workspace), str(workspace / "policies")]),
        **(env or {}),
    }


def make(
    workspace: Path, targets: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`make <targets>` in `workspace`, never reinstalling the linked virtualenv; output captured."""
    if workspace.resolve() == REPO_ROOT.resolve():
        raise ValueError("make runs in a copy, never in the checkout itself")
    # The copy's pyproject.toml and locks are newer than the linked venv's install stamps: -o keeps make
    # from reinstalling what is already installed.
    command = ["make", "--no-print-directory", "-o", ".venv/.installed-infra", "-o", ".venv/.installed-all", *targets]
    return subprocess.run(
        command, cwd=workspace, env=_environment(workspace, env), capture_output=True, text=True, timeout=timeout,
        check=False,
    )


def run_python(
    workspace: Path, arguments: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`python <arguments>` in `workspace` with the linked virtualenv, its modules first on the path; output captured."""
    if workspace.resolve() == REPO_ROOT.resolve():
        raise ValueError("python runs in a copy, never in the checkout itself")
    return subprocess.run(
        [str(VENV / "bin/python"), *arguments], cwd=workspace, env=_environment(workspace, env), capture_output=True,
        text=True, timeout=timeout, check=False,
    )


def run_pytest(workspace: Path, arguments: Sequence[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The copy's own tests (`pytest <arguments>` in `workspace`); output captured."""
    return run_python(workspace, ["-m", "pytest", "-p", "no:cacheprovider", *arguments], timeout=timeout)
