"""The gateway's RDS role bootstrap (services/state/rds_roles.py) against a real PostgreSQL server.

RDS cannot run here: a local server stands in for it, with the `rds_iam` role RDS would have created
made by hand, and the master secret served by moto (Secrets Manager's wire protocol). The server trusts
loopback logins, so what is checked is what the statements grant, not the IAM token itself (that
the gateway logs in with a token is tested in tests/state).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from platform_facts import project
from services.state import StateStore
from services.state.rds_roles import IAM_ROLE, apply_roles, main, role_statements
from tests.state.postgres_server import PostgresUnavailable, postgres_server

GATEWAY_USER = f"{project.METRIC_PREFIX}_gateway"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as why:
        pytest.skip(str(why))


def _connect(url: str, user: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
    parsed = make_url(url)
    return psycopg.connect(host=parsed.host, port=parsed.port, dbname=parsed.database,
                           user=user or parsed.username, autocommit=True)


@pytest.fixture
def rds_like(server_url: str) -> Iterator[str]:
    """The server as RDS leaves it: an `rds_iam` role, no gateway role; dropped again afterwards."""
    with _connect(server_url) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(IAM_ROLE)))
    yield server_url
    with _connect(server_url) as connection:
        connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (GATEWAY_USER,)).fetchone():
            connection.execute(sql.SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(sql.Identifier(GATEWAY_USER)))
        connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(IAM_ROLE)))


def _member_of_iam_role(url: str) -> bool:
    with _connect(url) as connection:
        row = connection.execute("SELECT pg_has_role(%s, %s, 'member')", (GATEWAY_USER, IAM_ROLE)).fetchone()
    return bool(row and row[0])


def test_the_gateway_role_gets_iam_logins_and_then_migrates_the_schema_itself(rds_like: str) -> None:
    database = make_url(rds_like).database
    assert database is not None
    for _ in range(2):  # a second run (a re-created Job) changes nothing and does not fail
        with _connect(rds_like) as connection:
            apply_roles(connection, GATEWAY_USER, database)
    assert _member_of_iam_role(rds_like)
    as_gateway = make_url(rds_like).set(username=GATEWAY_USER).render_as_string(hide_password=False)
    store = StateStore.open(as_gateway)
    try:
        assert {"review_items", "responses"} <= set(inspect(store.engine).get_table_names())
    finally:
        store.close()
    with _connect(rds_like) as connection:
        owners = {row[0] for row in connection.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
    assert owners == {GATEWAY_USER}


def test_main_reads_the_master_secret_rds_keeps(rds_like: str, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    parsed = make_url(rds_like)
    secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="rds!db-1234", SecretString=json.dumps({"username": parsed.username, "password": "unused-by-trust"}))
    argv = ["--host", str(parsed.host), "--port", str(parsed.port), "--database", str(parsed.database),
            "--user", GATEWAY_USER, "--master-secret-arn", secret["ARN"], "--region", "us-east-1", "--sslmode", "disable"]
    assert main(argv) == 0
    assert f"{GATEWAY_USER} logs in to {parsed.database}" in capsys.readouterr().out
    assert _member_of_iam_role(rds_like)


def test_a_missing_secret_or_a_bad_name_is_an_error_naming_the_argument(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    base = ["--host", "127.0.0.1", "--database", "db", "--region", "us-east-1"]
    assert main([*base, "--user", GATEWAY_USER, "--master-secret-arn", "arn:aws:secretsmanager:us-east-1:1:secret:none"]) == 1
    assert "--master-secret-arn: cannot read" in capsys.readouterr().err
    assert main([*base, "--user", "Robert'); DROP", "--master-secret-arn", "x"]) == 1
    assert "--user: \"Robert'); DROP\" must be a lower-case PostgreSQL name" in capsys.readouterr().err


def test_names_are_quoted_identifiers_never_spliced_text() -> None:
    with pytest.raises(ValueError, match=r"^database: 'a-b' must be a lower-case PostgreSQL name"):
        role_statements(GATEWAY_USER, "a-b")
    statements = [statement.as_string() for statement in role_statements(GATEWAY_USER, "db")]
    assert statements[1] == f'GRANT "{IAM_ROLE}" TO "{GATEWAY_USER}"'
