"""Where the shared state store is: the gateway config's `state:` block.

Pydantic only (no SQLAlchemy): the infrastructure-only install validates gateway configs too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator

if TYPE_CHECKING:
    from services.state import StateStore

__all__ = ["StateConfig"]


class StateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    """SQLAlchemy URL every replica of the cluster shares: `postgresql+psycopg://user@host:5432/db` where
    Rampart is deployed; `null` (the default, `make up`) is a SQLite file in the gateway's state directory."""

    aws_iam_region: str | None = None
    """Log in to RDS PostgreSQL with IAM authentication tokens of this region (the gateway's role needs
    `rds-db:connect` on the database user); `null`: the URL's own credentials (on-prem, local)."""

    @field_validator("url")
    @classmethod
    def _known_database(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return url

    def url_for(self, state_dir: Path) -> str:
        return self.url or f"sqlite:///{state_dir / 'state.sqlite'}"

    def open_store(self, state_dir: Path) -> StateStore:
        """The store as every gateway replica opens it: the operator's tools (export-eval, promote) must log in
        the same way (an IAM token with `aws_iam_region`), or RDS refuses them."""
        from services.state import StateStore  # SQLAlchemy: the serving install's, imported only when opened

        return StateStore.open(self.url_for(state_dir), self.aws_iam_region)
