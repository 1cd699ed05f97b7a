"""`make up` relays the index build's progress from the Retriever replicas' logs (the real app's output is
checked by tests/fork/test_fork.py); here the reading itself: only progress lines, each once, a line still
being written only once it is whole."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from services.local_progress import relay_index_progress

SERVE_LINE = "INFO 2026-12-07 21:41:54,166 app_Retriever ayyw0rgs -- {}\n"


def test_progress_lines_are_relayed_once_and_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "session_latest" / "logs" / "serve"
    logs.mkdir(parents=True)
    retriever = logs / "replica_app_Retriever_ayyw0rgs.log"
    retriever.write_text(SERVE_LINE.format("Started initializing replica.")
                         + SERVE_LINE.format("retriever: embedded 64 passages (19/s)")
                         + SERVE_LINE.format("retriever: embedded 128 pass")[:-1])  # being written
    (logs / "replica_app_Embedder_x1.log").write_text(SERVE_LINE.format("retriever: not from a Retriever"))
    done, relayed = threading.Event(), list[str]()
    relay = threading.Thread(target=relay_index_progress, args=(tmp_path, 0.0, done, 0.01))
    relay.start()
    try:
        _wait_for(capsys, relayed, "embedded 64")
        with retriever.open("a") as log:
            log.write("ages (20/s)\n" + SERVE_LINE.format("CALL retrieve OK 3.1ms"))
        _wait_for(capsys, relayed, "embedded 128")
    finally:
        done.set()
        relay.join(timeout=5)
    lines = "".join([*relayed, capsys.readouterr().out]).splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "retriever: embedded 64 passages (19/s)", "retriever: embedded 128 passages (20/s)"
    ], lines
    assert all(line.startswith("[") for line in lines)  # `make up` shows the server's lines that start so


def test_the_lines_written_before_the_deploy_ended_are_relayed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "session_latest" / "logs" / "serve"
    logs.mkdir(parents=True)
    (logs / "replica_app_Retriever_ayyw0rgs.log").write_text(SERVE_LINE.format("retriever: wrote version 1 (411 passages)"))
    done = threading.Event()
    done.set()  # the deploy ended before the relay's first look
    relay_index_progress(tmp_path, 0.0, done, every_s=60)
    assert capsys.readouterr().out.endswith("] retriever: wrote version 1 (411 passages)\n")


def _wait_for(capsys: pytest.CaptureFixture[str], relayed: list[str], text: str, timeout_s: float = 5.0) -> None:
    """Collect what the relay printed into `relayed` until `text` is among it."""
    for _ in range(int(timeout_s / 0.01)):
        relayed.append(capsys.readouterr().out)
        if text in "".join(relayed):
            return
        time.sleep(0.01)
    raise AssertionError(f"{text!r} not relayed; output so far: {''.join(relayed)!r}")
