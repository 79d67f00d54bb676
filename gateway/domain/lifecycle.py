"""Record lifecycle rules (DESIGN §2 guarantee 7, §5 flow 6): objection (异议), correction,
credit repair (信用修复), withdrawal, retention and erasure. Pure: times are passed in.

The transition table is the ``RecordStatus`` contract's (contracts/src/RecordStatus.sol); the
gateway checks it before relaying so that a refused change never reaches the records log, and
the contract checks it again so that no gateway can record a forbidden one on chain.

Every accepted transition becomes a **status event** — a canonical JSON object naming the
record, the move, the acting organisation and the reason — whose SHA-256 is the transition's
``evidence`` on chain, and a leaf of the records log (formats.md §10) holding the event and the
actor's EIP-712 signature over the transition.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from typing import Any, Final, Literal

from gateway.domain.canonical import canonicalize
from gateway.domain.catalog import DISCLOSURE_END, Category
from gateway.domain.errors import DomainError

__all__ = [
    "ALLOWED",
    "JURISDICTION",
    "KEEP_FOREVER",
    "OFFICE_ONLY",
    "STATUSES",
    "Status",
    "TransitionRefused",
    "check_transition",
    "event_hash",
    "retain_until",
    "retention_end",
    "status_event",
    "text_commitment",
]

Status = Literal["active", "objected", "corrected", "repaired", "withdrawn", "erased"]
STATUSES: Final[tuple[Status, ...]] = (
    "active",
    "objected",
    "corrected",
    "repaired",
    "withdrawn",
    "erased",
)
"""In the order of the contract's ``Status`` enum (``StatusCode``)."""

ALLOWED: Final[Mapping[str, frozenset[str]]] = {
    "active": frozenset({"objected", "corrected", "repaired", "withdrawn", "erased"}),
    "objected": frozenset({"active", "corrected", "repaired", "withdrawn", "erased"}),
    "corrected": frozenset({"erased"}),
    "repaired": frozenset({"erased"}),
    "withdrawn": frozenset({"erased"}),
    "erased": frozenset(),
}
"""status -> the statuses it may move to (Objected -> Active: the objection was rejected)."""

OFFICE_ONLY: Final = frozenset({"repaired"})
"""Statuses only a credit office may set (credit repair is the office's decision)."""


class TransitionRefused(DomainError):
    """A lifecycle change the rules do not allow (``reason`` says which rule)."""

    code = "transition-refused"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_transition(
    current: str,
    to: str,
    *,
    record_id: str,
    actor_kind: str,
    actor_is_origin: bool,
    successor: str | None,
) -> None:
    """Raise :class:`TransitionRefused` unless ``actor`` may move ``record_id`` from
    ``current`` to ``to`` (with ``successor`` exactly for a correction)."""
    if to not in ALLOWED:
        raise TransitionRefused(f"unknown status {to!r}", reason="unknown-status")
    if to not in ALLOWED.get(current, frozenset()):
        raise TransitionRefused(
            f"a {current} record cannot become {to}", reason="transition-not-allowed"
        )
    office = actor_kind == "credit_office"
    if not (office or actor_is_origin):
        raise TransitionRefused(
            "only the submitting department or a credit office may change a record's status",
            reason="not-origin-or-credit-office",
        )
    if to in OFFICE_ONLY and not office:
        raise TransitionRefused(
            f"only a credit office may set {to}", reason="credit-office-required"
        )
    if (to == "corrected") != (successor is not None):
        raise TransitionRefused(
            "a correction names its successor, and only a correction does",
            reason="successor-rule",
        )
    if successor is not None and successor == record_id:
        raise TransitionRefused("a record cannot succeed itself", reason="successor-rule")


def status_event(
    *,
    record_id: str,
    origin: str,
    current: str,
    to: str,
    successor: str | None,
    reason: str,
    actor: str,
    version: int,
    note: str | None = None,
) -> dict[str, Any]:
    """The status event of a transition (formats.md §10): what the actor signs, through its
    hash (the transition's ``evidence``). ``reason`` and ``note`` are the texts'
    :func:`text_commitment` s, never the texts."""
    return {
        "v": 1,
        "kind": "status-event",
        "record": record_id,
        "origin": origin,
        "from": current,
        "to": to,
        "successor": successor,
        "reason": reason,
        "actor": actor,
        "version": version,
        "note": note,
    }


TEXT_COMMITMENT_TAG: Final = b"creditchain/text/v1\x00"


def text_commitment(salt: bytes, text: str) -> str:
    """The salted SHA-256 commitment (hex) of a lifecycle free text — a transition's reason or
    note, an objection's or repair application's reason: ``SHA-256("creditchain/text/v1" ‖
    0x00 ‖ salt ‖ UTF-8(text))``. Logs, rows and the chain carry this, never the text.

    Raises:
        ValueError: ``salt`` is not 32 bytes.
    """
    if not isinstance(salt, bytes) or len(salt) != 32:
        raise ValueError("a text commitment's salt is 32 bytes")
    return hashlib.sha256(TEXT_COMMITMENT_TAG + salt + text.encode("utf-8")).hexdigest()


def event_hash(event: Mapping[str, Any]) -> bytes:
    """SHA-256 of the event's canonical JSON: the transition's on-chain ``evidence``."""
    return hashlib.sha256(canonicalize(dict(event))).digest()


def retention_end(category: Category, fields: Mapping[str, Any]) -> datetime.date | None:
    """The date the record's retention period ends (None: kept until removed).

    Retention counts from the end of the disclosure period or from a date field, as the
    catalog says; an open-ended anchor or a missing date means no automatic end.
    """
    rule = category.retention_period
    if rule.anchor == DISCLOSURE_END:
        disclosure = category.disclosure_period
        start_text = fields.get(disclosure.anchor)
        if not isinstance(start_text, str):
            return None
        try:
            start = disclosure.end(datetime.date.fromisoformat(start_text))
        except ValueError:
            return None
    else:
        start_text = fields.get(rule.anchor)
        if not isinstance(start_text, str):
            return None
        try:
            start = datetime.date.fromisoformat(start_text)
        except ValueError:
            return None
    if start is None:
        return None
    return rule.end(start)


KEEP_FOREVER: Final = 2**62
"""``retain_until`` of a record with no automatic end of retention."""

JURISDICTION: Final = datetime.timezone(datetime.timedelta(hours=8))
"""Periods are counted in dates of the gateway's jurisdiction (UTC+8, no DST)."""


def retain_until(category: Category, fields: Mapping[str, Any]) -> int:
    """Unix time at which the record's retention ends (00:00 of its end date, UTC+8), or
    :data:`KEEP_FOREVER`."""
    end = retention_end(category, fields)
    if end is None:
        return KEEP_FOREVER
    return int(datetime.datetime.combine(end, datetime.time(), JURISDICTION).timestamp())
