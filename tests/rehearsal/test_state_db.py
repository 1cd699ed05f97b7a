"""The rehearsal's state database stand-in: a real PostgreSQL (Debian's package) that the planned
URL, with only its host and port replaced, logs in to over TLS as the planned role."""

from __future__ import annotations

import socket

import pytest

from platform_facts.project import METRIC_PREFIX, environment_prefix
from tools.rehearse.state_db import StateDatabase, StateDatabaseError, planned_netloc
from tools.rehearse.state_db import _bin_dir as pg_bin_dir

ROLE, DATABASE = f"{METRIC_PREFIX}_gateway", METRIC_PREFIX
HOST = f"{environment_prefix('dev')}-state.c0a1b2.us-east-1.rds.amazonaws.com"
PLANNED = f"postgresql+psycopg://{ROLE}@{HOST}:5432/{DATABASE}?sslmode=require"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_planned_host_and_port_are_what_gets_replaced() -> None:
    assert planned_netloc(PLANNED) == f"{HOST}:5432"
    assert planned_netloc("postgresql+psycopg://u@db-rw.ns.svc/db") == "db-rw.ns.svc"
    with pytest.raises(StateDatabaseError, match="names no host"):
        planned_netloc("postgresql+psycopg:///db")


def test_the_gateway_logs_in_as_the_planned_role_over_tls() -> None:
    try:
        pg_bin_dir()
    except StateDatabaseError as error:
        pytest.skip(str(error))
    import psycopg

    port = _free_port()
    with StateDatabase(PLANNED, "127.0.0.1", port, "127.0.0.1/32", "test") as database:
        assert database.url == f"postgresql+psycopg://{ROLE}@127.0.0.1:{port}/{DATABASE}?sslmode=require"
        # Any password is accepted (trust on the rehearsal's network): an IAM token is what the gateway sends.
        with psycopg.connect(host="127.0.0.1", port=port, user=ROLE, dbname=DATABASE,
                             password="an-iam-token", sslmode="require") as connection:
            row = connection.execute("SELECT current_user, ssl FROM pg_stat_ssl JOIN pg_stat_activity "
                                     "USING (pid) WHERE pid = pg_backend_pid()").fetchone()
            assert row == (ROLE, True)
            connection.execute("CREATE TABLE owned_by_the_role (id int)")  # the role owns its database
        with pytest.raises(psycopg.OperationalError):  # no TLS, no entry
            psycopg.connect(host="127.0.0.1", port=port, user=ROLE, dbname=DATABASE, sslmode="disable")
