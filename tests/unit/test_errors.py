"""Domain exception hierarchy: stable, unique problem codes."""

from __future__ import annotations

import re

import pytest

from gateway.domain import errors
from gateway.domain.errors import (
    CanonicalizationError,
    DomainError,
    EnvelopeError,
    InvalidCatalog,
    InvalidIdentifier,
    SchemaViolation,
    UnknownCategory,
)

SUBCLASSES = [
    CanonicalizationError,
    InvalidIdentifier,
    EnvelopeError,
    UnknownCategory,
    SchemaViolation,
    InvalidCatalog,
]


def test_codes_are_stable_kebab_case_and_unique() -> None:
    expected = {
        CanonicalizationError: "canonicalization-error",
        InvalidIdentifier: "invalid-identifier",
        EnvelopeError: "envelope-error",
        UnknownCategory: "unknown-category",
        SchemaViolation: "schema-violation",
        InvalidCatalog: "invalid-catalog",
    }
    assert {cls: cls.code for cls in SUBCLASSES} == expected
    codes = [cls.code for cls in SUBCLASSES] + [DomainError.code]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", code) for code in codes)


@pytest.mark.parametrize("cls", SUBCLASSES)
def test_all_derive_from_domain_error(cls: type[DomainError]) -> None:
    assert issubclass(cls, DomainError)
    assert cls.__name__ in errors.__all__


def test_structured_attributes() -> None:
    violation = SchemaViolation("/a/0", "must be >= 0")
    assert (violation.pointer, violation.reason) == ("/a/0", "must be >= 0")
    assert str(violation) == "/a/0: must be >= 0"
    assert str(SchemaViolation("", "expected object, got array")).startswith("(root)")
    assert InvalidIdentifier("bad", check="length").check == "length"
    assert str(EnvelopeError()) == "envelope could not be opened"
