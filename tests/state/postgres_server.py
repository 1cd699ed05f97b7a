"""A real PostgreSQL server for tests: initdb into a temporary directory, started on a free loopback port.

Uses Debian's `postgresql` package (`make postgres` installs it). PostgreSQL refuses to run as root,
so as root the server runs as the `postgres` system user (`runuser`). Stopped with `pg_ctl stop` at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platform_facts import project
from services.local import free_loopback_port

__all__ = ["PostgresUnavailable", "pg_bin_dir", "postgres_server"]


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here; the message says why."""


def pg_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl (Debian keeps them out of PATH), newest version first."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a `postgresql+psycopg://` URL of a fresh database; the server is stopped afterwards."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable("PostgreSQL is not installed (make postgres installs Debian's package)")
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root and runuser is missing: PostgreSQL will not run as root")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    workdir = Path(tempfile.mkdtemp(prefix=f"{project.PROJECT_NAME}-pg-"))
    data = workdir / "data"
    if as_root:
        shutil.chown(workdir, user="postgres")
    port = free_loopback_port()
    subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", project.PROJECT_NAME, "--auth=trust",
                    "--encoding=UTF8", "--no-sync"], check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir} -c fsync=off"
    subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(workdir / "log"),
                    "-w", "-t", "60", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*prefix, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", project.PROJECT_NAME,
                        project.PROJECT_NAME], check=True, capture_output=True)
        yield f"postgresql+psycopg://{project.PROJECT_NAME}@127.0.0.1:{port}/{project.PROJECT_NAME}"
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)
