"""The gateway's storage layer: SQLite by default, PostgreSQL at scale (DESIGN §4, §7).

* :func:`make_engine` — an engine with the locking discipline each database needs;
* :func:`upgrade` / :func:`current_revision` — the packaged Alembic migrations;
* the SQLModel tables (:class:`Record`, :class:`Submission`, :class:`Anchor`, …);
* :class:`DbLog` — an RFC 9162 Merkle log stored as perfect-subtree hashes, appended inside the
  caller's transaction and proven with O(log n) node reads in one query;
* :func:`session_scope` — commit on success, roll back on exception;
* :class:`StoreError` and its subclasses — every deliberate failure.
"""

from gateway.store._engine import SQLITE_PRAGMAS, checkpoint_wal, make_engine, read_only
from gateway.store._errors import (
    DuplicateEntry,
    InvalidRange,
    LogCorrupted,
    NotFound,
    StoreError,
)
from gateway.store._log import MAX_ENTRIES_PER_READ, DbLog
from gateway.store._migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from gateway.store._models import (
    ANCHOR_STATES,
    AccessDecision,
    Anchor,
    FreeText,
    Kek,
    LogEntry,
    LogHead,
    LogNode,
    Objection,
    Record,
    Repair,
    StatusChange,
    Submission,
)
from gateway.store._session import session_scope

__all__ = [
    "ANCHOR_STATES",
    "MAX_ENTRIES_PER_READ",
    "MIGRATIONS_DIR",
    "SQLITE_PRAGMAS",
    "AccessDecision",
    "Anchor",
    "DbLog",
    "DuplicateEntry",
    "FreeText",
    "InvalidRange",
    "Kek",
    "LogCorrupted",
    "LogEntry",
    "LogHead",
    "LogNode",
    "NotFound",
    "Objection",
    "Record",
    "Repair",
    "StatusChange",
    "StoreError",
    "Submission",
    "alembic_config",
    "checkpoint_wal",
    "current_revision",
    "head_revision",
    "make_engine",
    "read_only",
    "session_scope",
    "upgrade",
]
