"""Engine construction for the two supported databases.

SQLite (the default, one machine)
    Every pooled connection gets ``journal_mode=WAL``, ``synchronous=FULL`` (an acknowledged
    commit survives power loss), ``foreign_keys=ON``, ``busy_timeout=30000``,
    ``secure_delete=ON`` (deleted and overwritten content is zeroed, for erasure) and two
    throughput settings (:data:`SQLITE_PRAGMAS`). The sqlite3
    driver's own transaction handling is switched off (``isolation_level = None``) and SQLAlchemy
    emits ``BEGIN IMMEDIATE`` itself (the documented recipe), so a transaction takes the database
    write lock when it starts. Two writers therefore queue on ``busy_timeout`` instead of one of
    them failing with ``SQLITE_BUSY`` when it upgrades a read lock to a write lock mid-transaction
    (an upgrade that ``busy_timeout`` cannot wait out). Read-only work can opt out with
    :func:`read_only`, which begins with a plain (deferred) ``BEGIN`` and so never waits for a
    writer: WAL readers see the last committed snapshot.

    Writers queue in the kernel, not in SQLite's busy handler: before ``BEGIN IMMEDIATE`` a
    connection takes an exclusive ``flock`` on ``<database>-writers`` and drops it after its
    ``COMMIT`` or ``ROLLBACK``. SQLite's busy handler polls with sleeps of up to 100 ms, so
    under contention (several gateway worker processes, or submissions alongside reads) a
    waiting writer could sleep long after the lock was free; a ``flock`` waiter is woken as
    soon as it is released. The kernel drops the lock of a process that dies. A thread that
    opens a second write transaction while holding one skips the queue (and meets SQLite's
    ``busy_timeout`` as before) rather than waiting for itself.

PostgreSQL (``postgresql+psycopg://…``, several gateway workers)
    ``READ COMMITTED`` with ``pool_pre_ping``. Writers that must be serialized (log appends) take
    a row lock on the log's head row (``UPDATE … RETURNING``); every later statement of the
    transaction then sees the rows committed by the previous lock holder.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

__all__ = ["SQLITE_PRAGMAS", "checkpoint_wal", "make_engine", "read_only"]

SQLITE_PRAGMAS: Final[tuple[tuple[str, str], ...]] = (
    ("journal_mode", "WAL"),
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
    ("busy_timeout", "30000"),
    # Freed bytes are zeroed: a record erased by setting its envelope to NULL leaves no copy of
    # its ciphertext or wrapped data key in the free space of its page. (WAL frames written
    # before the erasure keep the old page until the WAL is checkpointed and rewritten.)
    ("secure_delete", "ON"),
    # Throughput tuning for bulk appends (random-order unique indexes on hashes dirty about one
    # page per inserted row): a 64 MiB page cache per connection (default 2 MiB), and a WAL
    # checkpoint every ~40 MiB (10000 pages; default 1000), so pages dirtied by consecutive
    # commits are copied back to the database file once instead of once per commit.
    ("cache_size", "-65536"),
    ("wal_autocheckpoint", "10000"),
)
"""PRAGMAs applied to every SQLite connection, in this order."""

_READ_ONLY: Final = "creditchain_read_only"
_VIEW_ATTR: Final = "_creditchain_read_only_view"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` configured as described in the module docstring.

    ``kwargs`` are passed to :func:`sqlalchemy.create_engine` (e.g. ``pool_size``, ``echo``).
    Only the ``sqlite`` and ``postgresql`` backends are supported.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_database_files(database)
            connect_args = dict(kwargs.pop("connect_args", {}))
            connect_args.setdefault("factory", _queued_connection(database + "-writers"))
            kwargs["connect_args"] = connect_args
        engine = sa.create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("isolation_level", "READ COMMITTED")
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(url, **kwargs)
    raise ValueError(f"unsupported database backend {backend!r} (sqlite or postgresql)")


def _private_database_files(database: str) -> None:
    """The database file is created (or narrowed to) mode 0600 before SQLite opens it, so its
    ``-wal`` and ``-shm``, which SQLite creates with the database file's mode, are 0600 too."""
    try:
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError:
        return  # a missing directory, say: SQLite reports it when it opens the file
    for suffix in ("", "-wal", "-shm", "-writers"):
        try:
            st = os.stat(database + suffix)
        except FileNotFoundError:
            continue
        if st.st_mode & 0o077:
            os.chmod(database + suffix, 0o600)


def read_only(engine: Engine) -> Engine:
    """A view of ``engine`` (same pool) for transactions that never write.

    On SQLite its transactions start with a deferred ``BEGIN`` and do not queue behind
    writers; a write attempted in one may fail with ``database is locked``. On PostgreSQL it is
    the same engine behaviour.
    """
    view: Engine | None = getattr(engine, _VIEW_ATTR, None)
    if view is None:  # building an option engine is not cheap: one per engine, kept on it
        view = engine.execution_options(**{_READ_ONLY: True})
        setattr(engine, _VIEW_ATTR, view)
    return view


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module: SQLAlchemy's "begin" event emits
    # BEGIN below, and sqlite3 still commits/rolls back on commit()/rollback().
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for name, value in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {name}={value}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    if conn.get_execution_options().get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")
        return
    dbapi = conn.connection.dbapi_connection
    queued = isinstance(dbapi, _QueuedConnection) and dbapi.enter_queue()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if queued:
            assert isinstance(dbapi, _QueuedConnection)
            dbapi.leave_queue()
        raise


_held = threading.local()  # the writer-queue files this thread holds


class _QueuedConnection(sqlite3.Connection):
    """A sqlite3 connection that waits in the writer queue (an ``flock``) before a write
    transaction and leaves it after the transaction ends."""

    queue_path: str = ""
    _fd: int | None = None
    _holding: bool = False

    def enter_queue(self) -> bool:
        """Wait for the queue; False (not queued) if this thread holds it already."""
        held: set[str] = _held.__dict__.setdefault("paths", set())
        if self.queue_path in held:
            return False
        if self._fd is None:
            self._fd = os.open(self.queue_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        self._holding = True
        held.add(self.queue_path)
        return True

    def leave_queue(self) -> None:
        if self._holding and self._fd is not None:
            self._holding = False
            _held.__dict__.setdefault("paths", set()).discard(self.queue_path)
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave_queue()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_queue()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_queue()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _queued_connection(path: str) -> type[_QueuedConnection]:
    """A connection class bound to one database's writer-queue file."""
    return type("QueuedConnection", (_QueuedConnection,), {"queue_path": path})


def checkpoint_wal(engine: Engine, mode: str = "PASSIVE") -> bool:
    """One WAL checkpoint on SQLite (a no-op on PostgreSQL); True when it could not finish
    because a reader or writer was busy.

    ``PASSIVE`` copies committed frames back to the database file without waiting for, or
    blocking, readers and writers. Run every second or so by the serving process, it keeps the
    WAL small, so the automatic checkpoint (``wal_autocheckpoint``, left on as a safety net)
    seldom lands on a request's commit — it would add the copy of thousands of pages to that
    one request's latency. ``TRUNCATE`` also empties the WAL file (after an erasure)."""
    if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
        raise ValueError(f"unknown checkpoint mode {mode!r}")
    if engine.dialect.name != "sqlite":
        return False
    raw = engine.raw_connection()  # outside any transaction (the driver is in autocommit mode)
    try:
        cursor = raw.cursor()
        try:
            busy = cursor.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()[0]
        finally:
            cursor.close()
    finally:
        raw.close()
    return bool(busy)
