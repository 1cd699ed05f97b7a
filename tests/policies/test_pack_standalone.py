"""The pack is self-contained: its directory holds everything it imports, and it runs from a copy of
that directory with only its declared requirements installed, as `pulumi policy publish` ships it."""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2_grpc

from platform_facts import project
from policy_rules.pack import PACK_NAME, all_policies

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
PYPROJECT = PACK_DIR.parent / "pyproject.toml"
FORBIDDEN_IMPORTS = {"components", "stacks", "services", "tools", "tests", "policies"}
INSTALL_BUDGET_S = 60.0
PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check")
# From the downloaded wheels only: nothing the project's own environment has can leak in.
PIP_INSTALL_OFFLINE = (
    "-m",
    "pip",
    "install",
    "-q",
    "--no-compile",
    "--disable-pip-version-check",
    "--no-index",
    "--find-links",
)


def _pack_modules() -> Iterator[Path]:
    for path in sorted(PACK_DIR.rglob("*.py")):
        if "venv" not in path.relative_to(PACK_DIR).parts:
            yield path


def _imported_packages(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module.split(".")[0]


def test_no_pack_module_imports_the_project_or_edits_sys_path() -> None:
    problems = []
    for path in _pack_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(PACK_DIR.parent)
        problems += [
            f"{where}:{line} imports {name}" for line, name in _imported_packages(tree) if name in FORBIDDEN_IMPORTS
        ]
        problems += [
            f"{where}:{node.lineno} touches sys.path"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "path" and ast.unparse(node.value) == "sys"
        ]
    assert problems == []


def test_platform_facts_is_a_leaf() -> None:
    """Components and stacks import the facts; the facts import nothing of the platform or the rules."""
    for path in sorted((PACK_DIR / "platform_facts").rglob("*.py")):
        names = {name for _, name in _imported_packages(ast.parse(path.read_text()))}
        assert not names & (FORBIDDEN_IMPORTS | {"policy_rules", "pulumi", "pulumi_policy", "pulumi_aws"}), path


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        requirement = line.split("#", 1)[0].strip().strip('",')
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def test_requirements_are_declared_in_the_pack_and_pinned_as_in_pyproject() -> None:
    declared = _pins((PACK_DIR / "requirements.txt").read_text().splitlines())
    project = _pins(PYPROJECT.read_text().splitlines())
    assert set(declared) == {"pulumi", "pulumi-policy", "pyyaml"}
    assert {name: project[name] for name in declared} == declared


def test_pulumi_policy_yaml_keeps_the_virtualenv_inside_the_pack() -> None:
    document = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert document["runtime"]["name"] == "python"
    virtualenv = Path(document["runtime"]["options"]["virtualenv"])
    assert not virtualenv.is_absolute() and ".." not in virtualenv.parts, "a published copy could not find it"


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    """The wheels `requirements.txt` resolves to, downloaded once per version of the file (.rampart/ is ignored).

    Only the download needs the index; installing from here is what the budget measures, so a slow proxy
    does not make the test flaky.
    """
    requirements = (PACK_DIR / "requirements.txt").read_bytes()
    path = PACK_DIR.parent / project.STATE_DIR_NAME / "pack-wheelhouse" / hashlib.sha256(requirements).hexdigest()[:16]
    if not (path / "complete").is_file():
        download = subprocess.run(
            [*PIP_DOWNLOAD, "-d", str(path), "-r", str(PACK_DIR / "requirements.txt")],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert download.returncode == 0, download.stderr[-2000:]
        (path / "complete").touch()
    return path


@pytest.fixture(scope="module")
def standalone_pack(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """A copy of policies/ with its own virtualenv holding only what requirements.txt resolves to."""
    root = tmp_path_factory.mktemp("published")
    pack = root / "policies"
    shutil.copytree(PACK_DIR, pack, ignore=shutil.ignore_patterns("venv", "__pycache__", "*.pyc"))
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(pack / "venv")], check=True, timeout=120)
    install = subprocess.run(
        [str(pack / "venv" / "bin" / "python"), *PIP_INSTALL_OFFLINE, str(wheelhouse), "-r", "requirements.txt"],
        cwd=pack,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    elapsed = time.monotonic() - started
    assert elapsed < INSTALL_BUDGET_S, f"creating the pack's virtualenv took {elapsed:.0f}s"
    return pack


def test_the_pack_serves_from_its_own_directory_with_only_its_requirements(standalone_pack: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PYTHONUNBUFFERED="1", PULUMI_STACK="prod")
    process = subprocess.Popen(
        [str(standalone_pack / "venv" / "bin" / "python"), "__main__.py"],
        cwd=standalone_pack,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        exited = process.poll() is not None and process.stderr is not None
        assert port.isdigit(), process.stderr.read() if exited and process.stderr else f"printed {port!r}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty())
    finally:
        process.kill()
        process.communicate(timeout=10)
    assert info.name == PACK_NAME
    assert sorted(policy.name for policy in info.policies) == sorted(policy.name for policy in all_policies())
