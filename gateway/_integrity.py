"""A full integrity check of a gateway's database against the chain (`creditchain check`).

Each finding names the check that caught it:

    log-contiguity    entry rows are exactly indices 0..size-1, with a leaf node for each
    entry-hash        SHA-256(0x00 ‖ entry) equals the stored leaf hash and level-0 node
    subtree-hash      every stored perfect-subtree hash equals the hash of its two children
    anchored-root     the root recomputed from the entries equals every checkpoint on chain
    record-leaf       each record row points at the log leaf whose hash is its record id
    envelope          each record's envelope opens with the gateway's keys (AES-GCM tag)
    record-commitment the opened record and salt hash to the leaf entry's commitment
    record-row        every column a decision reads (org, category, subject, commitment,
                      received_at, status, status version, successor, erasure) is what the
                      record's leaf, its status leaves and RecordStatus on chain say
                      (gateway/_bound.py; with the pepper and the chain's statuses only)
    status-row        each status_change row is its status leaf (the signed transition it
                      relays and its signature included; record, version, from, to,
                      actor)
    record-missing    a record leaf of the records log has no record row
    status-leaf       a status leaf of the records log has no status_change row pointing at it
    access-index      every access-log entry's decisions have their access_decision rows, and
                      every row is a decision its entry says (requester, subject, record,
                      purpose, decision, reason, basis, grant, time): both directions
    log-head          a log's head (log_head.size) is not the number of its entries
    anchor-row, nonce-reuse, nonce-row, relay-row
                      the outbox rows (anchor, submission, status_change relay columns)
                      against the logs and the chain: gateway/_outbox_check.py
    record-hold, hold-leaf, record-retention, record-dedup, record-kek, record-receipt,
    record-erased-at
                      the other record columns (gateway/_columns.py)

An insider who rewrites rows consistently (entries, nodes and all) still changes the log's
root, which the chain's checkpoints pin: `anchored-root` catches that.

The lifecycle's requests and texts (gateway/_requests_log.py):

    objection-row     an objection row is not what its objection leaf and the status leaves
                      after it say (record, subject, reason, evidence, filed_at, deadline,
                      state, resolved_at, resolution), or a leaf has no row
    repair-row        a repair row is not what its repair leaf, the status leaves and its
                      repair-rejection leaf say (… state, decided_at, decided_by,
                      decision_reason), or a leaf has no row
    request-leaf      an objection/repair/repair-rejection leaf that does not parse, or a
                      rejection of no pending application
    free-text         a free_text envelope does not open for its record and purpose, its
                      kek_id is not the envelope's, its text is not the one the leaf naming
                      that purpose commits to, or a text a leaf names is missing
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway._access_index import (
    IndexRow,
    compare_index,
    describe,
    entry_rows,
    parse_entry,
    plain_row,
    row_key,
    tag_key,
)
from gateway._bound import FACT_COLUMNS, RowFacts, record_entries, row_problems, status_leaves
from gateway._outbox_check import (
    OutboxChain,
    check_anchor_rows,
    check_nonces,
    check_relay_rows,
)
from gateway._requests_log import check_requests
from gateway.domain.canonical import canonicalize, parse_json
from gateway.domain.envelope import Kek, open_, record_commitment
from gateway.domain.errors import DomainError, EnvelopeError
from gateway.domain.lifecycle import event_hash
from gateway.domain.merkle import leaf_hash, node_hash, root_from_perfect_subtrees
from node import Checkpoint, StatusCode

if TYPE_CHECKING:
    from gateway._columns import RowKeys

_BATCH = 5000


@dataclass(frozen=True)
class Binding:
    """What binding rows needs: the network pepper (subject tags) and the chain's
    ``(status, version)`` of a record id (RecordStatus, read before the rows; None: a
    manifest without RecordStatus, nothing to compare)."""

    pepper: bytes
    chain_state: Callable[[str], tuple[str, int] | None]
    outbox: OutboxChain | None = None
    """The chain's anchors and status changes, for the outbox rows (gateway/_outbox_check.py)."""
    keys: RowKeys | None = None
    """With it, the columns of gateway/_columns.py too (receipt, dedup key, KEK id, ...)."""


