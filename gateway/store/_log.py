"""An RFC 9162 Merkle log stored in the database (tables ``log_head``, ``log_node``, ``log_entry``).

Layout
    ``log_node`` holds the hash of every *completed perfect subtree*: (level, idx) covers leaves
    ``[idx << level, (idx + 1) << level)``; level 0 are the leaf hashes. A node is written in the
    transaction that appends its last leaf and never changes afterwards, so any tree size ever
    reached can be proven from O(log n) stored nodes, fetched in one query
    (:meth:`DbLog.get_nodes`), without rebuilding anything.

Appending
    :meth:`DbLog.append` works inside the caller's transaction, so a leaf is in the log exactly
    when the rest of that transaction (the record, its receipt) is committed. Appends to one log
    are serialized by the log's ``log_head`` row:

    * PostgreSQL: ``UPDATE log_head SET size = size + n … RETURNING size`` takes the head row's
      lock. A second appender blocks there until the first commits or rolls back; under READ
      COMMITTED it then moves the new size and, in its later statements, reads the nodes the
      first one wrote.
    * SQLite: the engine begins every writing transaction with ``BEGIN IMMEDIATE``
      (:func:`gateway.store.make_engine`), so the transaction already holds the database write
      lock when it moves the head.

    An append moves the head (reserving its indices), checks that the head was the number of
    stored entries (the last entry's index, one primary-key lookup: an altered ``log_head.size``
    is refused with :class:`~gateway.store.LogCorrupted`, never overwrites or skips), reads at
    most ⌈log2 n⌉ right-edge nodes (one query), and inserts the entries, the leaf hashes and
    every perfect subtree the batch completes (bulk inserts) — five statements whatever the
    batch size; a rollback undoes all.

Reads
    Completed nodes are immutable, so reads need no lock: a proof for a size read from the head
    stays valid even if appends commit meanwhile.

Every method raises :class:`~gateway.store.StoreError` subclasses only (database driver errors
aside): :class:`~gateway.store.NotFound` for a missing log / entry / tree size,
:class:`~gateway.store.InvalidRange` for arguments that can never be valid,
:class:`~gateway.store.DuplicateEntry` for an entry already in the log, and
:class:`~gateway.store.LogCorrupted` when stored data is missing or inconsistent. After an
exception from :meth:`DbLog.append` the transaction must be rolled back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.domain import merkle
from gateway.domain.merkle import EMPTY_ROOT, Node, leaf_hash, node_hash
from gateway.store._errors import DuplicateEntry, InvalidRange, LogCorrupted, NotFound
from gateway.store._models import LOG_ENTRY_TABLE, LOG_HEAD_TABLE, LOG_NODE_TABLE

__all__ = ["MAX_ENTRIES_PER_READ", "DbLog", "append_on_sqlite_cursor"]

MAX_ENTRIES_PER_READ: Final = 10_000
"""Upper bound on ``end - start`` for :meth:`DbLog.entries`."""

_HEAD = LOG_HEAD_TABLE.c
_ADVANCE_HEAD = (
    sa.update(LOG_HEAD_TABLE)
    .where(_HEAD.log_name == sa.bindparam("name_"))
    .values(size=_HEAD.size + sa.bindparam("count_"))
    .returning(_HEAD.size)
)
_ADVANCE_HEAD_SQLITE: Final = (
    "UPDATE log_head SET size = size + ? WHERE log_name = ? "
    "RETURNING size, (SELECT max(idx) FROM log_entry WHERE log_name = ?)"
)
"""SQLite: move the head and read the last stored entry's index in one statement (the
transaction holds the write lock since BEGIN IMMEDIATE, so the subquery sees every committed
entry). PostgreSQL keeps two statements: there, a subquery would read the snapshot taken
before the UPDATE waited for the previous appender's lock."""
_NODES_SQLITE_RAW: Final = (
    "SELECT n.level, n.idx, n.hash FROM json_each(?) AS k CROSS JOIN log_node AS n"
    " ON n.log_name = ? AND n.level = json_extract(k.value, '$[0]')"
    " AND n.idx = json_extract(k.value, '$[1]')"
)
_NODE = LOG_NODE_TABLE.c
_ENTRY = LOG_ENTRY_TABLE.c
_LAST_ENTRY = sa.select(sa.func.max(_ENTRY.idx)).where(_ENTRY.log_name == sa.bindparam("name_"))
"""The index of a log's last stored entry (built once: every append checks its head)."""

