"""The pure access policy (gateway/domain/policy.py): who may state which purpose, grant validity
by both clocks, and the request-level basis that decides the answer without looking at records."""

from __future__ import annotations

import datetime
import itertools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from gateway.domain.catalog import CATALOG_RESOURCE, SUBMITTER_KINDS, load_catalog, parse_catalog
from gateway.domain.errors import InvalidCatalog
from gateway.domain.policy import (
    ANY_SUBJECT,
    Clocks,
    GrantView,
    ReadQuery,
    RecordView,
    decide,
    purpose_id,
    request_basis,
)
from tests.samples import sample_fields

CATALOG = load_catalog()
TODAY = datetime.date(2026, 6, 1)
T = 1_780_000_000  # "now" on both clocks unless a test moves one
REQUESTER = b"\x0b" * 32
SUBJECT = b"\x5a" * 32

# Written out independently of the catalog data: the org kinds that may state each purpose.
HOLDERS = {
    "loan_approval": {"financial_institution"},
    "admin_approval": {"department", "credit_office"},
    "public_procurement": {"department"},
    "public_resource_trading": {"department"},
    "employment_screening": {"department"},
    "credit_repair_review": {"credit_office", "auditor"},
}


def record(category: str, status: str = "active") -> RecordView:
    return RecordView("ab" * 32, category, SUBJECT, status, sample_fields(category))


def query(kind: str, purpose: str, *categories: str) -> ReadQuery:
    return ReadQuery(REQUESTER, purpose, frozenset(categories), kind)


def grant(purpose: str, *categories: str, **kw: object) -> GrantView:
    fields: dict[str, object] = {
        "grant_id": b"\x01" * 32,
        "subject": SUBJECT,
        "grantee": REQUESTER,
        "purpose": purpose_id(purpose),
        "categories": CATALOG.category_mask(categories),
        "valid_from": T - 86_400,
        "valid_until": T + 86_400,
        "basis": "consent",
    }
    fields.update(kw)
    return GrantView(**fields)  # type: ignore[arg-type]


def test_the_catalog_names_who_may_state_each_purpose() -> None:
    assert CATALOG.policy_revision == 2
    assert {code: set(p.holders) for code, p in CATALOG.purposes.items()} == HOLDERS


@pytest.mark.parametrize(
    ("kind", "purpose"), list(itertools.product(sorted(SUBMITTER_KINDS), sorted(HOLDERS)))
)
def test_a_purpose_is_not_self_declared(kind: str, purpose: str) -> None:
    """Every kind x purpose on a public record: released only to a kind that holds it."""
    for category in CATALOG.codes:
        if CATALOG.category(category).sharing_scope != "public":
            continue
        d = decide(
            query(kind, purpose, category),
            record(category),
            None,
            catalog=CATALOG,
            now=T,
            today=TODAY,
            gateway_now=T,
        )
        basis = request_basis(
            query(kind, purpose, category),
            None,
            catalog=CATALOG,
            subject=SUBJECT,
            clocks=Clocks(T, T),
        )[category]
        if kind not in HOLDERS[purpose]:
            assert (d.allowed, d.reason, d.released) == (
                False,
                "requester-kind-excludes-purpose",
                {},
            )
            assert basis == ("requester-kind-excludes-purpose", None)
        elif CATALOG.purpose(purpose).allows(category):
            assert d.allowed, (kind, purpose, category)
            assert d.basis == "public-disclosure"
            assert basis is None
        else:
            assert d.reason == "purpose-excludes-category"


def test_the_issue_example_bank_and_utility_may_not_state_credit_repair_review() -> None:
    penalty = record("admin_penalty")
    everything = set(sample_fields("admin_penalty"))
    office = decide(
        query("credit_office", "credit_repair_review", "admin_penalty"),
        penalty,
        None,
        catalog=CATALOG,
        now=T,
        today=TODAY,
        gateway_now=T,
    )
    assert office.allowed
    assert set(office.released) == everything
    for kind in ("financial_institution", "utility"):
        d = decide(
            query(kind, "credit_repair_review", "admin_penalty"),
            penalty,
            None,
            catalog=CATALOG,
            now=T,
            today=TODAY,
            gateway_now=T,
        )
        assert (d.allowed, d.reason) == (False, "requester-kind-excludes-purpose")
    loan = decide(
        query("financial_institution", "loan_approval", "admin_penalty"),
        penalty,
        None,
        catalog=CATALOG,
        now=T,
        today=TODAY,
        gateway_now=T,
    )
    assert loan.allowed
    assert len(loan.released) == 7 < len(everything)


