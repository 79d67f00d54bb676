"""Record rows bound to the records log and the chain (DESIGN §2 guarantee 9: the log decides,
not the row).

A ``record`` row is an index. Every column a decision reads is checked, before the decision,
against what cannot be edited without being caught:

* the record's **leaf** — the ``log_entry`` at the row's ``log_index`` must hash to the record
  id (``SHA-256(0x00 || entry)``), and its org, category, subject (tag), commitment and
  ``received_at`` must be the row's;
* the record's **status leaves** — the status events of the records log that the row's
  ``status_change`` rows point at: versions ``0..n-1``, each naming this record and origin,
  each ``from`` the previous ``to``, each move allowed; the last ``to`` is the status, ``n``
  the status version, the correction's successor the successor; an erased record has no
  envelope;
* the **chain** — ``RecordStatus`` (read from its ``StatusChanged`` events, indexed
  incrementally per block): its version may lag the log's (a transition not yet relayed) but
  never lead it, and its status must be the log's status at that version.

A read that meets a row failing any of these denies that record with the logged reason
``record-unverified`` (:data:`REASON`); other paths refuse with
:class:`~gateway.errors.RecordUnverified`. ``creditchain check`` runs the same comparison over
every row (:func:`gateway._integrity.check_records`).

The chain snapshot is taken *before* the rows are read: the gateway relays a transition only
after committing it, so a transition the snapshot holds is in the rows read afterwards.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import hmac
import json
import logging
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import sqlalchemy as sa

from gateway.domain.lifecycle import ALLOWED, STATUSES
from gateway.domain.merkle import leaf_hash
from gateway.domain.records import LEAF_VERSIONS, subject_tag
from gateway.errors import RecordNotFound, RecordUnverified
from gateway.store import LogEntry, Record, StatusChange

if TYPE_CHECKING:
    from gateway._service import Gateway
    from node import RecordStatusClient

__all__ = [
    "REASON",
    "Candidate",
    "ChainStatuses",
    "LogStatus",
    "RowFacts",
    "candidates_by_id",
    "candidates_by_subject",
    "chain_statuses",
    "check_candidates",
    "check_rows",
    "load_bound",
    "record_entries",
    "row_problems",
    "status_leaves",
]

REASON: Final = "record-unverified"
"""The logged denial reason of a record whose row does not match its log leaves or the chain."""

log = logging.getLogger("creditchain.bound")

_RECORD: sa.Table = Record.__table__  # type: ignore[attr-defined]
FACT_COLUMNS: Final = (
    _RECORD.c.record_id,
    _RECORD.c.log_index,
    _RECORD.c.org_id,
    _RECORD.c.category,
    _RECORD.c.subject_commitment,
    _RECORD.c.commitment,
    _RECORD.c.status,
    _RECORD.c.status_version,
    _RECORD.c.successor,
    _RECORD.c.received_at,
    (_RECORD.c.envelope.is_(None)).label("erased"),
)
"""The record columns any decision reads (select these to build :class:`RowFacts`)."""

_ENTRY: sa.Table = LogEntry.__table__  # type: ignore[attr-defined]
_CHANGE: sa.Table = StatusChange.__table__  # type: ignore[attr-defined]
_IS_RECORDS = _ENTRY.c.log_name == "records"
_ENTRIES = sa.select(_ENTRY.c.idx, _ENTRY.c.entry).where(
    _IS_RECORDS, _ENTRY.c.idx.in_(sa.bindparam("indices", expanding=True))
)
_STATUS_LEAVES = (
    sa.select(_CHANGE.c.record_id, _CHANGE.c.version, _ENTRY.c.entry)
    .select_from(
        _CHANGE.outerjoin(_ENTRY, sa.and_(_IS_RECORDS, _ENTRY.c.idx == _CHANGE.c.log_index))
    )
    .where(_CHANGE.c.record_id.in_(sa.bindparam("ids", expanding=True)))
)


_BOTH_SQL: Final = (
    "SELECT NULL AS record_id, idx AS n, entry FROM log_entry "
    "WHERE log_name = 'records' AND idx IN ({marks}) "
    "UNION ALL "
    "SELECT sc.record_id, sc.version, e.entry FROM status_change sc "
    "LEFT JOIN log_entry e ON e.log_name = 'records' AND e.idx = sc.log_index "
    "WHERE sc.record_id IN ({marks})"
)


@functools.lru_cache(maxsize=64)
def _both_sql_for(paramstyle: str, n: int) -> str:
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}[paramstyle]
    marks = ", ".join([mark] * n)  # only placeholders are interpolated
    return _BOTH_SQL.format(marks=marks)


def _both_sql(conn: sa.Connection, n: int) -> str:
    """One statement for ``n`` rows: their leaves (``record_id`` null, ``n`` the index) and
    their status leaves (``n`` the version). Driver SQL, skipping SQLAlchemy's per-call
    compiling: this runs on every read."""
    return _both_sql_for(conn.dialect.paramstyle, n)


_CHUNK = 500


class Candidate(NamedTuple):
    """A record row as a read finds it, with what binds it, all from one SELECT: the
    :data:`FACT_COLUMNS`, the envelope, the records-log entry at the row's ``log_index``
    (``leaf_entry``, None when absent) and the number of its ``status_change`` rows
    (``changes``: its status leaves are looked up only when there are some)."""

    record_id: str
    log_index: int
    org_id: str
    category: str
    subject_commitment: str
    commitment: str
    status: str
    status_version: int
    successor: str | None
    received_at: int
    erased: bool
    envelope: bytes | None
    leaf_entry: bytes | None
    changes: int


_CANDIDATES_SQL: Final = (
    "SELECT r.record_id, r.log_index, r.org_id, r.category, r.subject_commitment, "
    "r.commitment, r.status, r.status_version, r.successor, r.received_at, "
    "r.envelope IS NULL, r.envelope, e.entry, "
    "(SELECT count(*) FROM status_change sc WHERE sc.record_id = r.record_id) "
    "FROM record r LEFT JOIN log_entry e ON e.log_name = 'records' AND e.idx = r.log_index "
    "WHERE {where}"
)


@functools.lru_cache(maxsize=64)
def _candidates_sql(paramstyle: str, n_categories: int) -> str:
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}[paramstyle]
    if n_categories < 0:
        where = f"r.record_id = {mark}"
    else:  # only placeholders are interpolated
        marks = ", ".join([mark] * n_categories)
        where = f"r.subject_commitment = {mark} AND r.category IN ({marks}) ORDER BY r.log_index"
    return _CANDIDATES_SQL.format(where=where)


def _candidates(conn: sa.Connection, sql: str, params: tuple[Any, ...]) -> list[Candidate]:
    # Driver SQL (on SQLite through the driver's cursor: no SQLAlchemy statement handling,
    # this runs on every read). One statement reads the rows and their leaves together, in
    # one snapshot.
    if conn.dialect.name == "sqlite":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        raw = cursor.execute(sql, params).fetchall()
    else:
        raw = conn.exec_driver_sql(sql, params).all()
    return [Candidate._make(r) for r in raw]


def candidates_by_id(conn: sa.Connection, record_id: str) -> list[Candidate]:
    """The row of ``record_id`` (none or one) with what binds it."""
    return _candidates(conn, _candidates_sql(conn.dialect.paramstyle, -1), (record_id,))


def candidates_by_subject(
    conn: sa.Connection, commitment: str, categories: Sequence[str]
) -> list[Candidate]:
    """The rows of subject ``commitment`` in ``categories`` (in log order) with what binds
    them."""
    cats = list(dict.fromkeys(categories))
    sql = _candidates_sql(conn.dialect.paramstyle, len(cats))
    return _candidates(conn, sql, (commitment, *cats))


@dataclass(frozen=True, slots=True)
class RowFacts:
    """The columns of a record row that decisions read."""

    record_id: str
    log_index: int
    org_id: str
    category: str
    subject_commitment: str
    commitment: str
    status: str
    status_version: int
    successor: str | None
    received_at: int
    erased: bool

    @classmethod
    def of(cls, row: Any) -> RowFacts:
        """From a row with the :data:`FACT_COLUMNS` (``erased``: or an ``envelope``)."""
        erased = row.erased if hasattr(row, "erased") else row.envelope is None
        return cls(
            str(row.record_id),
            int(row.log_index),
            str(row.org_id),
            str(row.category),
            str(row.subject_commitment),
            str(row.commitment),
            str(row.status),
            int(row.status_version),
            None if row.successor is None else str(row.successor),
            int(row.received_at),
            bool(erased),
        )


@dataclass(frozen=True, slots=True)
class LogStatus:
    """A record's status as its status leaves say: ``statuses[v]`` after ``v`` transitions."""

    statuses: tuple[str, ...]
    successor: str | None

    @property
    def version(self) -> int:
        return len(self.statuses) - 1

    @property
    def status(self) -> str:
        return self.statuses[-1]


