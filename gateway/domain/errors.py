"""Domain exception hierarchy.

Every exception raised on purpose by :mod:`gateway.domain` derives from :class:`DomainError`
and carries a class attribute ``code``: a stable kebab-case slug that the HTTP layer maps to
an RFC 9457 problem ``type``. Codes are part of the public contract: never rename one.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadSignature",
    "CanonicalizationError",
    "CatalogVersionMismatch",
    "DomainError",
    "EnvelopeError",
    "InvalidCatalog",
    "InvalidIdentifier",
    "MalformedObject",
    "SchemaViolation",
    "UnknownCategory",
]


class DomainError(Exception):
    """Root of all deliberate domain failures."""

    code: ClassVar[str] = "domain-error"


class CanonicalizationError(DomainError):
    """A value cannot be represented as RFC 8785 canonical JSON."""

    code: ClassVar[str] = "canonicalization-error"


class InvalidIdentifier(DomainError):
    """A subject identifier failed validation.

    ``check`` names the check that failed, one of ``"empty"``, ``"characters"``,
    ``"length"``, ``"format"``, ``"birth-date"``, ``"check-character"``, ``"ambiguous"``
    or ``"kind"``; the message says precisely what was wrong.
    """

    code: ClassVar[str] = "invalid-identifier"

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(message)
        self.check = check


class EnvelopeError(DomainError):
    """An encrypted envelope could not be opened, parsed or re-wrapped.

    Deliberately opaque: the message is always the same and no cause is chained, so that
    callers (and attackers) cannot tell a wrong key from a tampered byte or a bad AAD.
    """

    code: ClassVar[str] = "envelope-error"
    MESSAGE: ClassVar[str] = "envelope could not be opened"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class UnknownCategory(DomainError):
    """A category code is not in the catalog."""

    code: ClassVar[str] = "unknown-category"

    def __init__(self, category_code: str, *, catalog_version: str) -> None:
        super().__init__(f"unknown category {category_code!r} in catalog version {catalog_version}")
        self.category_code = category_code
        self.catalog_version = catalog_version


class SchemaViolation(DomainError):
    """A record's fields do not conform to the category schema.

    ``pointer`` is the RFC 6901 JSON Pointer (into the ``fields`` object) of the first
    offending value; for a missing required member it points at where the member should be.
    """

    code: ClassVar[str] = "schema-violation"

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"{pointer if pointer else '(root)'}: {reason}")
        self.pointer = pointer
        self.reason = reason


class InvalidCatalog(DomainError):
    """The catalog data itself is malformed (a deployment error, not a client error)."""

    code: ClassVar[str] = "invalid-catalog"


class BadSignature(DomainError):
    """A signature is malformed or does not verify.

    Raised for signatures that are not 65 bytes ``r || s || v`` with ``v`` in {27, 28},
    ``0 < r < n`` and ``0 < s <= n/2`` (secp256k1 order ``n``; EIP-2 low-s form), or that
    recover to no public key, or that recover to an address other than the expected one.
    """

    code: ClassVar[str] = "bad-signature"


class MalformedObject(DomainError):
    """A wire object (record, leaf entry, receipt, submission) does not have the shape
    ``docs/formats.md`` prescribes: a missing or unexpected member, a wrong JSON type, a
    badly encoded hex string or an integer out of range.

    ``pointer`` is the RFC 6901 JSON Pointer of the offending member within the object
    being parsed ("" for the object itself).
    """

    code: ClassVar[str] = "malformed-object"

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"{pointer if pointer else '(root)'}: {reason}")
        self.pointer = pointer
        self.reason = reason


class CatalogVersionMismatch(DomainError):
    """A record names a catalog version other than the one the gateway validates against."""

    code: ClassVar[str] = "catalog-version-mismatch"

    def __init__(self, got: str, *, expected: str) -> None:
        super().__init__(f"record is for catalog version {got!r}, this gateway uses {expected!r}")
        self.got = got
        self.expected = expected


class UnknownPurpose(DomainError):
    """A read names a purpose the catalog does not define."""

    code = "unknown-purpose"


class SealedOpenFailed(DomainError):
    """A sealed (HPKE) payload did not open: wrong key, another request's hash, a changed
    byte, or not a sealed payload at all. One opaque error for every cause."""

    code = "sealed-open-failed"
