"""deploy/pip_build_config.py: the host's pip configuration as the image build sees it (no podman needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pip_build_config() -> ModuleType:
    # A script beside the Containerfile, not a package: load it from its path.
    spec = importlib.util.spec_from_file_location("pip_build_config", ROOT / "deploy" / "pip_build_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_environment_overrides_install_section_overrides_global(pip_build_config: ModuleType) -> None:
    listed = "\n".join(
        [
            "global.index-url='https://global.example/simple'",
            "global.timeout='10'",
            "install.index-url='https://install.example/simple'",
            ":env:.index-url='https://env.example/simple'",
            "download.dest='/somewhere'",
            "global.cache-dir='/root/.cache/pip'",
        ]
    )
    assert pip_build_config.effective_options(listed) == {"index-url": "https://env.example/simple", "timeout": "10"}


def test_local_paths_are_mounted_read_only_and_renamed(pip_build_config: ModuleType, tmp_path: Path) -> None:
    root = pip_build_config.BUILD_ROOT
    cert = tmp_path / "ca.crt"
    cert.write_text("certificate")
    wheels = tmp_path / "wheels"
    (wheels / "nested").mkdir(parents=True)
    index = tmp_path / "pypi" / "simple"
    index.mkdir(parents=True)
    options = {
        "cert": str(cert),
        "find-links": f"{wheels} file://{wheels / 'nested'} https://wheels.example/",
        "extra-index-url": f"file://{index} https://pypi.example/simple",
        "constraint": str(tmp_path / "missing.txt"),
        "default-timeout": "180",
    }

    text, volumes = pip_build_config.render(options)

    assert text.splitlines() == [
        "[global]",
        f"cert = {root}/host{cert}",
        f"constraint = {tmp_path / 'missing.txt'}",
        "default-timeout = 180",
        f"extra-index-url = file://{root}/host{index} https://pypi.example/simple",
        f"find-links = {root}/host{wheels} {root}/host{wheels / 'nested'} https://wheels.example/",
    ]
    # The index's parent (PEP 503 trees link ../../files), each path once, nothing under a mounted one.
    assert volumes == sorted(
        [
            f"{cert}:{root}/host{cert}:ro",
            f"{tmp_path / 'pypi'}:{root}/host{tmp_path / 'pypi'}:ro",
            f"{wheels}:{root}/host{wheels}:ro",
        ]
    )


def test_main_writes_the_config_for_this_user_only(
    pip_build_config: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pip_build_config.main([str(tmp_path)]) == 0
    config = tmp_path / "pip.conf"
    assert config.stat().st_mode & 0o777 == 0o600
    assert config.read_text().startswith("[global]\n")
    assert capsys.readouterr().out.splitlines()[0] == f"{config}:{pip_build_config.BUILD_ROOT}/pip.conf:ro"
