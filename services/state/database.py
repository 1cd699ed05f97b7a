"""The store's database: one engine per URL, brought to the newest schema with Alembic before use.

`sqlite:///path` is the embedded default (`make up`, one host); `postgresql+psycopg://...` is what
every replica of a deployed cluster shares. Both run the same migrations (`migrations/versions/`).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

__all__ = ["MIGRATIONS_DIR", "alembic_config", "iam_token_password", "migrate", "open_engine", "sqlite_url"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_engine(url: str, aws_iam_region: str | None = None) -> Engine:
    """An engine for `url`; SQLite files get WAL and a busy timeout so several processes can share one.

    With `aws_iam_region` (RDS IAM database authentication), each new Postgres connection logs in with a
    fresh 15-minute IAM token as its password instead of a stored one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10.0, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        # pre_ping: a replica outlives database failovers and idle-connection reaping; recycle: before a
        # connection's IAM token (15 minutes) would matter on a reconnect.
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_recycle=600)
        if aws_iam_region is not None:
            event.listen(engine, "do_connect", iam_token_password(aws_iam_region))
        return engine
    raise ValueError(f"state.url: unsupported database {parsed.get_backend_name()!r} (use sqlite or postgresql)")


def iam_token_password(region: str) -> Callable[..., None]:
    """A `do_connect` hook that puts a fresh RDS IAM authentication token in the connection's password."""
    import boto3

    client = boto3.client("rds", region_name=region)

    def use_token(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        params["password"] = client.generate_db_auth_token(
            DBHostname=params["host"], Port=int(params.get("port") or 5432), DBUsername=params["user"])
        params.setdefault("sslmode", "require")

    return use_token


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (a no-op when it is there already)."""
    with _migration_lock(engine), engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory locks: processes on one host migrating one file take a lock file beside it.
    (Postgres takes an advisory lock inside the migration's transaction, migrations/env.py.)"""
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
