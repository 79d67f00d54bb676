"""Who may read what, for which purpose (DESIGN §2 guarantee 4, §5 flow 3). Pure: the chain's
answers (the grant, at the latest confirmed block) and the date are passed in.

A read of one record is decided in this order; the first rule that fails is the reason:

1. ``purpose-excludes-category`` — the stated purpose may not receive this category at all.
2. ``record-not-shareable`` — the record's status stops sharing (repaired, withdrawn, erased,
   corrected: a superseded version). An objected record is shared, marked as objected. A
   repaired record is still shared with auditors (credit repair ends publication and
   sharing, not oversight); its subject sees it in its own file.
3. ``disclosure-ended`` / ``disclosure-not-started`` — outside the category's disclosure
   period, counted from the record's anchor date field.
4. by the category's sharing scope:
   * ``public``: shared with any member during disclosure — basis ``public-disclosure``;
   * ``conditional``: needs a live grant — consent or statutory — naming this requester as
     grantee, this purpose, this category, and this subject (a statutory grant may name any
     subject); basis ``consent`` or ``statutory``;
   * ``restricted``: needs a live statutory grant.
   Grant failures: ``no-grant``, ``grant-revoked``, ``grant-not-yet-valid``,
   ``grant-expired``, ``grant-other-grantee``, ``grant-other-purpose``,
   ``grant-other-category``, ``grant-other-subject``, ``statutory-basis-required``.

Released fields are the purpose's allowance for the category, nothing more.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from eth_utils.crypto import keccak

from gateway.domain.catalog import Catalog

__all__ = [
    "DENIAL_REASONS",
    "SHAREABLE_STATUSES",
    "Decision",
    "GrantView",
    "ReadQuery",
    "RecordView",
    "decide",
    "purpose_id",
]

SHAREABLE_STATUSES = frozenset({"active", "objected"})
DENIAL_REASONS = (
    "purpose-excludes-category",
    "record-not-shareable",
    "disclosure-ended",
    "disclosure-not-started",
    "no-grant",
    "grant-revoked",
    "grant-not-yet-valid",
    "grant-expired",
    "grant-other-grantee",
    "grant-other-purpose",
    "grant-other-category",
    "grant-other-subject",
    "statutory-basis-required",
)
ANY_SUBJECT = b"\x00" * 32


@functools.lru_cache(maxsize=256)
def purpose_id(code: str) -> bytes:
    """A purpose's id on chain: keccak-256 of its catalog code."""
    return keccak(text=code)


@dataclass(frozen=True, slots=True)
class GrantView:
    """A grant as the chain holds it at the latest confirmed block."""

    grant_id: bytes
    subject: bytes
    grantee: bytes
    purpose: bytes
    categories: int
    valid_from: int
    valid_until: int
    basis: Literal["consent", "statutory"]
    revoked_at: int = 0


@dataclass(frozen=True, slots=True)
class ReadQuery:
    requester: bytes
    purpose: str
    categories: frozenset[str]
    requester_kind: str = "unknown"
    """The requester's organisation kind (``auditor`` may still read repaired records)."""


@dataclass(frozen=True, slots=True)
class RecordView:
    record_id: str
    category: str
    subject: bytes
    status: str
    fields: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Decision:
    record_id: str
    allowed: bool
    reason: str
    basis: str | None = None
    grant_id: bytes | None = None
    released: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _disclosure(catalog: Catalog, record: RecordView, today: datetime.date) -> str | None:
    rule = catalog.category(record.category).disclosure_period
    anchor = record.fields.get(rule.anchor) if rule.anchor else None
    if not isinstance(anchor, str):
        return None
    try:
        start = datetime.date.fromisoformat(anchor)
    except ValueError:
        return None
    if today < start:
        return "disclosure-not-started"
    end = rule.end(start)
    if end is not None and today >= end:
        return "disclosure-ended"
    return None


def _grant_failure(
    grant: GrantView | None,
    query: ReadQuery,
    record: RecordView,
    catalog: Catalog,
    now: int,
    *,
    statutory_only: bool,
) -> str | None:
    if grant is None:
        return "no-grant"
    if grant.revoked_at and grant.revoked_at <= now:
        return "grant-revoked"
    if now < grant.valid_from:
        return "grant-not-yet-valid"
    if now >= grant.valid_until:
        return "grant-expired"
    if grant.grantee != query.requester:
        return "grant-other-grantee"
    if grant.purpose != purpose_id(query.purpose):
        return "grant-other-purpose"
    if not grant.categories >> catalog.category_bit(record.category) & 1:
        return "grant-other-category"
    if grant.subject != record.subject and not (
        grant.basis == "statutory" and grant.subject == ANY_SUBJECT
    ):
        return "grant-other-subject"
    if statutory_only and grant.basis != "statutory":
        return "statutory-basis-required"
    return None


def decide(
    query: ReadQuery,
    record: RecordView,
    grant: GrantView | None,
    *,
    catalog: Catalog,
    now: int,
    today: datetime.date,
) -> Decision:
    """Decide one record for one query. ``now`` is the confirmed block's timestamp (grant
    validity), ``today`` the date in the gateway's jurisdiction (disclosure periods)."""
    rid = record.record_id
    purpose = catalog.purpose(query.purpose)
    if not purpose.allows(record.category):
        return Decision(rid, False, "purpose-excludes-category")
    if record.status not in SHAREABLE_STATUSES and not (
        record.status == "repaired" and query.requester_kind == "auditor"
    ):
        return Decision(rid, False, "record-not-shareable")
    late = _disclosure(catalog, record, today)
    if late is not None:
        return Decision(rid, False, late)
    scope = catalog.category(record.category).sharing_scope
    basis: str
    grant_id = None
    if scope == "public":
        basis = "public-disclosure"
    else:
        failure = _grant_failure(
            grant, query, record, catalog, now, statutory_only=scope == "restricted"
        )
        if failure is not None:
            return Decision(rid, False, failure)
        assert grant is not None
        basis, grant_id = grant.basis, grant.grant_id
    released = purpose.released_fields(record.category, record.fields)
    return Decision(rid, True, "allowed", basis, grant_id, released)
