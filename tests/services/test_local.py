"""`make up` / `make down` as a user runs them: the printed examples must work as printed.

Runs `python -m services.local` (what the Makefile targets call) in a subprocess with its own
state directory and port, so it starts its own Ray next to the session's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from platform_facts import project
from services.inference.generator import NOTHING_RELEVANT
from tests.fixtures.ports import free_loopback_port

pytestmark = pytest.mark.serve
ROOT = Path(__file__).resolve().parents[2]


def _local(command: str, env: dict[str, str], port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.local", command, "--port", str(port)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def _python_snippet(output: str, heading: str) -> str:
    block = output.split(f"{heading}", 1)[1].split("\n\n", 1)[0]
    return "\n".join(line[2:] for line in block.splitlines()[1:])


def test_make_up_serves_the_examples_it_prints_and_make_down_stops_it(tmp_path: Path) -> None:
    port = free_loopback_port()
    env = {**os.environ, project.env_var("LOCAL_STATE_DIR"): str(tmp_path / "state"), project.env_var("STATE_DIR"): str(tmp_path / "gateway"),
           "HF_HUB_OFFLINE": "1"}
    up = _local("up", env, port)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        base_url = f"http://127.0.0.1:{port}"
        assert f"{project.DISPLAY_NAME} is serving at {base_url}" in up.stdout
        assert "the safety gateway checks it" in up.stdout  # serve-local.yaml puts the gateway in front
        assert re.search(r"deploying the Serve application", up.stdout)  # progress was shown
        # The time to the first answer is reported (how long is bench territory, not a test's: a loaded CI box
        # takes several times longer than an idle laptop).
        assert re.search(r"first successful response after [\d.]+s", up.stdout), up.stdout

        again = _local("up", env, port)
        assert again.returncode == 0 and "already running" in again.stdout

        curl_commands = re.findall(r"^  (curl .*?)(?<!\\)$", up.stdout.replace("\\\n", " "), flags=re.MULTILINE)
        assert len(curl_commands) == 4
        for command in curl_commands:
            result = subprocess.run(["bash", "-c", command + " --fail-with-body"], capture_output=True, text=True, timeout=60, check=False)
            assert result.returncode == 0, (command, result.stdout, result.stderr)
            assert result.stdout.startswith("{")
            assert NOTHING_RELEVANT not in result.stdout, (command, result.stdout)  # the chat example is answered

        for heading in ("openai client (.venv/bin/python):", "BentoML client:"):
            snippet = _python_snippet(up.stdout, heading)
            result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120, check=False, env=env)
            assert result.returncode == 0, (snippet, result.stderr[-2000:])
            assert result.stdout.strip() and NOTHING_RELEVANT not in result.stdout, result.stdout
    finally:
        down = _local("down", env, port)
    assert down.returncode == 0 and "stopped" in down.stdout
    # Every request the examples made went through the gateway and left an audit record.
    assert any((tmp_path / "gateway" / "audit").rglob("*")), "the gateway wrote no audit log"
    pid_file = tmp_path / "state" / "serve.json"
    assert not pid_file.exists()
    time.sleep(1)
    assert _local("status", env, port).stdout.strip() == "not running"
