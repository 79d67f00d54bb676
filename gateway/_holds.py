"""Legal holds as facts of the records log (DESIGN §2: the log decides, not the row).

A credit office's signed ``legal-hold`` request appends a **hold leaf** to the records log in
the same transaction that sets ``record.legal_hold``::

    {"v": 1, "kind": "hold", "record": <hex record id>, "hold": true|false,
     "request": {"org", "action": "legal-hold", "details_hash", "signed_at", "nonce",
                 "signature"},
     "received_at": <gateway time>}

The request members are what the office's EIP-712 ``OfficeRequest`` signature covers (with
``target`` the record id and ``details`` exactly ``{"hold": <hold>}``), so the leaf itself is
checkable; it holds no subject and no free text. A record's hold is the ``hold`` of its last
hold leaf (none: not held). ``creditchain check`` folds the hold leaves and compares each row
(finding ``record-hold``); the retention worker re-derives the hold of a record from the log
before erasing it (:func:`logged_holds`) and refuses when the row disagrees.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Final

import sqlalchemy as sa

from gateway.domain.canonical import canonicalize

__all__ = ["HOLD_MARK", "fold_holds", "hold_entry", "logged_holds"]

HOLD_MARK: Final = b'"kind":"hold"'
"""Every hold leaf's canonical bytes hold this (a cheap filter before parsing)."""

_CHUNK = 2000


def hold_entry(
    *,
    record_id: str,
    hold: bool,
    org: str,
    details_hash: bytes,
    signed_at: int,
    nonce: str,
    signature: str,
    now: int,
) -> bytes:
    """The canonical bytes of a hold leaf."""
    return canonicalize(
        {
            "v": 1,
            "kind": "hold",
            "record": record_id,
            "hold": hold,
            "request": {
                "org": org,
                "action": "legal-hold",
                "details_hash": details_hash.hex(),
                "signed_at": signed_at,
                "nonce": nonce,
                "signature": signature,
            },
            "received_at": now,
        }
    )


def parse_hold(entry: bytes) -> tuple[str, bool] | None:
    """``(record id, hold)`` of a hold leaf; None for any other entry."""
    if HOLD_MARK not in entry:
        return None
    try:
        doc: Any = json.loads(entry)
        if doc.get("kind") != "hold" or not isinstance(doc.get("hold"), bool):
            return None
        return str(doc["record"]), bool(doc["hold"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def fold_holds(entries: Iterable[bytes]) -> dict[str, bool]:
    """Record id -> its hold, from records-log entries in log order (last leaf wins)."""
    holds: dict[str, bool] = {}
    for entry in entries:
        parsed = parse_hold(bytes(entry))
        if parsed is not None:
            holds[parsed[0]] = parsed[1]
    return holds


def _entries_from(conn: sa.Connection, start: int) -> Iterator[bytes]:
    """The records log's entries from index ``start`` on, in order, in bounded chunks."""
    at = start
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT idx, entry FROM log_entry WHERE log_name = 'records' AND idx >= :a "
                "ORDER BY idx LIMIT :n"
            ),
            {"a": at, "n": _CHUNK},
        ).all()
        for _, entry in rows:
            yield bytes(entry)
        if len(rows) < _CHUNK:
            return
        at = int(rows[-1][0]) + 1


def logged_holds(conn: sa.Connection, records: Iterable[tuple[str, int]]) -> dict[str, bool]:
    """The hold of each ``(record id, log index)`` as the records log says: a scan from the
    earliest of the records' leaves (a hold leaf always follows its record's leaf)."""
    wanted = dict(records)
    if not wanted:
        return {}
    folded = fold_holds(_entries_from(conn, min(wanted.values())))
    return {rid: folded.get(rid, False) for rid in wanted}
