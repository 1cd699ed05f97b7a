"""The local server's progress lines, which `make up` shows while it waits: its own steps, and the index
build's, which the Retriever replicas write to their Serve logs and the server relays."""

from __future__ import annotations

import threading
import time
from pathlib import Path

__all__ = ["print_progress", "relay_index_progress"]


def print_progress(started: float, message: str) -> None:
    """One progress line, stamped with the seconds since `started` (`make up` shows the lines that start "[")."""
    print(f"[{time.monotonic() - started:5.1f}s] {message}", flush=True)


def relay_index_progress(temp_dir: Path, started: float, done: threading.Event, every_s: float = 1.0) -> None:
    """Until `done`, print the index build's progress lines from the Retriever replicas' logs, where Serve
    writes them: the first `make up` indexes docs/, about a minute here, which would otherwise pass in silence."""
    from services.inference.retriever import PROGRESS_PREFIX

    logs = temp_dir / "session_latest" / "logs" / "serve"
    marker = f" -- {PROGRESS_PREFIX}"
    offsets: dict[Path, int] = {}
    while True:
        finished = done.wait(every_s)  # then one last look: the build's last lines come just before
        for path in sorted(logs.glob("replica_*_Retriever_*.log")):
            with path.open("rb") as log:
                log.seek(offsets.get(path, 0))
                chunk = log.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for the next look
            offsets[path] = offsets.get(path, 0) + len(complete)
            for line in complete.decode(errors="replace").splitlines():
                if marker in line:
                    print_progress(started, PROGRESS_PREFIX + line.split(marker, 1)[1])
        if finished:
            return