# One statement per get_nodes() whatever the number of keys, each key a primary-key lookup.
# (A plain tuple-IN or an OR of key equalities makes SQLite scan the whole log's index range,
# and a UNION ALL of point queries costs milliseconds of SQL compilation per call.)
# SQLite (_NODES_SQLITE_RAW, above): the keys arrive as one JSON array of [level, idx] pairs;
# CROSS JOIN fixes the join order (keys outer), so each key is a primary-key search.
_NODES_POSTGRESQL: Final = sa.text(
    "SELECT n.level, n.idx, n.hash"
    " FROM unnest(CAST(:levels AS integer[]), CAST(:idxs AS bigint[])) AS k(level, idx)"
    " JOIN log_node AS n ON n.log_name = :log_name AND n.level = k.level AND n.idx = k.idx"
)

# Bulk inserts bypass SQLAlchemy's per-row parameter processing, which otherwise costs more
# than SQLite's own work: a driver-level executemany on SQLite, and one statement over arrays
# on PostgreSQL (a single round trip whatever the batch size).
_INSERT_NODES_SQLITE: Final = (
    "INSERT INTO log_node (log_name, level, idx, hash) VALUES (?, ?, ?, ?)"
)
_INSERT_ENTRIES_SQLITE: Final = (
    "INSERT INTO log_entry (log_name, idx, entry, leaf_hash) VALUES (?, ?, ?, ?)"
)
_INSERT_NODES_POSTGRESQL: Final = sa.text(
    "INSERT INTO log_node (log_name, level, idx, hash) SELECT :log_name, k.level, k.idx, k.hash"
    " FROM unnest(CAST(:levels AS integer[]), CAST(:idxs AS bigint[]), CAST(:hashes AS bytea[]))"
    " AS k(level, idx, hash)"
)
_INSERT_ENTRIES_POSTGRESQL: Final = sa.text(
    "INSERT INTO log_entry (log_name, idx, entry, leaf_hash)"
    " SELECT :log_name, :start + k.ord - 1, k.entry, k.leaf_hash"
    " FROM unnest(CAST(:entries AS bytea[]), CAST(:leaf_hashes AS bytea[]))"
    " WITH ORDINALITY AS k(entry, leaf_hash, ord)"
)


