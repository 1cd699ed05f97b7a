"""The gateway's database role on RDS, created once: `python -m services.state.rds_roles --host ... --database ...`.

RDS creates the database and its master user, whose password RDS generates and keeps in Secrets
Manager. The gateway never sees that password: it logs in as its own role with 15-minute IAM tokens
(`state.aws_iam_region`), which needs the role to exist, to hold `rds_iam`, and to be allowed to create
the store's tables. This module does exactly that with the master secret, idempotently (a second run
changes nothing); the stack runs it as a Kubernetes Job (components/postgres_bootstrap.py). The schema
itself is not created here: each gateway replica migrates it on start (services/state/database.py), so
the tables belong to the gateway's role.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from psycopg import sql

__all__ = ["IAM_ROLE", "RoleBootstrapError", "apply_roles", "main", "role_statements"]

IAM_ROLE = "rds_iam"
"""The role RDS grants IAM-token logins through (RDS creates it; plain PostgreSQL has none)."""
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleBootstrapError(RuntimeError):
    """The roles could not be set up; the message says which step and why."""


def _checked(field: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{field}: {name!r} must be a lower-case PostgreSQL name (letters, digits, _)")
    return name


def role_statements(user: str, database: str, *, iam_role: str = IAM_ROLE) -> list[sql.Composed]:
    """The statements, each safe to run again: the login role, IAM logins, and the right to create tables."""
    role = sql.Identifier(_checked("user", user))
    return [
        sql.SQL("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN "
                "CREATE ROLE {role} LOGIN; END IF; END $$").format(name=sql.Literal(user), role=role),
        sql.SQL("GRANT {iam} TO {role}").format(iam=sql.Identifier(_checked("iam_role", iam_role)), role=role),
        sql.SQL("GRANT CONNECT ON DATABASE {database} TO {role}").format(
            database=sql.Identifier(_checked("database", database)), role=role),
        # PostgreSQL 15+ no longer lets every role create in `public`: the gateway's migrations need it.
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {role}").format(role=role),
    ]


def apply_roles(connection: Any, user: str, database: str, *, iam_role: str = IAM_ROLE) -> None:
    """Run `role_statements` on an open psycopg connection (autocommit or not: committed here)."""
    with connection.cursor() as cursor:
        for statement in role_statements(user, database, iam_role=iam_role):
            cursor.execute(statement)
    connection.commit()


def _master_credentials(secret_arn: str, region: str) -> tuple[str, str]:
    """The master user's name and password from the secret RDS manages (`{"username": ..., "password": ...}`)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        secret = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)
    except (BotoCoreError, ClientError) as error:
        raise RoleBootstrapError(f"--master-secret-arn: cannot read {secret_arn}: {error}") from None
    try:
        value = json.loads(secret["SecretString"])
        return str(value["username"]), str(value["password"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise RoleBootstrapError(f"--master-secret-arn: {secret_arn} is not an RDS master secret "
                                 "(a JSON object with username and password)") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.state.rds_roles", description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True, help="the database's address")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--database", required=True)
    parser.add_argument("--user", required=True, help="the role the gateway logs in as with IAM tokens")
    parser.add_argument("--master-secret-arn", required=True,
                        help="the Secrets Manager secret RDS keeps the master password in")
    parser.add_argument("--region", required=True)
    parser.add_argument("--sslmode", default="require", help="libpq sslmode (require: RDS forces TLS)")
    args = parser.parse_args(argv)
    import psycopg

    try:
        _checked("--user", args.user)
        _checked("--database", args.database)
        master, password = _master_credentials(args.master_secret_arn, args.region)
        with psycopg.connect(host=args.host, port=args.port, dbname=args.database, user=master, password=password,
                             sslmode=args.sslmode, connect_timeout=10) as connection:
            apply_roles(connection, args.user, args.database)
    except (ValueError, RoleBootstrapError, psycopg.Error) as error:
        print(f"state roles: {error}", file=sys.stderr)
        return 1
    print(f"state roles: {args.user} logs in to {args.database} on {args.host} with IAM tokens and may create tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
