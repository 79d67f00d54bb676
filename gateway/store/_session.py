"""Transaction scope for service code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.store._engine import read_only as _read_only_engine

__all__ = ["session_scope"]


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """A session whose transaction commits when the block ends normally and rolls back when it
    raises (the exception propagates).

    Objects are not expired at commit (``expire_on_commit=False``), so values loaded or added in
    the block stay readable after it. ``read_only=True`` uses :func:`gateway.store.read_only`:
    on SQLite the transaction does not take the write lock, and must not write.
    """
    bind = _read_only_engine(engine) if read_only else engine
    with Session(bind, expire_on_commit=False) as session, session.begin():
        yield session
