"""No code writes the platform's name by hand: it reads `platform_facts.project`, so `make fork` needs to
rewrite only that module and the data files that spell the name (`tools.fork.FORK_DATA_GLOBS`).

Python files count string values only (docstrings and comments are prose); Makefile, templates and the
gateway's static pages count every line that is not a comment. No I/O beyond reading the working tree.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from platform_facts import project
from tests.fork.stray import Stray, python_strays, text_strays
from tests.fork.workspace import REPO_ROOT, worktree_files
from tools.fork import FORK_DATA_GLOBS, LOCK_GLOB

ALLOWED: dict[str, str] = {
    "policies/platform_facts/project.py": "the identity itself: the one place the name is written",
}
"""Files (or `dir/*` globs) that may spell the name, and why."""

TEXT_CODE_GLOBS = ("Makefile", "*.tmpl")


def _matches(path: str, patterns: dict[str, str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def _is_fork_data(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in (*FORK_DATA_GLOBS, LOCK_GLOB))


def _strays() -> list[Stray]:
    found: list[Stray] = []
    for path in worktree_files():
        if _is_fork_data(path):
            continue
        if path.endswith(".py"):
            found += python_strays(REPO_ROOT / path, path, project.PROJECT_NAME)
        elif any(fnmatch.fnmatch(path, pattern) for pattern in TEXT_CODE_GLOBS):
            found += text_strays(REPO_ROOT / path, path, project.PROJECT_NAME)
    return found


def test_no_code_outside_the_allow_list_writes_the_platform_name() -> None:
    strays = [stray for stray in _strays() if not _matches(stray.path, ALLOWED)]
    assert not strays, (
        "write these through platform_facts.project (PROJECT_NAME, label(), tag(), metric(), env_var(), ...):\n"
        + "\n".join(map(str, strays))
    )


def test_every_allow_list_entry_is_still_needed() -> None:
    """A converted file leaves the list: otherwise the list hides the next literal written into it."""
    paths = {stray.path for stray in _strays()}
    unused = [entry for entry in ALLOWED if not any(fnmatch.fnmatch(path, entry) for path in paths)]
    assert not unused, f"no longer needed (remove them): {unused}"


def test_the_scanner_finds_a_name_in_a_value_but_not_in_prose(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text(
        f'"""About {project.PROJECT_NAME}."""\n'
        f"# {project.PROJECT_NAME} in a comment\n"
        f'PREFIX = "{project.PROJECT_NAME}-dev"\n'
        f'label = f"{project.PROJECT_NAME}.io/{{key}}"\n'
    )
    assert [stray.line for stray in python_strays(source, "example.py", project.PROJECT_NAME)] == [3, 4]


def test_pulumi_yaml_names_the_project_the_identity_names() -> None:
    """The Makefile and the Pulumi CLI read the name from Pulumi.yaml; code reads it from the identity module."""
    pulumi_yaml = (REPO_ROOT / "Pulumi.yaml").read_text()
    assert f"name: {project.PROJECT_NAME}\n" in pulumi_yaml