class DbLog:
    """One named Merkle log in the database, used through the caller's session.

    Implements :class:`gateway.domain.merkle.NodeSource`. The object holds no state besides the
    session and the name: create one per use, it is cheap. It never commits or rolls back;
    use it inside :func:`gateway.store.session_scope` (or any session transaction).
    """

    def __init__(self, session: Session | sa.Connection, log_name: str) -> None:
        """Bind the log called ``log_name`` (e.g. ``"records"``, ``"access"``) to ``session``
        (an ORM session, or a Core connection inside a transaction)."""
        if not log_name:
            raise InvalidRange("a log needs a name")
        self._session = session
        self._name = log_name

    @property
    def log_name(self) -> str:
        """The log's name (``log_head.log_name``)."""
        return self._name

    def __repr__(self) -> str:
        return f"DbLog({self._name!r})"

    # -----------------------------------------------------------------------------------------
    # Head
    # -----------------------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the log (an empty head row) if it does not exist yet. Idempotent and safe to
        run concurrently (``INSERT … ON CONFLICT DO NOTHING``)."""
        conn = self._conn()
        if conn.dialect.name == "postgresql":
            pg_stmt = postgresql.insert(LOG_HEAD_TABLE).values(log_name=self._name, size=0)
            conn.execute(pg_stmt.on_conflict_do_nothing(index_elements=["log_name"]))
        else:
            lite_stmt = sqlite.insert(LOG_HEAD_TABLE).values(log_name=self._name, size=0)
            conn.execute(lite_stmt.on_conflict_do_nothing(index_elements=["log_name"]))

    def exists(self) -> bool:
        """Whether the log's head row exists."""
        return self._read_size(self._conn()) is not None

    def size(self) -> int:
        """The number of leaves committed (or appended in this transaction).

        Raises:
            NotFound: the log does not exist (see :meth:`ensure`).
        """
        return self._require_size(self._conn())

    # -----------------------------------------------------------------------------------------
    # Nodes
    # -----------------------------------------------------------------------------------------

    def get_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        """Return the hash of each requested perfect subtree, in one query.

        Raises:
            LogCorrupted: a requested node is not stored. (Callers ask only for nodes that
                must exist for a size they have checked against the head.)
        """
        wanted = set(nodes)
        if not wanted:
            return {}
        conn = self._conn()
        keys = sorted(wanted)
        if conn.dialect.name == "postgresql":
            params: dict[str, object] = {
                "levels": [level for level, _ in keys],
                "idxs": [idx for _, idx in keys],
                "log_name": self._name,
            }
            rows = conn.execute(_NODES_POSTGRESQL, params)
        else:  # driver SQL, no statement compiling: every read's append comes here
            rows = conn.exec_driver_sql(_NODES_SQLITE_RAW, (json.dumps(keys), self._name))
        got: dict[Node, bytes] = {(int(level), int(idx)): bytes(h) for level, idx, h in rows}
        if len(got) != len(wanted):
            missing = sorted(wanted - got.keys())
            raise LogCorrupted(
                f"log {self._name!r}: {len(missing)} stored node(s) missing, "
                f"e.g. (level, idx) {missing[:5]}"
            )
        return got

    # -----------------------------------------------------------------------------------------
    # Append
    # -----------------------------------------------------------------------------------------

    def append(self, entries: Sequence[bytes]) -> list[int]:
        """Append leaf entries (the exact bytes to hash) in order; return their indices.

        Runs in the caller's transaction and holds the log's append lock until it ends (see the
        module docstring). Nothing is visible to others before the commit, and a rollback
        leaves no trace.

        Raises:
            NotFound: the log does not exist (see :meth:`ensure`).
            DuplicateEntry: an entry appears twice in ``entries`` or is already in the log
                (leaf hashes are unique per log); roll the transaction back.
            LogCorrupted: a right-edge node needed to extend the tree is missing, or the head
                disagrees with the stored entries.
        """
        if not entries:
            return []
        leaves = [leaf_hash(e) for e in entries]
        if len(set(leaves)) != len(leaves):
            raise DuplicateEntry(f"log {self._name!r}: the batch holds the same entry twice")
        conn = self._conn()
        if conn.dialect.name == "sqlite":
            return self._append_sqlite(conn, entries, leaves)
        # One statement takes the append lock (the head row's write lock; on SQLite the
        # database's, held since BEGIN IMMEDIATE) and reserves the indices; the rest of the
        # transaction sees what the previous holder committed.
        moved = conn.execute(
            _ADVANCE_HEAD, {"name_": self._name, "count_": len(leaves)}
        ).scalar_one_or_none()
        if moved is None:
            raise NotFound(f"log {self._name!r} does not exist")
        end = int(moved)
        start = end - len(leaves)
        last = conn.execute(_LAST_ENTRY, {"name_": self._name}).scalar_one_or_none()
        _check_head(self._name, start, last)
        completed = _completed(start, end, leaves, self.get_nodes(_edge_keys(start, end)))
        try:
            self._insert_entries(conn, start, entries, leaves)
        except IntegrityError as exc:
            raise DuplicateEntry(
                f"log {self._name!r}: an appended entry is already in the log "
                "(or entries exist beyond the head: the log is corrupted)"
            ) from exc
        self._insert_nodes(conn, completed)
        return list(range(start, end))

    def _append_sqlite(
        self, conn: sa.Connection, entries: Sequence[bytes], leaves: list[bytes]
    ) -> list[int]:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        return _append_on_cursor(cursor, self._name, entries, leaves, self.get_nodes)

    # -----------------------------------------------------------------------------------------
    # Tree heads and proofs
    # -----------------------------------------------------------------------------------------

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (the current size by default).

        Raises:
            NotFound: ``size`` exceeds the log's size, or the log does not exist.
            InvalidRange: ``size`` is negative.
        """
        n = self._checked_size(size)
        if n == 0:
            return EMPTY_ROOT
        return merkle.range_hash(self, 0, n)

    def checkpoint(self) -> tuple[int, bytes]:
        """The current (size, root), read consistently (two statements)."""
        n = self.size()
        return n, (merkle.range_hash(self, 0, n) if n else EMPTY_ROOT)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

        Two statements: the head (to check ``size``) and the nodes.

        Raises:
            InvalidRange: not ``0 <= index < size``.
            NotFound: ``size`` exceeds the log's size, or the log does not exist.
            LogCorrupted: a node is missing.
        """
        if not 0 <= index < size:
            raise InvalidRange(f"leaf index {index} is outside a tree of size {size}")
        self._checked_size(size)
        return merkle.inclusion_proof(self, index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof from ``old_size`` to ``new_size`` (empty when
        ``old_size`` is 0 or equals ``new_size``).

        Raises:
            InvalidRange: not ``0 <= old_size <= new_size``.
            NotFound: ``new_size`` exceeds the log's size, or the log does not exist.
            LogCorrupted: a node is missing.
        """
        if not 0 <= old_size <= new_size:
            raise InvalidRange(f"no consistency proof from size {old_size} to {new_size}")
        self._checked_size(new_size)
        return merkle.consistency_proof(self, old_size, new_size)

    # -----------------------------------------------------------------------------------------
    # Entries
    # -----------------------------------------------------------------------------------------

    def entries(self, start: int, end: int) -> list[bytes]:
        """Leaf entries ``[start, end)`` in index order, each checked against its stored leaf
        hash (``log_entry.leaf_hash`` and the level-0 node).

        Raises:
            InvalidRange: not ``0 <= start <= end`` or more than :data:`MAX_ENTRIES_PER_READ`.
            NotFound: ``end`` exceeds the log's size.
            LogCorrupted: an entry is missing or does not hash to its stored leaf hash.
        """
        if not 0 <= start <= end:
            raise InvalidRange(f"bad entry range [{start}, {end})")
        if end - start > MAX_ENTRIES_PER_READ:
            raise InvalidRange(f"at most {MAX_ENTRIES_PER_READ} entries per read")
        if start == end:
            return []
        conn = self._conn()
        rows = conn.execute(
            sa.select(_ENTRY.idx, _ENTRY.entry, _ENTRY.leaf_hash, _NODE.hash)
            .select_from(LOG_ENTRY_TABLE)
            .outerjoin(
                LOG_NODE_TABLE,
                sa.and_(
                    _NODE.log_name == _ENTRY.log_name,
                    _NODE.level == 0,
                    _NODE.idx == _ENTRY.idx,
                ),
            )
            .where(_ENTRY.log_name == self._name, _ENTRY.idx >= start, _ENTRY.idx < end)
            .order_by(_ENTRY.idx)
        ).all()
        if len(rows) != end - start:
            if end > self._require_size(conn):
                raise NotFound(f"log {self._name!r} has fewer than {end} entries")
            raise LogCorrupted(f"log {self._name!r}: entries missing in [{start}, {end})")
        out: list[bytes] = []
        for idx, entry, stored, node in rows:
            data = bytes(entry)
            h = leaf_hash(data)
            if node is None or h != bytes(stored) or h != bytes(node):
                raise LogCorrupted(
                    f"log {self._name!r}: entry {idx} does not match its stored leaf hash"
                )
            out.append(data)
        return out

    def entry(self, index: int) -> bytes:
        """The leaf entry at ``index`` (checked like :meth:`entries`)."""
        if index < 0:
            raise InvalidRange(f"bad entry index {index}")
        return self.entries(index, index + 1)[0]

    def index_of(self, leaf: bytes) -> int | None:
        """The index of the entry whose leaf hash is ``leaf``, or ``None``."""
        found = (
            self._conn()
            .execute(
                sa.select(_ENTRY.idx).where(_ENTRY.log_name == self._name, _ENTRY.leaf_hash == leaf)
            )
            .scalar_one_or_none()
        )
        return None if found is None else int(found)

    # -----------------------------------------------------------------------------------------
    # Helpers
    # -----------------------------------------------------------------------------------------

    def _conn(self) -> sa.Connection:
        if isinstance(self._session, sa.Connection):
            return self._session
        return self._session.connection()

    def _insert_entries(
        self, conn: sa.Connection, start: int, entries: Sequence[bytes], leaves: list[bytes]
    ) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(
                _INSERT_ENTRIES_POSTGRESQL,
                {
                    "log_name": self._name,
                    "start": start,
                    "entries": list(entries),
                    "leaf_hashes": leaves,
                },
            )
        else:
            name = self._name
            conn.exec_driver_sql(
                _INSERT_ENTRIES_SQLITE,
                [
                    (name, start + j, e, h)
                    for j, (e, h) in enumerate(zip(entries, leaves, strict=True))
                ],
            )

    def _insert_nodes(
        self, conn: sa.Connection, completed: list[tuple[int, int, list[bytes]]]
    ) -> None:
        if conn.dialect.name == "postgresql":
            levels: list[int] = []
            idxs: list[int] = []
            hashes: list[bytes] = []
            for level, first, nodes in completed:
                levels.extend([level] * len(nodes))
                idxs.extend(range(first, first + len(nodes)))
                hashes.extend(nodes)
            conn.execute(
                _INSERT_NODES_POSTGRESQL,
                {
                    "log_name": self._name,
                    "levels": levels,
                    "idxs": idxs,
                    "hashes": hashes,
                },
            )
        else:
            name = self._name
            conn.exec_driver_sql(
                _INSERT_NODES_SQLITE,
                [
                    (name, level, first + j, h)
                    for level, first, nodes in completed
                    for j, h in enumerate(nodes)
                ],
            )

    def _read_size(self, conn: sa.Connection) -> int | None:
        size = conn.execute(
            sa.select(_HEAD.size).where(_HEAD.log_name == self._name)
        ).scalar_one_or_none()
        return None if size is None else int(size)

    def _require_size(self, conn: sa.Connection) -> int:
        size = self._read_size(conn)
        if size is None:
            raise NotFound(f"log {self._name!r} does not exist")
        return size

    def _checked_size(self, size: int | None) -> int:
        current = self._require_size(self._conn())
        if size is None:
            return current
        if size < 0:
            raise InvalidRange(f"bad tree size {size}")
        if size > current:
            raise NotFound(f"log {self._name!r} has {current} leaves, not {size}")
        return size


# ---------------------------------------------------------------------------------------------
# Bulk rows for batch-native ingest (gateway/_service.py ``_store``): one driver-level
# ``executemany`` / one query for a whole batch, no per-row ORM or Core parameter work. Values
# go to the driver as they are (str, int, bytes, bool, None), so only for columns whose
# SQLAlchemy type does no conversion.
# ---------------------------------------------------------------------------------------------


def insert_rows(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[object, ...]],
) -> None:
    """INSERT ``rows`` (tuples of values for ``columns``, in that order; every column the table
    needs: no column defaults are applied) into ``table`` in one ``executemany`` on the
    driver, in the caller's transaction.

    Raises:
        ValueError: a column the table does not have (before any SQL runs).
        IntegrityError: a constraint refused a row (the caller rolls back).
    """
    unknown = set(columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"no such column(s) in {table.name}: {sorted(unknown)}")
    if not rows:
        return
    mark = "%s" if conn.dialect.name == "postgresql" else "?"  # as the driver spells it
    # identifiers only from the table's own definition (checked above), values as parameters
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    conn.exec_driver_sql(sql, list(rows))  # a list of parameter sets: executemany


def present_keys(
    conn: sa.Connection, table: sa.Table, column: str, keys: Sequence[bytes]
) -> set[bytes]:
    """Which of ``keys`` are already in ``table.column``, in one query.

    Raises:
        ValueError: a column the table does not have.
    """
    if column not in table.c:
        raise ValueError(f"no column {column} in {table.name}")
    if not keys:
        return set()
    if conn.dialect.name == "postgresql":
        found = conn.exec_driver_sql(
            f"SELECT {column} FROM {table.name} WHERE {column} = ANY(%s)",  # noqa: S608
            (list(keys),),
        )
    else:
        marks = ", ".join(["?"] * len(keys))
        found = conn.exec_driver_sql(
            f"SELECT {column} FROM {table.name} WHERE {column} IN ({marks})",  # noqa: S608
            tuple(keys),
        )
    return {bytes(k) for (k,) in found}


def _edge_keys(start: int, end: int) -> list[Node]:
    """Right-edge nodes of the tree of ``start`` leaves that leaves ``[start, end)`` complete
    a parent with: at level l, node (l, (start >> l) - 1) when (start >> l) is odd and level
    l gains nodes."""
    return [
        (level, (start >> level) - 1)
        for level in range(end.bit_length())
        if (start >> level) & 1 and (end >> level) > (start >> level)
    ]


def _completed(
    start: int, end: int, leaves: list[bytes], edge: dict[Node, bytes]
) -> list[tuple[int, int, list[bytes]]]:
    """The perfect subtrees that appending ``leaves`` at ``start`` completes, level by level:
    (level, first index, hashes)."""
    completed: list[tuple[int, int, list[bytes]]] = [(0, start, leaves)]
    level, first, current = 0, start, leaves
    while True:
        if first & 1:  # pair the first new node with its stored left sibling
            current = [edge[(level, first - 1)], *current]
            first -= 1
        if len(current) < 2:
            break
        current = [node_hash(current[j], current[j + 1]) for j in range(0, len(current) - 1, 2)]
        level += 1
        first >>= 1
        completed.append((level, first, current))
    return completed


def _driver(call: Callable[[str, Any], Any], statement: str, params: Any) -> Any:
    """Run a sqlite3 driver call; its errors become SQLAlchemy's (``IntegrityError``, …), as
    on the Core path."""
    try:
        return call(statement, params)
    except sqlite3.DatabaseError as exc:
        raise sa.exc.DBAPIError.instance(statement, params, exc, sqlite3.DatabaseError) from exc


def _check_head(name: str, start: int, last: object) -> None:
    """The head (before this append) must be the number of stored entries: the last one
    (``last``, its index or None) is at ``start - 1`` (a primary-key lookup). A lowered head
    would make the append collide with stored entries, a raised one skip indices: refuse
    both."""
    stored = 0 if last is None else int(last) + 1  # type: ignore[call-overload]
    if stored != start:
        raise LogCorrupted(
            f"log {name!r}: the head says {start} entries but the last stored entry "
            f"is number {stored}: the head was altered; refusing to append"
        )


def _append_on_cursor(
    cursor: sqlite3.Cursor,
    name: str,
    entries: Sequence[bytes],
    leaves: list[bytes],
    get_nodes: Callable[[list[Node]], dict[Node, bytes]],
) -> list[int]:
    """:meth:`DbLog.append` on SQLite through the driver's cursor, four statements: move the
    head and read the last stored index (one), the right-edge nodes (``get_nodes``), the
    entries, the nodes. No SQLAlchemy statement handling: every read commits here."""
    moved = _driver(cursor.execute, _ADVANCE_HEAD_SQLITE, (len(leaves), name, name))
    row = moved.fetchone()
    if row is None:
        raise NotFound(f"log {name!r} does not exist")
    end = int(row[0])
    start = end - len(leaves)
    _check_head(name, start, row[1])
    completed = _completed(start, end, leaves, get_nodes(_edge_keys(start, end)))
    try:
        _driver(
            cursor.executemany,
            _INSERT_ENTRIES_SQLITE,
            [(name, start + j, e, h) for j, (e, h) in enumerate(zip(entries, leaves, strict=True))],
        )
    except IntegrityError as exc:
        raise DuplicateEntry(
            f"log {name!r}: an appended entry is already in the log "
            "(or entries exist beyond the head: the log is corrupted)"
        ) from exc
    _driver(
        cursor.executemany,
        _INSERT_NODES_SQLITE,
        [
            (name, level, first + j, h)
            for level, first, nodes in completed
            for j, h in enumerate(nodes)
        ],
    )
    return list(range(start, end))


def append_on_sqlite_cursor(
    cursor: sqlite3.Cursor, log_name: str, entries: Sequence[bytes]
) -> list[int]:
    """:meth:`DbLog.append` for a caller driving a SQLite transaction on the driver's cursor
    itself (begun with ``BEGIN IMMEDIATE``: the access log's group commit); the same checks
    and errors, the same rows."""
    if not entries:
        return []
    leaves = [leaf_hash(e) for e in entries]
    if len(set(leaves)) != len(leaves):
        raise DuplicateEntry(f"log {log_name!r}: the batch holds the same entry twice")

    def get_nodes(keys: list[Node]) -> dict[Node, bytes]:
        if not keys:
            return {}
        got = _driver(cursor.execute, _NODES_SQLITE_RAW, (json.dumps(keys), log_name))
        nodes = {(int(level), int(idx)): bytes(h) for level, idx, h in got}
        if len(nodes) != len(set(keys)):
            raise LogCorrupted(f"log {log_name!r}: a right-edge node is missing")
        return nodes

    return _append_on_cursor(cursor, log_name, entries, leaves, get_nodes)