def _status_from_leaves(
    facts: RowFacts, leaves: Sequence[tuple[int, bytes | None]], problems: list[str]
) -> LogStatus | None:
    statuses = ["active"]
    successor: str | None = None
    for expected, (version, entry) in enumerate(leaves):
        where = f"status leaf v{version}"
        if version != expected:
            problems.append(f"status versions are not contiguous (v{expected} is missing)")
            return None
        if entry is None:
            problems.append(f"{where}: no records-log entry at its index")
            return None
        try:
            doc = json.loads(bytes(entry))
            event = doc["event"]
            ok = (
                doc.get("kind") == "status"
                and event["record"] == facts.record_id
                and event["version"] == version
                and event["origin"] == facts.org_id
                and event["from"] == statuses[-1]
                and event["to"] in STATUSES
                and event["to"] in ALLOWED.get(statuses[-1], frozenset())
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            problems.append(f"{where}: the entry is not this record's v{version} status event")
            return None
        statuses.append(event["to"])
        if event["to"] == "corrected":
            successor = event.get("successor")
    return LogStatus(tuple(statuses), successor)


def _names_subject(
    leaf: Mapping[str, Any], commitment: bytes, subject_hex: str, pepper: bytes
) -> bool:
    if leaf["v"] == 1:
        return bool(leaf.get("subject") == subject_hex)
    try:
        subject = bytes.fromhex(subject_hex)
        tag = subject_tag(pepper, commitment, subject)
    except ValueError:
        return False
    return hmac.compare_digest(str(leaf.get("subject_tag")).encode(), tag.hex().encode())


def row_problems(
    facts: RowFacts,
    entry: bytes | None,
    leaves: Sequence[tuple[int, bytes | None]],
    chain: tuple[str, int] | None,
    pepper: bytes,
) -> list[str]:
    """What in ``facts`` the record's leaf, its status leaves (``(version, entry)`` in version
    order) and the chain's ``(status, version)`` (None: not checked) contradict; empty when
    the row is bound."""
    problems: list[str] = []
    if entry is None or leaf_hash(bytes(entry)).hex() != facts.record_id:
        return [f"records-log entry {facts.log_index} is not this record's leaf"]
    # The entry hashes to the record id, so the gateway wrote it: read its members without
    # re-validating its encoding (parse_leaf_entry does that for bundles from outside).
    try:
        leaf = json.loads(bytes(entry))
        version = leaf["v"]
        commitment = bytes.fromhex(leaf["commitment"])
        if leaf.get("kind") != "record" or version not in LEAF_VERSIONS or len(commitment) != 32:
            raise ValueError("not a record leaf entry")
    except (ValueError, KeyError, TypeError) as exc:
        return [f"its leaf entry does not parse: {exc}"]
    if leaf.get("org") != facts.org_id:
        problems.append("org_id differs from the leaf's org")
    if leaf.get("category") != facts.category:
        problems.append("category differs from the leaf's")
    if not _names_subject(leaf, commitment, facts.subject_commitment, pepper):
        problems.append("subject_commitment is not the leaf's subject")
    if leaf["commitment"] != facts.commitment:
        problems.append("commitment differs from the leaf's")
    if leaf.get("received_at") != facts.received_at:
        problems.append("received_at differs from the leaf's")
    logged = _status_from_leaves(facts, leaves, problems)
    if logged is None:
        return problems
    if facts.status != logged.status:
        problems.append(f"status {facts.status!r}, the log says {logged.status!r}")
    if facts.status_version != logged.version:
        problems.append(f"status_version {facts.status_version}, the log says {logged.version}")
    if facts.successor != logged.successor:
        problems.append("successor differs from the log's correction")
    if logged.status == "erased" and not facts.erased:
        problems.append("the log says erased, the row still holds an envelope")
    if facts.erased and logged.status != "erased":
        problems.append("the row has no envelope, the log does not say erased")
    if chain is not None:
        status, version = chain
        if version > logged.version:
            problems.append(
                f"RecordStatus is at version {version}, the log at {logged.version}: "
                "status leaves are missing"
            )
        elif logged.statuses[version] != status:
            problems.append(
                f"RecordStatus says {status!r} at version {version}, "
                f"the log {logged.statuses[version]!r}"
            )
    return problems


# ---------------------------------------------------------------------------------------
# the chain's statuses


class ChainStatuses:
    """``RecordStatus`` states from its ``StatusChanged`` events, indexed up to a block.

    Each record keeps the blocks at which it changed, so a lookup *as of* a block is exact
    even while another thread indexes further. Records never transitioned are absent:
    ``("active", 0)``.
    """

    def __init__(self, client: RecordStatusClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._indexed = -1
        self._history: dict[bytes, list[tuple[int, str, int]]] = {}

    def advance(self, block: int) -> int:
        """Index events up to ``block``; the block the index now covers (at least ``block``)."""
        with self._lock:
            if block <= self._indexed:
                return self._indexed
            start = self._indexed + 1
            for ev in self.client.status_changes(start, block):
                history = self._history.setdefault(ev["record_id"], [])
                history.append((ev["block_number"], ev["to"].name.lower(), ev["version"]))
            self._indexed = block
            return block

    def at(self, record_id: str, block: int) -> tuple[str, int]:
        """The record's (status, version) as of ``block`` (which must be indexed)."""
        with self._lock:
            history = self._history.get(bytes.fromhex(record_id))
            if not history:
                return ("active", 0)
            i = bisect.bisect_right(history, (block, "\uffff", 2**63))
            return ("active", 0) if i == 0 else (history[i - 1][1], history[i - 1][2])


_INDEXES: weakref.WeakKeyDictionary[Gateway, ChainStatuses] = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()


def chain_statuses(gw: Gateway) -> ChainStatuses:
    """The gateway's (one, shared) index of RecordStatus."""
    with _INDEXES_LOCK:
        index = _INDEXES.get(gw)
        if index is None:
            index = _INDEXES[gw] = ChainStatuses(gw.deployment.record_status(gw.chain))
        return index


# ---------------------------------------------------------------------------------------
# the store


def status_leaves(
    conn: sa.Connection, record_ids: Iterable[str]
) -> dict[str, list[tuple[int, bytes | None]]]:
    """record id -> its status changes' ``(version, records-log entry)``, in version order."""
    out: dict[str, list[tuple[int, bytes | None]]] = {}
    ids = list(dict.fromkeys(record_ids))
    for i in range(0, len(ids), _CHUNK):
        for rid, version, entry in conn.execute(_STATUS_LEAVES, {"ids": ids[i : i + _CHUNK]}):
            out.setdefault(str(rid), []).append(
                (int(version), None if entry is None else bytes(entry))
            )
    for leaves in out.values():
        leaves.sort(key=lambda leaf: leaf[0])
    return out


def _leaves_and_entries(
    conn: sa.Connection, facts: Sequence[RowFacts]
) -> tuple[dict[int, bytes], dict[str, list[tuple[int, bytes | None]]]]:
    """:func:`record_entries` and :func:`status_leaves` of ``facts`` in one statement."""
    entries: dict[int, bytes] = {}
    leaves: dict[str, list[tuple[int, bytes | None]]] = {}
    for i in range(0, len(facts), _CHUNK):
        chunk = facts[i : i + _CHUNK]
        params = (*(f.log_index for f in chunk), *(f.record_id for f in chunk))
        for rid, n, entry in conn.exec_driver_sql(_both_sql(conn, len(chunk)), params):
            if rid is None:
                entries[int(n)] = bytes(entry)
            else:
                leaves.setdefault(str(rid), []).append(
                    (int(n), None if entry is None else bytes(entry))
                )
    for changes in leaves.values():
        changes.sort(key=lambda leaf: leaf[0])
    return entries, leaves


def record_entries(conn: sa.Connection, indices: Iterable[int]) -> dict[int, bytes]:
    """records-log index -> its entry, for ``indices``."""
    out: dict[int, bytes] = {}
    wanted = list(dict.fromkeys(indices))
    for i in range(0, len(wanted), _CHUNK):
        for idx, entry in conn.execute(_ENTRIES, {"indices": wanted[i : i + _CHUNK]}):
            out[int(idx)] = bytes(entry)
    return out


def check_rows(
    gw: Gateway, conn: sa.Connection, rows: Sequence[Any], *, block: int
) -> dict[str, list[str]]:
    """record id -> its problems, for each of ``rows`` that is not bound (empty: all bound).

    ``block`` is the block :meth:`ChainStatuses.advance` returned *before* ``rows`` were
    read. One SELECT for all the rows, one SHA-256 and one leaf parse per record.
    """
    if not rows:
        return {}
    facts = [RowFacts.of(r) for r in rows]
    return _report(gw, conn, facts, block, _problems(gw, conn, facts, block))


def check_candidates(
    gw: Gateway, conn: sa.Connection, rows: Sequence[Candidate], *, block: int
) -> dict[str, list[str]]:
    """:func:`check_rows` of rows read with their leaf entries (:func:`candidates_by_id`,
    :func:`candidates_by_subject`): the status leaves are read (one more SELECT) only for
    rows that have status changes. Every row is still checked in full on every read."""
    if not rows:
        return {}
    facts = [RowFacts.of(r) for r in rows]
    entries = {r.log_index: bytes(r.leaf_entry) for r in rows if r.leaf_entry is not None}
    changed = [r.record_id for r in rows if r.changes]
    leaves = status_leaves(conn, changed) if changed else {}
    return _report(gw, conn, facts, block, _problems(gw, conn, facts, block, (entries, leaves)))


def _report(
    gw: Gateway,
    conn: sa.Connection,
    facts: Sequence[RowFacts],
    block: int,
    bad: dict[str, list[str]],
) -> dict[str, list[str]]:
    if bad:
        stale = [f for f in facts if f.record_id in bad]
        for rid in _moved_on(gw, conn, stale, block):
            del bad[rid]
    for rid, problems in bad.items():
        log.warning("record %s: row not bound to its log: %s", rid, "; ".join(problems))
    return bad


def _problems(
    gw: Gateway,
    conn: sa.Connection,
    facts: Sequence[RowFacts],
    block: int,
    fetched: tuple[dict[int, bytes], dict[str, list[tuple[int, bytes | None]]]] | None = None,
) -> dict[str, list[str]]:
    # No memo of rows found bound: a row rewound to an earlier, once-bound state (before a
    # status leaf appended since) must be looked up again, and only the leaves can tell.
    entries, leaves = _leaves_and_entries(conn, facts) if fetched is None else fetched
    index = chain_statuses(gw)
    bad: dict[str, list[str]] = {}
    for f in facts:
        problems = row_problems(
            f,
            entries.get(f.log_index),
            leaves.get(f.record_id, []),
            index.at(f.record_id, block),
            gw.secrets.pepper,
        )
        if problems:
            bad[f.record_id] = problems
    return bad


def _moved_on(gw: Gateway, conn: sa.Connection, stale: Sequence[RowFacts], block: int) -> set[str]:
    """Those of ``stale`` that were an earlier state of a row that binds now.

    Under READ COMMITTED (PostgreSQL) a transition committed between the rows' SELECT and
    their leaves' sees leaves ahead of the row. Read again, the row binds, and the one read
    first equals it at an earlier version of the log's status: deciding on it is deciding an
    instant earlier, not trusting an edit. (SQLite reads both in one snapshot.)
    """
    current = conn.execute(
        sa.select(*FACT_COLUMNS).where(_RECORD.c.record_id.in_([f.record_id for f in stale]))
    ).all()
    now = {f.record_id: f for f in (RowFacts.of(r) for r in current)}
    if not now:
        return set()
    bound = set(now) - set(_problems(gw, conn, list(now.values()), block))
    _, leaves = _leaves_and_entries(conn, [now[rid] for rid in bound])
    moved: set[str] = set()
    for old in stale:
        new = now.get(old.record_id)
        if new is None or old.record_id not in bound:
            continue
        logged = _status_from_leaves(new, leaves.get(new.record_id, []), [])
        same_record = dataclasses.replace(
            old,
            status=new.status,
            status_version=new.status_version,
            successor=new.successor,
            erased=new.erased,
        )
        if (
            logged is not None
            and same_record == new
            and old.status_version < new.status_version
            and old.status == logged.statuses[old.status_version]
            and old.successor in (None, new.successor)
            and not old.erased
        ):
            moved.add(old.record_id)
    return moved


def load_bound(gw: Gateway, record_id: str) -> Record:
    """The record row of ``record_id``, checked against its leaves and the chain.

    Raises:
        RecordNotFound: no such row.
        RecordUnverified: the row does not match its leaves or the chain.
    """
    from gateway.store import read_only

    block = chain_statuses(gw).advance(gw.chain.head())
    with read_only(gw.engine).connect() as conn:
        row = conn.execute(sa.select(_RECORD).where(_RECORD.c.record_id == record_id)).first()
        if row is None:
            raise RecordNotFound(f"no record {record_id}")
        bad = check_rows(gw, conn, [row], block=block)
    if bad:
        raise RecordUnverified(
            f"record {record_id}: its row does not match the records log or the chain",
            reason=REASON,
        )
    return Record(**dict(row._mapping))
