"""Schema migrations (Alembic), shipped inside the package and run programmatically.

The Alembic configuration is built in code and points at this package's ``migrations``
directory, so :func:`upgrade` works from any working directory and from an installed wheel; no
``alembic.ini`` is needed. (For the ``alembic`` command line, write an ini file with
``script_location = gateway.store:migrations`` and ``sqlalchemy.url``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory (``env.py``, ``versions/``)."""

_PG_LOCK_KEY: Final = 0x63726564_69746368  # "creditch": serializes concurrent upgrades
"""Key of the PostgreSQL transaction-level advisory lock held while migrating."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` for the packaged migrations.

    With ``connection``, ``env.py`` runs the migrations on it (inside its transaction).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default) in one transaction.

    Safe to call from several processes at once: on PostgreSQL an advisory lock serializes them,
    on SQLite the write lock taken at ``BEGIN IMMEDIATE`` does; the later callers find the schema
    up to date and do nothing. DDL is transactional on both databases, so a failed upgrade
    leaves the schema as it was.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for a database never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this package."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
