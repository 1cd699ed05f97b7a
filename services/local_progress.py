"""`make up`'s view of the index build: the Retriever replicas write its progress to their Serve logs, and
the local server relays those lines to its own output, which `make up` shows while it waits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

__all__ = ["relay_index_progress"]


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
                    print(f"[{time.monotonic() - started:5.1f}s] {PROGRESS_PREFIX}{line.split(marker, 1)[1]}",
                          flush=True)
        if finished:
            return
