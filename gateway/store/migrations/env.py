"""Alembic environment for the gateway store.

Three ways in:

* programmatic (:func:`gateway.store.upgrade`): the caller puts an open
  :class:`sqlalchemy.Connection`, already in a transaction, into
  ``config.attributes["connection"]``; the migrations run in that transaction;
* command line: ``alembic -c <ini>`` whose ``sqlalchemy.url`` names the database; the engine is
  built by :func:`gateway.store.make_engine`, so SQLite gets the same PRAGMAs as the service;
* offline (``--sql``): SQL text for a DBA, from ``sqlalchemy.url``.

On SQLite, migrations are rendered in batch mode (table copy-and-move), the only way SQLite can
alter most constraints.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import gateway.store._models  # noqa: F401  (registers the tables on SQLModel.metadata)
from gateway.store._engine import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, sa.Connection):
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
