"""Group commit of access-log appends (DESIGN §2 guarantee 5: every decision logged durably
before any data leaves).

Every read must be in the access log, durably, before its answer is sent. One transaction (and
one fsync) per read serializes readers on the database's write lock: with SQLite each waiter
sleeps in the busy handler, and the tail latency grows with the number of readers. Instead,
concurrent reads hand their prepared entries to a :class:`GroupCommitter`: the first caller
that finds no commit in progress becomes the *leader*, takes every entry queued so far and
writes them in **one** transaction — nonces, log entries, decision rows — while later callers
queue for the next round. Each caller returns only when the transaction holding its entry has
committed, so the guarantee is unchanged; a failure (a replayed nonce, a database error) is
reported to the callers it concerns, and a replayed nonce does not hold back the others.

Several gateway processes may share one database: each process groups its own callers, and
appends stay serialized in the database (:class:`gateway.store.DbLog`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from gateway.store import AccessDecision, DbLog
from gateway.store import Submission as RequestNonce
from gateway.store._log import append_on_sqlite_cursor

__all__ = ["GroupCommitter", "PendingAccess"]

_NONCES: sa.Table = RequestNonce.__table__  # type: ignore[attr-defined]
_DECISIONS: sa.Table = AccessDecision.__table__  # type: ignore[attr-defined]
# A request nonce is claimed by an insert that does nothing on a conflict and returns the new
# row's id only when it inserted one (built once). PostgreSQL goes through SQLAlchemy Core;
# SQLite, the hot path of the default deployment, through the sqlite3 cursor in plain SQL
# (the schema is the migrations'; a test holds the SQL to the tables).
_CLAIM_PG = (
    postgresql.insert(_NONCES)
    .values(
        {name: sa.bindparam(name) for name in ("org_id", "nonce", "request_digest", "received_at")}
    )
    .on_conflict_do_nothing()
    .returning(_NONCES.c.id)
)
_CLAIM_SQLITE_RAW = (
    "INSERT INTO submission (org_id, nonce, request_digest, received_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
_DECISION_COLUMNS = (
    "log_index",
    "requester",
    "subject_commitment",
    "record_id",
    "purpose",
    "decision",
    "reason",
    "basis",
    "grant_id",
    "decided_at",
)
_INSERT_DECISIONS_SQLITE = (
    "INSERT INTO access_decision (log_index, requester, subject_commitment, record_id, purpose, "
    "decision, reason, basis, grant_id, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _driver(call: Any, statement: str, params: Any) -> Any:
    """Run a driver call; its errors become SQLAlchemy's (``IntegrityError``, …), as on the
    Core path."""
    try:
        return call(statement, params)
    except sqlite3.DatabaseError as exc:
        raise sa.exc.DBAPIError.instance(statement, params, exc, sqlite3.DatabaseError) from exc


@dataclass
class PendingAccess:
    """One read's access-log entry and what goes with it, waiting to be committed."""

    org_id: str
    nonce: str
    request_digest: bytes
    received_at: int
    entry: bytes
    decisions: Sequence[dict[str, Any]]
    """``access_decision`` rows without ``log_index`` (filled in at commit)."""
    index: int | None = None
    replayed: bool = False
    error: BaseException | None = None
    _done: bool = field(default=False, repr=False)