@dataclass(frozen=True)
class Finding:
    check: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.where}: {self.detail}"


def _rows(conn: sa.Connection, sql: str, **params: object) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True).execute(sa.text(sql), params)
    yield from result


def check_log(conn: sa.Connection, log_name: str, checkpoints: list[Checkpoint]) -> list[Finding]:
    findings: list[Finding] = []
    size_row = conn.execute(
        sa.text("SELECT size FROM log_head WHERE log_name = :n"), {"n": log_name}
    ).first()
    size = int(size_row[0]) if size_row else 0

    # entries and their leaf hashes, in index order
    leaves: list[bytes] = []
    expected = 0
    for idx, entry, stored_leaf in _rows(
        conn,
        "SELECT idx, entry, leaf_hash FROM log_entry WHERE log_name = :n ORDER BY idx",
        n=log_name,
    ):
        idx = int(idx)
        if idx != expected:
            findings.append(
                Finding(
                    "log-contiguity",
                    f"{log_name}[{expected}]",
                    f"expected entry {expected}, found {idx}",
                )
            )
            expected = idx
        computed = leaf_hash(bytes(entry))
        if computed != bytes(stored_leaf):
            findings.append(
                Finding(
                    "entry-hash",
                    f"{log_name}[{idx}]",
                    "entry bytes do not hash to the stored leaf hash",
                )
            )
        leaves.append(computed)
        expected += 1
    if expected != size:
        findings.append(
            Finding(
                "log-head",
                log_name,
                f"the head says {size} entries, the table holds {expected}",
            )
        )

    # stored nodes: level 0 must be the entries' hashes, higher levels their children's hash
    nodes: dict[tuple[int, int], bytes] = {}
    for level, idx, h in _rows(
        conn,
        "SELECT level, idx, hash FROM log_node WHERE log_name = :n ORDER BY level, idx",
        n=log_name,
    ):
        nodes[(int(level), int(idx))] = bytes(h)
    for i, leaf in enumerate(leaves):
        stored = nodes.get((0, i))
        if stored is None:
            findings.append(Finding("log-contiguity", f"{log_name} node (0,{i})", "missing"))
        elif stored != leaf:
            findings.append(
                Finding(
                    "entry-hash",
                    f"{log_name} node (0,{i})",
                    "stored leaf node differs from the entry's hash",
                )
            )
    for level in range(1, len(leaves).bit_length()):
        for idx in range(len(leaves) >> level):  # every complete perfect subtree is stored
            if (level, idx) not in nodes:
                findings.append(
                    Finding("log-contiguity", f"{log_name} node ({level},{idx})", "missing")
                )
    for (level, idx), h in sorted(nodes.items()):
        if level > 0 and idx >= len(leaves) >> level:
            findings.append(
                Finding(
                    "log-contiguity",
                    f"{log_name} node ({level},{idx})",
                    "a subtree node beyond the last complete subtree",
                )
            )
            continue
        if level == 0:
            if idx >= len(leaves):
                findings.append(
                    Finding(
                        "log-contiguity",
                        f"{log_name} node (0,{idx})",
                        "a leaf node beyond the last entry",
                    )
                )
            continue
        left, right = nodes.get((level - 1, 2 * idx)), nodes.get((level - 1, 2 * idx + 1))
        if left is None or right is None:
            findings.append(
                Finding(
                    "log-contiguity", f"{log_name} node ({level},{idx})", "a child node is missing"
                )
            )
        elif node_hash(left, right) != h:
            findings.append(
                Finding(
                    "subtree-hash",
                    f"{log_name} node ({level},{idx})",
                    "does not equal the hash of its children",
                )
            )

    # the chain's checkpoints, recomputed from the entries alone (not from stored nodes)
    levels = [leaves]
    while len(levels[-1]) > 1:
        prev = levels[-1]
        levels.append([node_hash(prev[2 * i], prev[2 * i + 1]) for i in range(len(prev) // 2)])
    for cp in checkpoints:
        if cp.size > len(leaves):
            findings.append(
                Finding(
                    "anchored-root",
                    f"{log_name}@{cp.size}",
                    f"the chain anchors {cp.size} entries, the database holds {len(leaves)}",
                )
            )
            continue
        if _root(levels, cp.size) != cp.root:
            findings.append(
                Finding(
                    "anchored-root",
                    f"{log_name}@{cp.size}",
                    "the entries do not hash to the root anchored on chain",
                )
            )
    return findings


def _root(levels: list[list[bytes]], size: int) -> bytes:
    """MTH of the first ``size`` leaves from full-level hashes (perfect subtrees, left to right)."""
    parts: list[bytes] = []
    pos = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size & (1 << level):
            parts.append(levels[level][pos >> level])
            pos += 1 << level
    return root_from_perfect_subtrees(parts)


def check_records(conn: sa.Connection, keyring: Mapping[str, Kek]) -> list[Finding]:
    findings: list[Finding] = []
    for rid, log_index, category, envelope, commitment in _rows(
        conn,
        "SELECT r.record_id, r.log_index, r.category, r.envelope, r.commitment FROM record r "
        "ORDER BY r.log_index",
    ):
        where = f"record {rid}"
        leaf_row = conn.execute(
            sa.text(
                "SELECT entry, leaf_hash FROM log_entry WHERE log_name = 'records' AND idx = :i"
            ),
            {"i": log_index},
        ).first()
        if (
            leaf_row is None
            or bytes(leaf_row[1]).hex() != rid
            or leaf_hash(bytes(leaf_row[0])).hex() != rid
        ):
            findings.append(
                Finding("record-leaf", where, f"log leaf {log_index} is not this record's leaf")
            )
            continue
        if envelope is None:
            continue  # erased: nothing to open, by design
        try:
            plain = open_(
                bytes(envelope),
                aad_record_id=bytes.fromhex(str(rid)),
                category=str(category),
                keyring=keyring,
            )
        except EnvelopeError:
            findings.append(Finding("envelope", where, "the envelope does not open"))
            continue
        try:
            opened = parse_json(plain)
            assert isinstance(opened, dict)
            salt = bytes.fromhex(opened["salt"])
            ok = record_commitment(salt, canonicalize(opened["record"])).hex() == commitment
            entry = json.loads(bytes(leaf_row[0]))
            ok = ok and entry.get("commitment") == commitment
        except (DomainError, ValueError, KeyError, AssertionError):
            ok = False
        if not ok:
            findings.append(
                Finding(
                    "record-commitment",
                    where,
                    "the record does not match its leaf entry's commitment",
                )
            )
    return findings


def check_request_rows(conn: sa.Connection, keyring: Mapping[str, Kek]) -> list[Finding]:
    """Objection, repair and free_text rows against their leaves (gateway/_requests_log.py)."""
    return [Finding(f.check, f.where, f.detail) for f in check_requests(conn, keyring)]


def check_bindings(conn: sa.Connection, binding: Binding) -> list[Finding]:
    """Every record row and status_change row against the records log and the chain; every
    leaf of the records log against its row."""
    findings: list[Finding] = []
    record_leaves: dict[str, int] = {}
    status_at: dict[int, dict[str, Any]] = {}
    status_sig: dict[int, Any] = {}
    for idx, entry in _rows(
        conn, "SELECT idx, entry FROM log_entry WHERE log_name = 'records' ORDER BY idx"
    ):
        try:
            doc = json.loads(bytes(entry))
            kind = doc.get("kind")
        except (ValueError, AttributeError):
            continue  # entry-hash / anchored-root speak for the log itself
        if kind == "record":
            record_leaves[leaf_hash(bytes(entry)).hex()] = int(idx)
        elif kind == "status" and isinstance(doc.get("event"), dict):
            status_at[int(idx)] = doc["event"]
            status_sig[int(idx)] = doc.get("sig")
    seen_records: set[str] = set()
    rows = conn.execute(
        sa.select(*FACT_COLUMNS).order_by(FACT_COLUMNS[1])  # log_index
    ).all()
    for start in range(0, len(rows), 500):
        chunk = [RowFacts.of(r) for r in rows[start : start + 500]]
        leaves = status_leaves(conn, (f.record_id for f in chunk))
        entries = record_entries(conn, (f.log_index for f in chunk))
        for facts in chunk:
            seen_records.add(facts.record_id)
            for problem in row_problems(
                facts,
                entries.get(facts.log_index),
                leaves.get(facts.record_id, []),
                binding.chain_state(facts.record_id),
                binding.pepper,
            ):
                findings.append(Finding("record-row", f"record {facts.record_id}", problem))
    for rid, idx in record_leaves.items():
        if rid not in seen_records:
            findings.append(
                Finding("record-missing", f"records[{idx}]", f"no row for record {rid}")
            )
    pointed: set[int] = set()
    for sid, rid, version, frm, to, actor, log_index, transition, signature in _rows(
        conn,
        "SELECT id, record_id, version, from_status, to_status, actor, log_index, transition, "
        "signature FROM status_change ORDER BY id",
    ):
        pointed.add(int(log_index))
        event = status_at.get(int(log_index))
        if (
            event is None
            or [event.get(k) for k in ("record", "version", "from", "to", "actor")]
            != [rid, version, frm, to, actor]
            or not _relayed_as_logged(event, status_sig.get(int(log_index)), transition, signature)
        ):
            findings.append(
                Finding(
                    "status-row",
                    f"status_change {sid}",
                    f"records[{log_index}] is not this change's status leaf",
                )
            )
    for idx, event in status_at.items():
        if idx not in pointed:
            findings.append(
                Finding(
                    "status-leaf",
                    f"records[{idx}]",
                    f"no status_change row points at this status leaf of record "
                    f"{event.get('record')}",
                )
            )
    return findings


def _relayed_as_logged(event: dict[str, Any], sig: Any, transition: str, signature: str) -> bool:
    """The relay outbox's signed transition (what goes on chain) is the one the status leaf
    logged: the same signature, and every member derived from the leaf's event."""
    if not isinstance(sig, dict) or sig.get("value") != signature:
        return False
    try:
        t = json.loads(transition)
        code = StatusCode[str(event["to"]).upper()]
        expected = {
            "record_id": event["record"],
            "origin": str(event["origin"]).removeprefix("0x"),
            "to": int(code),
            "successor": event["successor"] or "00" * 32,
            "reason": event["reason"],
            "evidence": event_hash(event).hex(),
            "actor": str(event["actor"]).removeprefix("0x"),
            "version": event["version"],
            "deadline": sig.get("deadline"),
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return isinstance(t, dict) and t == expected


def check_access_index(conn: sa.Connection, pepper: bytes) -> list[Finding]:
    """The ``access_decision`` index against the access log, both directions
    (:mod:`gateway._access_index`), ``_BATCH`` entries at a time."""
    key = tag_key(pepper)
    findings: list[Finding] = []

    def report(diffs: list[tuple[str, IndexRow]]) -> None:
        for kind, r in diffs:
            findings.append(Finding("access-index", f"access[{r[0]}]", describe(kind, r)))

    size_row = conn.execute(sa.text("SELECT size FROM log_head WHERE log_name = 'access'")).first()
    size = int(size_row[0]) if size_row else 0
    for start in range(0, size, _BATCH):
        span = {"a": start, "b": start + _BATCH}
        rows: dict[int, list[dict[str, Any]]] = {}
        for row in conn.execute(
            sa.text(
                "SELECT * FROM access_decision WHERE log_index >= :a AND log_index < :b "
                "ORDER BY log_index, id"
            ),
            span,
        ):
            m = dict(row._mapping)
            rows.setdefault(int(m["log_index"]), []).append(m)
        for idx, raw in conn.execute(
            sa.text(
                "SELECT idx, entry FROM log_entry WHERE log_name = 'access' "
                "AND idx >= :a AND idx < :b ORDER BY idx"
            ),
            span,
        ):
            idx = int(idx)
            doc = parse_entry(bytes(raw))
            mine = rows.pop(idx, [])
            if doc is None:
                report(compare_index([], [plain_row(r) for r in mine]))
                continue
            try:
                want = entry_rows(idx, doc)
                have = [row_key(key, doc, r) for r in mine]
            except (KeyError, TypeError, ValueError):
                findings.append(Finding("access-index", f"access[{idx}]", "unreadable entry"))
                continue
            report(compare_index(want, have))
        for left in rows.values():  # rows of missing entries
            report(compare_index([], [plain_row(r) for r in left]))
    beyond = conn.execute(
        sa.text("SELECT * FROM access_decision WHERE log_index < 0 OR log_index >= :n"),
        {"n": size},
    )
    report(compare_index([], [plain_row(dict(r._mapping)) for r in beyond]))
    return findings


def check_store(
    engine: Engine,
    keyring: Mapping[str, Kek],
    checkpoints: Mapping[str, list[Checkpoint]],
    binding: Binding | None = None,
    *,
    pepper: bytes | None = None,
) -> list[Finding]:
    """Every check over every log and record; an empty list means intact. With ``binding``
    every row is compared with its leaves and the chain too (:func:`check_bindings`); with
    the ``pepper``, the access index with the access log (:func:`check_access_index`)."""
    findings: list[Finding] = []
    with engine.connect() as conn:
        for name, cps in checkpoints.items():
            findings += check_log(conn, name, cps)
        findings += _unknown_logs(conn, set(checkpoints))
        findings += check_records(conn, keyring)
        findings += check_request_rows(conn, keyring)
        if binding is not None:
            findings += check_bindings(conn, binding)
            findings += check_row_columns(conn, keyring, binding)
        findings += check_outbox(conn, checkpoints, binding)
        if pepper is not None:
            findings += check_access_index(conn, pepper)
    return findings


def _unknown_logs(conn: sa.Connection, known: set[str]) -> list[Finding]:
    """Rows of the log tables that belong to no log of this gateway (a renamed row is one the
    real log no longer has: its own log's checks name that side)."""
    findings: list[Finding] = []
    for table in ("log_head", "log_entry", "log_node"):
        for (name,) in _rows(conn, f"SELECT DISTINCT log_name FROM {table}"):  # noqa: S608
            if name not in known:
                findings.append(
                    Finding("log-contiguity", f"{table} {name!r}", "rows of an unknown log")
                )
    return findings


def check_row_columns(
    conn: sa.Connection, keyring: Mapping[str, Kek], binding: Binding
) -> list[Finding]:
    """legal_hold against the hold leaves; with ``binding.keys`` the other columns of
    gateway/_columns.py (record-hold, hold-leaf, record-retention, record-dedup, record-kek,
    record-receipt, record-erased-at)."""
    from gateway._columns import check_columns, check_holds

    findings = check_holds(conn, None if binding.keys is None else binding.keys.hold_verifier)
    if binding.keys is not None:
        findings += check_columns(conn, keyring, binding.keys)
    return findings


def check_outbox(
    conn: sa.Connection,
    checkpoints: Mapping[str, list[Checkpoint]],
    binding: Binding | None,
) -> list[Finding]:
    """The request nonces against the logs; with the chain, the anchor and relay rows too
    (gateway/_outbox_check.py)."""
    found = check_nonces(conn)
    if binding is not None and binding.outbox is not None:
        found += check_anchor_rows(conn, checkpoints, binding.outbox)
        found += check_relay_rows(conn, binding.chain_state, binding.outbox)
    return [Finding(*f) for f in found]
