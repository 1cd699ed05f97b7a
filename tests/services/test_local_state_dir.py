"""`make up`'s state directory: one it cannot create is an error that names it, not a traceback; `make down`
and `status` find nothing running there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from platform_facts import project

ROOT = Path(__file__).resolve().parents[2]


def test_a_state_dir_that_cannot_be_created_is_named_in_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {**os.environ, project.env_var("LOCAL_STATE_DIR"): str(blocker / "state")}
    up = subprocess.run([sys.executable, "-m", "services.local", "up"], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=120, check=False)
    assert up.returncode == 1
    assert up.stdout.strip() == (f"error: cannot create the state directory {blocker / 'state'}: Not a directory "
                                 f"({project.env_var('LOCAL_STATE_DIR')} moves it)")
    assert "Traceback" not in up.stderr
    for command, said in (("down", f"{project.DISPLAY_NAME} is not running (no {blocker / 'state' / 'serve.json'})."),
                          ("status", "not running")):
        result = subprocess.run([sys.executable, "-m", "services.local", command], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert (result.returncode, result.stdout.strip()) == (0, said), result.stderr
