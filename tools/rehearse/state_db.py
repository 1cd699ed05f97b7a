"""The stand-in for a cluster's state database: a PostgreSQL server on the rehearsal's network.

A gateway config's `state.url` names the database every gateway replica of a cluster shares: the
environment's RDS PostgreSQL in the cloud (IAM token logins), CloudNativePG's read-write Service
on site (a password from its Secret). Neither exists here, so each cluster that names one gets its
own PostgreSQL (Debian's `postgresql` package, `make postgres`), listening on the network's bridge
address with TLS (the URLs say `sslmode=require`), with the role and database the URL names. It
trusts connections from the rehearsal's own network: the IAM token or password the gateway sends is
not checked, because no AWS and no Kubernetes is here to issue or verify one. The URL in the mounted
gateway config gets this server's address in place of the planned host and port; the user,
database and options stay as planned.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from platform_facts.project import PROJECT_NAME
from tools.rehearse.tls import self_signed_certificate

__all__ = ["StateDatabase", "StateDatabaseError", "planned_netloc"]

START_TIMEOUT_S = 60


class StateDatabaseError(RuntimeError):
    """The stand-in server could not start; the message says why (and how to install PostgreSQL)."""


def _bin_dir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found is None:
        raise StateDatabaseError("PostgreSQL is not installed: `make postgres` installs Debian's package")
    return Path(found).resolve().parent


def planned_netloc(url: str) -> str:
    """The host (and port, if the URL has one) of a state URL as written: the text the stand-in's address replaces."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise StateDatabaseError(f"state.url {url!r} names no host")
    return parts.netloc.rpartition("@")[2]


class StateDatabase:
    """A PostgreSQL server for one cluster: `with StateDatabase(...) as db: db.url` is the URL its gateways use."""

    def __init__(self, planned_url: str, host: str, port: int, subnet: str, what: str) -> None:
        parts = urlsplit(planned_url)
        self.planned_url = planned_url
        self.user = parts.username or PROJECT_NAME
        self.database = parts.path.lstrip("/") or PROJECT_NAME
        self.host, self.port, self.subnet, self.what = host, port, subnet, what
        self.url = planned_url.replace(planned_netloc(planned_url), f"{host}:{port}", 1)
        self._workdir: Path | None = None
        self._prefix: list[str] = []

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self._prefix, *command], capture_output=True, text=True, timeout=START_TIMEOUT_S,
                              check=False)
        if done.returncode != 0:
            log = self._workdir / "log" if self._workdir else None
            tail = log.read_text()[-1500:] if log and log.exists() else ""
            raise StateDatabaseError(f"{self.what}: {Path(command[0]).name} failed: "
                                     f"{(done.stderr or done.stdout).strip()[-800:]}\n{tail}")
        return done

    def __enter__(self) -> StateDatabase:
        bin_dir = _bin_dir()
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            if shutil.which("runuser") is None:
                raise StateDatabaseError("running as root and runuser is missing: PostgreSQL will not run as root")
            self._prefix = ["runuser", "-u", "postgres", "--"]
        workdir = Path(tempfile.mkdtemp(prefix=f"{PROJECT_NAME}-rehearsal-pg-"))
        self._workdir = workdir
        data = workdir / "data"
        certificate = self_signed_certificate([self.host])
        (workdir / "server.crt").write_text(certificate.certificate_pem)
        (workdir / "server.key").write_text(certificate.key_pem)
        (workdir / "server.key").chmod(0o600)
        if self._prefix:
            for path in (workdir, workdir / "server.crt", workdir / "server.key"):
                shutil.chown(path, user="postgres")
        self._run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                  "--no-sync")
        # Only the rehearsal's network, only over TLS (the URLs require it), and the local socket for set-up.
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"hostssl all all {self.subnet} trust\n"
        )
        options = (f"-c listen_addresses={self.host} -p {self.port} -k {workdir} -c fsync=off -c ssl=on "
                   f"-c ssl_cert_file={workdir / 'server.crt'} -c ssl_key_file={workdir / 'server.key'}")
        self._run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(workdir / "log"), "-w",
                  "-t", str(START_TIMEOUT_S), "start")
        psql = [str(bin_dir / "psql"), "-h", str(workdir), "-p", str(self.port), "-U", "postgres", "-v",
                "ON_ERROR_STOP=1", "-q"]
        self._run(*psql, "-c", f'CREATE ROLE "{self.user}" LOGIN')
        self._run(*psql, "-c", f'CREATE DATABASE "{self.database}" OWNER "{self.user}"')
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._workdir is None:
            return
        bin_dir = _bin_dir()
        subprocess.run([*self._prefix, str(bin_dir / "pg_ctl"), "-D", str(self._workdir / "data"), "-m", "fast", "-w",
                        "stop"], capture_output=True, timeout=START_TIMEOUT_S, check=False)
        shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None
