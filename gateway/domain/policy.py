"""Who may read what, for which purpose (DESIGN §2 guarantee 4, §5 flow 3). Pure: the chain's
answers (the grant, at the latest confirmed block), the clocks and the date are passed in.

A read of one record is decided in this order; the first rule that fails is the reason:

0. ``requester-kind-excludes-purpose`` — the requester's org kind may not state this purpose
   (catalog ``holders``: a bank may not state a credit office's purpose). Purposes are not
   self-declared.
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
   A grant is live only if *both* clocks — the confirmed block's timestamp and the
   gateway's own clock — are inside ``[valid_from, valid_until)``: a quiet chain's old block
   cannot keep an ended grant alive. The decision names the clock(s) that ended or had not
   yet started the grant (``Decision.clock``: ``block``, ``gateway`` or ``both``).

Released fields are the purpose's allowance for the category, nothing more.

:func:`request_basis` decides the same rules 0, 1 and 4 for a whole request, per category,
without looking at any record: whether the requester has a basis at all. A read without a
basis is refused with that reason whatever records exist, so the answer says nothing about
their existence or number (the access log keeps the per-record decisions).
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
    "Clocks",
    "Decision",
    "GrantView",
    "ReadQuery",
    "RecordView",
    "decide",
    "purpose_id",
    "request_basis",
]

SHAREABLE_STATUSES = frozenset({"active", "objected"})
DENIAL_REASONS = (
    "requester-kind-excludes-purpose",
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
    clock: str | None = None
    """For ``grant-not-yet-valid``/``grant-expired``: which clock said so (``block``,
    ``gateway`` or ``both``)."""


@dataclass(frozen=True, slots=True)
class Clocks:
    """The two clocks a grant's validity is judged by (Unix seconds)."""

    block: int
    """The latest confirmed block's timestamp."""
    gateway: int
    """The gateway's own clock."""

    def outside(self, valid_from: int, valid_until: int) -> tuple[str, str] | None:
        """``(reason, clock)`` if either clock is outside ``[valid_from, valid_until)``."""
        for reason, block, gateway in (
            ("grant-not-yet-valid", self.block < valid_from, self.gateway < valid_from),
            ("grant-expired", self.block >= valid_until, self.gateway >= valid_until),
        ):
            if block or gateway:
                return reason, "both" if block and gateway else "block" if block else "gateway"
        return None


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
    category: str,
    subject: bytes | None,
    catalog: Catalog,
    clocks: Clocks,
    *,
    statutory_only: bool,
) -> tuple[str, str | None] | None:
    """Why ``grant`` is no basis for ``category`` (``subject`` None: any subject), and the
    clock that said so for a time-based failure; None if it is a basis."""
    if grant is None:
        return "no-grant", None
    if grant.revoked_at and grant.revoked_at <= max(clocks.block, clocks.gateway):
        return "grant-revoked", None
    outside = clocks.outside(grant.valid_from, grant.valid_until)
    if outside is not None:
        return outside
    if grant.grantee != query.requester:
        return "grant-other-grantee", None
    if grant.purpose != purpose_id(query.purpose):
        return "grant-other-purpose", None
    if not grant.categories >> catalog.category_bit(category) & 1:
        return "grant-other-category", None
    if (
        subject is not None
        and grant.subject != subject
        and not (grant.basis == "statutory" and grant.subject == ANY_SUBJECT)
    ):
        return "grant-other-subject", None
    if statutory_only and grant.basis != "statutory":
        return "statutory-basis-required", None
    return None


def _basis_failure(
    query: ReadQuery,
    category: str,
    subject: bytes | None,
    grant: GrantView | None,
    catalog: Catalog,
    clocks: Clocks,
) -> tuple[str, str | None] | None:
    """Rules 0, 1 and 4 for one category (no record looked at)."""
    purpose = catalog.purpose(query.purpose)
    if not purpose.may_hold(query.requester_kind):
        return "requester-kind-excludes-purpose", None
    if not purpose.allows(category):
        return "purpose-excludes-category", None
    scope = catalog.category(category).sharing_scope
    if scope == "public":
        return None
    return _grant_failure(
        grant,
        query,
        category,
        subject,
        catalog,
        clocks,
        statutory_only=scope == "restricted",
    )


def request_basis(
    query: ReadQuery,
    grant: GrantView | None,
    *,
    catalog: Catalog,
    subject: bytes | None,
    clocks: Clocks,
) -> dict[str, tuple[str, str | None] | None]:
    """Per requested category (in sorted order): ``None`` if the requester has a basis to
    read it — its kind holds the purpose, the purpose allows the category, and the category
    is public or the grant is live for this requester, purpose, category and ``subject``
    (``None``: the subject is not known before the record is read, e.g. a read by record
    id) — else ``(reason, clock)``. Looks at no record, so it says nothing about them."""
    return {
        category: _basis_failure(query, category, subject, grant, catalog, clocks)
        for category in sorted(query.categories)
    }


def decide(
    query: ReadQuery,
    record: RecordView,
    grant: GrantView | None,
    *,
    catalog: Catalog,
    now: int,
    today: datetime.date,
    gateway_now: int,
) -> Decision:
    """Decide one record for one query. ``now`` is the confirmed block's timestamp and
    ``gateway_now`` the gateway's clock (grant validity: both must be inside it), ``today``
    the date in the gateway's jurisdiction (disclosure periods)."""
    rid = record.record_id
    clocks = Clocks(block=now, gateway=gateway_now)
    purpose = catalog.purpose(query.purpose)
    if not purpose.may_hold(query.requester_kind):
        return Decision(rid, False, "requester-kind-excludes-purpose")
    if not purpose.allows(record.category):
        return Decision(rid, False, "purpose-excludes-category")
    if record.status not in SHAREABLE_STATUSES and not (
        record.status == "repaired" and query.requester_kind == "auditor"
    ):
        return Decision(rid, False, "record-not-shareable")
    late = _disclosure(catalog, record, today)
    if late is not None:
        return Decision(rid, False, late)
    failure = _basis_failure(query, record.category, record.subject, grant, catalog, clocks)
    if failure is not None:
        return Decision(rid, False, failure[0], clock=failure[1])
    basis: str = "public-disclosure"
    grant_id = None
    if catalog.category(record.category).sharing_scope != "public":
        assert grant is not None
        basis, grant_id = grant.basis, grant.grant_id
    released = purpose.released_fields(record.category, record.fields)
    return Decision(rid, True, "allowed", basis, grant_id, released)
