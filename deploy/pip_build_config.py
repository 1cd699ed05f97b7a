"""The host's pip configuration, made usable inside an image build.

    python3 deploy/pip_build_config.py OUT_DIR

Reads what pip itself reports (`python -m pip config list`: every config file pip loads plus the
`PIP_*` variables) and writes OUT_DIR/pip.conf with the effective value of each option for
`pip install`. Local paths the options name (CA bundle, constraints, find-links directories,
file:// indexes) are mounted read-only under BUILD_ROOT, and the file names them there; stdout gets
one `SOURCE:TARGET:ro` volume per line for `podman build --volume`, the config file first. The
build sees the config through `PIP_CONFIG_FILE` (a build ARG), so neither the file nor any
credential in an index URL is stored in a layer, and no host path is written into the repository.
BUILD_ROOT is under /dev, a tmpfs in every RUN step: the mount points go with it, so none is left
in a layer (podman 4.3 leaves the ones it creates elsewhere).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["BUILD_ROOT", "effective_options", "main", "render"]

BUILD_ROOT = "/dev/pip-build"
"""Where the build sees the config file and the host paths it names (`BUILD_ROOT/host/<path>`)."""

# Later sections override earlier ones for `pip install`, as pip orders them.
_SECTION_ORDER = ("global", "install", ":env:")
# Options that point pip's output at host paths: meaningless, or harmful, inside a build.
_HOST_OUTPUTS = frozenset({"cache-dir", "log", "src", "target", "root", "prefix", "report", "python"})
_PATH_OPTIONS = frozenset({"cert", "client-cert", "constraint", "requirement"})
_FIND_LINKS = "find-links"
_INDEX_OPTIONS = frozenset({"index-url", "extra-index-url"})


def effective_options(config_list: str) -> dict[str, str]:
    """The value of each option `pip install` uses, from `pip config list` output."""
    by_section: dict[str, dict[str, str]] = {section: {} for section in _SECTION_ORDER}
    for line in config_list.splitlines():
        name, separator, raw_value = line.partition("=")
        section, _, option = name.rpartition(".")
        if not separator or section not in by_section:
            continue
        by_section[section][option] = ast.literal_eval(raw_value)
    merged: dict[str, str] = {}
    for section in _SECTION_ORDER:
        merged.update(by_section[section])
    return {option: value for option, value in merged.items() if option not in _HOST_OUTPUTS}


class _Mounts:
    """Host paths to mount, each at BUILD_ROOT/host/<its real path>."""

    def __init__(self) -> None:
        self.sources: set[Path] = set()

    def add(self, host_path: str) -> str:
        """Mount `host_path` (when it exists) and return the path the build sees it under."""
        real = Path(os.path.abspath(host_path)).resolve()
        if not real.exists():
            return host_path  # pip warns about it in the build exactly as it does here
        self.sources.add(real)
        return f"{BUILD_ROOT}/host{real}"

    def add_index(self, url: str) -> str:
        """A file:// index: mount the directory above it too, where PEP 503 trees keep their files."""
        path = unquote(urlsplit(url).path)
        real = Path(path).resolve()
        if not real.exists():
            return url
        self.sources.add(real.parent)
        return f"file://{BUILD_ROOT}/host{real}"

    def volumes(self) -> list[str]:
        # A directory already mounted covers everything under it.
        kept = sorted(path for path in self.sources if not any(parent in self.sources for parent in path.parents))
        return [f"{path}:{BUILD_ROOT}/host{path}:ro" for path in kept]


def render(options: dict[str, str]) -> tuple[str, list[str]]:
    """(pip.conf text, volumes) for `options`, every local path rewritten to where it is mounted."""
    mounts = _Mounts()
    lines = ["[global]"]
    for option, value in sorted(options.items()):
        if option in _PATH_OPTIONS:
            value = " ".join(mounts.add(item) for item in value.split())
        elif option == _FIND_LINKS:
            value = " ".join(
                mounts.add(unquote(urlsplit(item).path)) if item.startswith("file:") or "://" not in item else item
                for item in value.split()
            )
        elif option in _INDEX_OPTIONS:
            value = " ".join(mounts.add_index(item) if item.startswith("file:") else item for item in value.split())
        lines.append(f"{option} = {value}")
    return "\n".join(lines) + "\n", mounts.volumes()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 deploy/pip_build_config.py OUT_DIR", file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        print(f"warning: `{sys.executable} -m pip config list` failed; the build uses pip's defaults", file=sys.stderr)
    text, volumes = render(effective_options(listed.stdout if listed.returncode == 0 else ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    config = out_dir / "pip.conf"
    # An index URL may carry credentials: readable by this user only, mounted read-only, never copied.
    config.touch(mode=0o600)
    config.chmod(0o600)
    config.write_text(text)
    print(f"{config.resolve()}:{BUILD_ROOT}/pip.conf:ro")
    for volume in volumes:
        print(volume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
