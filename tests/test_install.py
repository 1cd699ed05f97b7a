"""The install is reproducible and says what it needs.

Every package the code imports is declared in pyproject.toml; every declared package is pinned, with
hashes, in the lock that installs its extra (requirements/*.lock, written by `make lock`); a package
has one pin across the locks; torch is the CPU build; `make` lists every target; a wrong Python is
refused with its version named.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from platform_facts import project

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
BASE = PYPROJECT["project"]["dependencies"]
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
BUILD = PYPROJECT["build-system"]["requires"]
SOURCE_DIRS = ["components", "stacks", "services", "policies", "tools", "bench", "tests"]


@dataclass(frozen=True)
class Pin:
    version: Version
    hashes: frozenset[str]


def read_lock(name: str) -> dict[str, Pin]:
    """Pins of a pip-compile lock: `name==version \\` lines, each followed by its `--hash=` lines."""
    versions: dict[str, Version] = {}
    hashes: dict[str, set[str]] = {}
    current = ""
    for line in (LOCKS / name).read_text(encoding="utf-8").splitlines():
        entry = line.strip().removesuffix("\\").strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("--hash="):
            hashes[current].add(entry.removeprefix("--hash="))
            continue
        requirement = Requirement(entry)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{name}: {entry} is not an exact pin"
        current = canonicalize_name(requirement.name)
        versions[current] = Version(specifier.version)
        hashes[current] = set()
    return {name: Pin(versions[name], frozenset(hashes[name])) for name in versions}


# Which declared requirements each lock installs (the Makefile's install steps name the same files).
LOCK_CONTENTS = {
    "infra.lock": BASE + BUILD,
    "serve.lock": BASE + BUILD + EXTRAS["serve"],
    "all.lock": BASE + BUILD + [requirement for extra in EXTRAS.values() for requirement in extra],
}
LOCK_FILES = sorted(path.name for path in LOCKS.glob("*.lock"))


CUDA_LOCKS = ("serve-cuda.lock", "torch-cuda.lock")
"""The CUDA image's locks (deploy/Containerfile VARIANT=cuda): PyPI's torch, never installed here."""


def test_every_lock_is_known_and_every_extra_is_locked() -> None:
    assert sorted([*LOCK_CONTENTS, "torch-cpu.lock", *CUDA_LOCKS]) == LOCK_FILES
    assert set(EXTRAS) == {"serve", "test", "bench"}, "a new extra needs its place in LOCK_CONTENTS"


@pytest.mark.parametrize("declared", BASE + [r for extra in EXTRAS.values() for r in extra])
def test_pyproject_pins_each_dependency_exactly(declared: str) -> None:
    (specifier,) = Requirement(declared).specifier
    assert specifier.operator == "==", declared


@pytest.mark.parametrize("lock", sorted(LOCK_CONTENTS))
def test_lock_pins_every_declared_dependency_at_the_declared_version(lock: str) -> None:
    pins = read_lock(lock)
    disagreements = []
    for declared in LOCK_CONTENTS[lock]:
        requirement = Requirement(declared)
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None or not requirement.specifier.contains(pin.version, prereleases=True):
            disagreements.append(f"{declared}: locked {pin.version if pin else 'nowhere'}")
    assert disagreements == [], f"{lock} is stale: run make lock"


def test_infrastructure_lock_has_no_torch_and_no_ray() -> None:
    assert {"torch", "ray", "bentoml"} & set(read_lock("infra.lock")) == set()


@pytest.mark.parametrize("lock", LOCK_FILES)
def test_every_pin_carries_hashes_and_no_machine_paths(lock: str) -> None:
    text = (LOCKS / lock).read_text(encoding="utf-8")
    assert [name for name, pin in read_lock(lock).items() if not pin.hashes] == []
    assert all(h.startswith("sha256:") and len(h) == 71 for pin in read_lock(lock).values() for h in pin.hashes)
    # Indexes and find-links belong to the machine (pip's config, TORCH_INDEX_URL), not to the lock.
    assert re.findall(r"file://|/opt/|/home/|/root/|--(?:extra-)?index-url|--find-links", text) == []


def test_a_package_has_one_pin_and_one_set_of_hashes_across_the_locks() -> None:
    seen: dict[str, tuple[str, Pin]] = {}
    disagreements = []
    for lock in LOCK_FILES:
        for name, pin in read_lock(lock).items():
            if lock in CUDA_LOCKS and name == "torch":
                continue  # the one deliberate difference: the CUDA build (the next test)
            first = seen.setdefault(name, (lock, pin))
            if first[1] != pin:
                disagreements.append(f"{name}: {first[0]} has {first[1].version}, {lock} has {pin.version}")
    assert disagreements == []


def test_the_cuda_image_gets_the_same_torch_release_as_the_cpu_build() -> None:
    cpu = read_lock("torch-cpu.lock")["torch"].version
    for lock in CUDA_LOCKS:
        cuda = read_lock(lock)["torch"].version
        assert cuda.public == cpu.public and cuda.local is None, lock


def test_torch_is_the_cpu_build_everywhere_it_is_locked() -> None:
    (cpu_pin,) = [line for line in (LOCKS / "torch-cpu.in").read_text().splitlines() if line.startswith("torch==")]
    torch = read_lock("torch-cpu.lock")["torch"]
    assert torch.version == Version(cpu_pin.removeprefix("torch==")) and torch.version.local == "cpu"
    (declared,) = [r for r in EXTRAS["serve"] if Requirement(r).name == "torch"]
    assert Requirement(declared).specifier.contains(torch.version)
    for lock in ("serve.lock", "all.lock"):
        pins = read_lock(lock)
        assert pins["torch"] == torch, lock
        # CUDA's runtime wheels (nvidia-cublas, nvidia-cudnn-cu13, ...) and triton come only with a CUDA
        # build; nvidia-ml-py is the pure-Python NVML binding bentoml reads GPU metrics with.
        cuda = [name for name in pins if name.startswith(("nvidia-", "triton")) and name != "nvidia-ml-py"]
        assert cuda == [], lock


def _local_modules() -> set[str]:
    """Top-level names importable from the checkout itself (pytest's pythonpath: the root and policies/)."""
    names = set()
    for directory in (ROOT, ROOT / "policies"):
        names |= {path.stem for path in directory.iterdir() if path.suffix == ".py" or path.is_dir()}
    return names


def _imported_top_level_modules() -> dict[str, set[str]]:
    imported: dict[str, set[str]] = {}
    for directory in SOURCE_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            siblings = {sibling.stem for sibling in path.parent.iterdir()}
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.partition(".")[0]
                    if top not in siblings:
                        imported.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return imported


def test_every_imported_package_is_declared() -> None:
    declared = {canonicalize_name(Requirement(r).name) for r in LOCK_CONTENTS["all.lock"]}
    distributions = packages_distributions()
    local = _local_modules()
    undeclared = {}
    for module, files in _imported_top_level_modules().items():
        if module in sys.stdlib_module_names or module in local or module == "__future__":
            continue
        providers = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not providers & declared:
            undeclared[module] = f"{sorted(providers) or 'not installed'}, imported by {sorted(files)[0]}"
    assert undeclared == {}


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_make_without_a_target_lists_every_target_on_one_line() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", makefile, re.M) for name in line.split()}
    listing = _make()
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout == _make("help").stdout
    rows = [re.fullmatch(r"  make (\S+) +(\S.*)", line) for line in listing.stdout.splitlines()]
    assert None not in rows, listing.stdout
    listed = [row[1] for row in rows if row]
    assert sorted(listed) == sorted(set(listed)), "a target is listed twice"
    assert phony - set(listed) == set(), "these targets need a `## ` description on their line"


@pytest.mark.parametrize(
    ("python", "found"),
    [("3.12.1", "3.12.1"), ("3.10.14", "3.10.14"), (None, "no {python}")],
)
def test_a_wrong_python_is_refused_before_any_virtualenv_is_made(
    tmp_path: Path, python: str | None, found: str
) -> None:
    fake = tmp_path / "python3"
    if python is not None:
        fake.write_text(f"#!/bin/sh\necho {python}\n")
        fake.chmod(0o755)
    venv = tmp_path / "venv"
    result = _make(f"PYTHON={fake}", f"VENV={venv}", "install-infra")
    assert result.returncode != 0
    assert f"{project.DISPLAY_NAME} needs Python 3.11 (found {found.format(python=fake)})" in result.stderr
    assert not venv.exists()
