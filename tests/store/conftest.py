"""Database fixtures for the store tests: every test runs on SQLite and on PostgreSQL.

SQLite lives in the test's tmp_path. PostgreSQL comes from ``CREDITCHAIN_TEST_PG_URL`` (a URL
to an existing database, e.g. ``postgresql+psycopg://user:pw@127.0.0.1:5432/postgres``, whose
role may create databases): each test gets a freshly created, uniquely named database that is
dropped afterwards. Without the variable the PostgreSQL cases are skipped — except under CI
(``CI`` set), where they fail, because CI must exercise PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from gateway.store import make_engine, upgrade

PG_URL_ENV = "CREDITCHAIN_TEST_PG_URL"
BACKENDS = ("sqlite", "postgresql")


def _postgres_base_url() -> str:
    url = os.environ.get(PG_URL_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{PG_URL_ENV} is not set: CI must run the store tests on PostgreSQL")
    pytest.skip(f"{PG_URL_ENV} is not set (PostgreSQL store tests skipped)")


@contextmanager
def new_database(backend: str, directory: Path) -> Iterator[str]:
    """Create an empty database on ``backend``; yield its URL; drop it afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'gateway.db'}"
        return
    base = make_url(_postgres_base_url())
    name = f"cc_test_{uuid.uuid4().hex[:20]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database on each backend."""
    with new_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine from :func:`gateway.store.make_engine` on an empty database."""
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def migrated(engine: Engine) -> Engine:
    """``engine`` with the schema migrated to head."""
    upgrade(engine)
    return engine


class StatementCounter:
    """Counts the SQL statements an engine sends (``before_cursor_execute``)."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[str] = []
        self._engine = engine

    def __enter__(self) -> StatementCounter:
        sa.event.listen(self._engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self._engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)
