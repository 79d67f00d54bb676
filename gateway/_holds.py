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

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from gateway.domain.canonical import canonicalize
from gateway.domain.errors import DomainError
from gateway.domain.signing import SigningDomain, fast_recover_typed
from node import OrgKind

if TYPE_CHECKING:
    from node import MembershipClient

__all__ = [
    "HOLD_MARK",
    "HoldVerifier",
    "fold_holds",
    "hold_entry",
    "logged_holds",
    "office_verifier",
]

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


def parse_hold(entry: bytes) -> dict[str, Any] | None:
    """A hold leaf's document; None for any other entry."""
    if HOLD_MARK not in entry:
        return None
    try:
        doc: Any = json.loads(entry)
        if doc.get("kind") != "hold" or not isinstance(doc.get("hold"), bool):
            return None
        str(doc["record"])
        return dict(doc)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


HoldVerifier = Callable[[Mapping[str, Any]], str]
"""A hold leaf's document -> what is wrong with its office signature ("" when it holds)."""


def office_verifier(domain: SigningDomain, membership: MembershipClient) -> HoldVerifier:
    """Checks a hold leaf as its own evidence: ``details_hash`` is the hash of
    ``{"hold": hold}``, and the ``OfficeRequest`` signature over its members recovers to the
    signing key Membership had for ``org`` at ``signed_at``, a credit office."""

    def verify(doc: Mapping[str, Any]) -> str:
        try:
            req = doc["request"]
            hold = doc["hold"]
            details = hashlib.sha256(canonicalize({"hold": hold})).hexdigest()
            if req["details_hash"] != details or req["action"] != "legal-hold":
                return "its details hash or action is not a legal hold's"
            org = bytes.fromhex(str(req["org"]).removeprefix("0x"))
            signer = fast_recover_typed(
                domain,
                "OfficeRequest",
                {
                    "org": org,
                    "action": "legal-hold",
                    "target": bytes.fromhex(str(doc["record"])),
                    "detailsHash": bytes.fromhex(req["details_hash"]),
                    "signedAt": int(req["signed_at"]),
                    "nonce": bytes.fromhex(str(req["nonce"]).removeprefix("0x")),
                },
                bytes.fromhex(str(req["signature"]).removeprefix("0x")),
            )
            if signer.lower() != membership.keys_at(org, int(req["signed_at"])).signer.lower():
                return f"its signature recovers to {signer}, not to org {req['org']}'s key"
            if membership.org(org).kind != OrgKind.CREDIT_OFFICE:
                return f"org {req['org']} is not a credit office"
        except (ValueError, KeyError, TypeError, AttributeError, DomainError) as exc:
            return f"its request does not check: {exc}"
        return ""

    return verify


def fold_holds(
    entries: Iterable[tuple[int, bytes]],
    verify: HoldVerifier | None = None,
    forged: list[tuple[int, str, str]] | None = None,
) -> dict[str, bool]:
    """Record id -> its hold, from ``(index, entry)`` of the records log in log order (last
    leaf wins). With ``verify`` a leaf whose signature does not check is skipped (and added to
    ``forged`` as ``(index, record id, problem)``)."""
    holds: dict[str, bool] = {}
    for idx, entry in entries:
        doc = parse_hold(bytes(entry))
        if doc is None:
            continue
        problem = verify(doc) if verify is not None else ""
        if problem:
            if forged is not None:
                forged.append((idx, str(doc["record"]), problem))
            continue
        holds[str(doc["record"])] = bool(doc["hold"])
    return holds


def _entries_from(conn: sa.Connection, start: int) -> Iterator[tuple[int, bytes]]:
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
        for idx, entry in rows:
            yield int(idx), bytes(entry)
        if len(rows) < _CHUNK:
            return
        at = int(rows[-1][0]) + 1


def logged_holds(
    conn: sa.Connection, records: Iterable[tuple[str, int]], verify: HoldVerifier | None = None
) -> dict[str, bool]:
    """The hold of each ``(record id, log index)`` as the records log's (signed) hold leaves
    say: a scan from the earliest of the records' leaves (a hold leaf follows its record's)."""
    wanted = dict(records)
    if not wanted:
        return {}

    def theirs() -> Iterator[tuple[int, bytes]]:
        for idx, entry in _entries_from(conn, min(wanted.values())):
            doc = parse_hold(entry)
            if doc is not None and str(doc["record"]) in wanted:
                yield idx, entry

    folded = fold_holds(theirs(), verify)
    return {rid: folded.get(rid, False) for rid in wanted}