def test_a_conditional_category_needs_a_grant_naming_the_purpose() -> None:
    """A credit office holding credit_repair_review still needs a grant for *that* purpose on
    a conditional category; a grant for another purpose is no basis."""
    q = query("credit_office", "credit_repair_review", "tax_credit_rating")
    rec = record("tax_credit_rating")
    for g, want in (
        (None, "no-grant"),
        (grant("loan_approval", "tax_credit_rating"), "grant-other-purpose"),
        (grant("credit_repair_review", "tax_credit_rating"), "allowed"),
    ):
        assert decide(q, rec, g, catalog=CATALOG, now=T, today=TODAY, gateway_now=T).reason == want
        basis = request_basis(q, g, catalog=CATALOG, subject=SUBJECT, clocks=Clocks(T, T))
        assert basis["tax_credit_rating"] == (None if want == "allowed" else (want, None))


@pytest.mark.parametrize(
    ("block", "gateway", "reason", "clock"),
    [
        (T - 20, T, "grant-expired", "gateway"),  # a quiet chain: its last block is old
        (T, T - 20, "grant-expired", "block"),
        (T + 5, T + 5, "grant-expired", "both"),
        (T - 1, T - 1, "allowed", None),
        (T - 30_000, T - 86_400 - 1, "grant-not-yet-valid", "gateway"),
        (T - 86_400 - 1, T - 30_000, "grant-not-yet-valid", "block"),
    ],
)
def test_grant_validity_is_judged_by_both_clocks(
    block: int, gateway: int, reason: str, clock: str | None
) -> None:
    g = grant("loan_approval", "tax_credit_rating", valid_until=T)
    q = query("financial_institution", "loan_approval", "tax_credit_rating")
    d = decide(
        q,
        record("tax_credit_rating"),
        g,
        catalog=CATALOG,
        now=block,
        today=TODAY,
        gateway_now=gateway,
    )
    assert (d.reason, d.clock) == (reason, clock)
    basis = request_basis(
        q, g, catalog=CATALOG, subject=SUBJECT, clocks=Clocks(block=block, gateway=gateway)
    )["tax_credit_rating"]
    assert basis == (None if reason == "allowed" else (reason, clock))


def test_request_basis_looks_at_no_record() -> None:
    """The basis of a request depends on requester, purpose, categories, grant and clocks only:
    the record-level rules (status, disclosure) never enter it; a read by record id (subject
    unknown) checks no subject."""
    q = query("financial_institution", "loan_approval", "tax_credit_rating", "admin_penalty")
    assert request_basis(q, None, catalog=CATALOG, subject=SUBJECT, clocks=Clocks(T, T)) == {
        "admin_penalty": None,
        "tax_credit_rating": ("no-grant", None),
    }
    other = grant("loan_approval", "tax_credit_rating", subject=b"\x77" * 32)
    by_subject = request_basis(q, other, catalog=CATALOG, subject=SUBJECT, clocks=Clocks(T, T))
    assert by_subject["tax_credit_rating"] == ("grant-other-subject", None)
    by_id = request_basis(q, other, catalog=CATALOG, subject=None, clocks=Clocks(T, T))
    assert by_id["tax_credit_rating"] is None
    statutory = grant("loan_approval", "tax_credit_rating", subject=ANY_SUBJECT, basis="statutory")
    assert (
        request_basis(q, statutory, catalog=CATALOG, subject=SUBJECT, clocks=Clocks(T, T))[
            "tax_credit_rating"
        ]
        is None
    )
    # a repaired record is refused per record, but the request still has its basis
    repaired = decide(
        q,
        record("admin_penalty", "repaired"),
        None,
        catalog=CATALOG,
        now=T,
        today=TODAY,
        gateway_now=T,
    )
    assert repaired.reason == "record-not-shareable"


def test_an_auditor_reviewing_repairs_still_sees_a_repaired_record() -> None:
    """Credit repair ends sharing, not oversight: an auditor stating credit_repair_review reads a
    repaired public record; the credit office (same purpose) does not."""
    repaired = record("admin_penalty", "repaired")
    for kind, want in (("auditor", "allowed"), ("credit_office", "record-not-shareable")):
        d = decide(
            query(kind, "credit_repair_review", "admin_penalty"),
            repaired,
            None,
            catalog=CATALOG,
            now=T,
            today=TODAY,
            gateway_now=T,
        )
        assert d.reason == want, kind


def _catalog_doc() -> dict[str, Any]:
    text = resources.files("gateway.catalog").joinpath(CATALOG_RESOURCE).read_text("utf-8")
    return dict(json.loads(text))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["purposes"][0].pop("holders"), "holders must be"),
        (lambda d: d["purposes"][0].update(holders=[]), "holders must be"),
        (lambda d: d["purposes"][0].update(holders=["bank"]), "holders must be"),
        (lambda d: d["purposes"][0].update(holders=["auditor", "auditor"]), "holders must be"),
        (lambda d: d.update(policy_revision=0), "policy_revision"),
        (lambda d: d.update(policy_revision="2"), "policy_revision"),
    ],
)
def test_the_catalog_refuses_bad_holders(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    doc = _catalog_doc()
    assert parse_catalog(doc).policy_revision == 2
    change(doc)
    with pytest.raises(InvalidCatalog, match=message):
        parse_catalog(doc)