class GroupCommitter:
    """Commits :class:`PendingAccess` items to the ``access`` log, many per transaction."""

    def __init__(self, engine: Engine, *, max_batch: int = 512) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._cv = threading.Condition()
        self._queue: list[PendingAccess] = []
        self._busy = False
        self._log_exists = False
        self.batches = 0
        """Transactions committed (for tests and benchmarks)."""

    def commit(self, item: PendingAccess) -> PendingAccess:
        """Return once ``item`` is durably in the access log (``item.index`` set) or refused
        (``item.replayed``, or ``item.error`` re-raised here)."""
        with self._cv:
            self._queue.append(item)
            while True:
                if item._done:
                    break
                if not self._busy:
                    self._busy = True
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                    break
                self._cv.wait()
        if not item._done:
            try:
                self._write(batch)
            finally:
                with self._cv:
                    for it in batch:
                        it._done = True
                    self._busy = False
                    self._cv.notify_all()
        if item.error is not None:
            raise item.error
        if item.index is None and not item.replayed:
            raise RuntimeError("the access-log commit was interrupted")
        return item

    def _write(self, batch: list[PendingAccess]) -> None:
        if self._engine.dialect.name == "sqlite" and self._log_exists:
            self._write_sqlite(batch)
            return
        try:
            self.batches += 1
            with self._engine.begin() as conn:
                # the hot path on SQLite: the driver's cursor, no statement compiling
                cursor = (
                    conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    if conn.dialect.name == "sqlite"
                    else None
                )
                accepted = [it for it in batch if self._claim_nonce(conn, cursor, it)]
                if accepted:
                    log = DbLog(conn, "access")
                    if not self._log_exists:
                        log.ensure()
                    indices = log.append([it.entry for it in accepted])
                    rows: list[dict[str, Any]] = []
                    for it, index in zip(accepted, indices, strict=True):
                        it.index = index
                        rows.extend({**row, "log_index": index} for row in it.decisions)
                    if cursor is not None:
                        _driver(
                            cursor.executemany,
                            _INSERT_DECISIONS_SQLITE,
                            [tuple(r[c] for c in _DECISION_COLUMNS) for r in rows],
                        )
                    elif rows:  # an empty list would insert one row of NULLs (a forward has none)
                        conn.execute(_DECISIONS.insert(), rows)
            self._log_exists = True
        except Exception as exc:  # noqa: BLE001 - rolled back: reported to every caller
            for it in batch:
                it.index = None
                it.error = exc

    def _write_sqlite(self, batch: list[PendingAccess]) -> None:
        """:meth:`_write` on SQLite, the default deployment's hot path, driven on the driver's
        connection: the writer queue and ``BEGIN IMMEDIATE`` as every write transaction of
        the engine (:mod:`gateway.store._engine`), then plain SQL — no SQLAlchemy
        connection, transaction or statement objects per batch."""
        self.batches += 1
        raw = self._engine.raw_connection()  # a pooled connection, outside any transaction
        try:
            dbapi: Any = raw.driver_connection
            enter = getattr(dbapi, "enter_queue", None)  # the engine's writer queue
            queued = bool(enter is not None and enter())
            try:
                cursor = dbapi.cursor()
                _driver(cursor.execute, "BEGIN IMMEDIATE", ())
            except BaseException:
                if queued:
                    dbapi.leave_queue()
                raise
            try:
                accepted = [it for it in batch if self._claim_nonce(None, cursor, it)]
                if accepted:
                    indices = append_on_sqlite_cursor(
                        cursor, "access", [it.entry for it in accepted]
                    )
                    rows: list[tuple[Any, ...]] = []
                    for it, index in zip(accepted, indices, strict=True):
                        it.index = index
                        rows.extend(
                            (index, *(row[c] for c in _DECISION_COLUMNS[1:]))
                            for row in it.decisions
                        )
                    _driver(cursor.executemany, _INSERT_DECISIONS_SQLITE, rows)
                try:
                    dbapi.commit()  # and leaves the queue
                except sqlite3.DatabaseError as exc:
                    raise sa.exc.DBAPIError.instance(
                        "COMMIT", (), exc, sqlite3.DatabaseError
                    ) from exc
            except BaseException:
                dbapi.rollback()  # leaves the queue
                raise
        except Exception as exc:  # noqa: BLE001 - rolled back: reported to every caller
            for it in batch:
                it.index = None
                it.error = exc
        finally:
            raw.close()

    @staticmethod
    def _claim_nonce(conn: sa.Connection | None, cursor: Any, it: PendingAccess) -> bool:
        """Claim ``it``'s nonce (through ``cursor`` on SQLite); False, and ``it.replayed``,
        when it was taken already."""
        params = (it.org_id, it.nonce, it.request_digest, it.received_at)
        if cursor is not None:
            _driver(cursor.execute, _CLAIM_SQLITE_RAW, params)
            claimed = cursor.fetchone()
        else:
            assert conn is not None
            names = ("org_id", "nonce", "request_digest", "received_at")
            claimed = conn.execute(_CLAIM_PG, dict(zip(names, params, strict=True))).first()
        it.replayed = claimed is None
        return not it.replayed
