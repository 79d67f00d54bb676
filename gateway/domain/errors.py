"""Domain exception hierarchy.

Every exception raised on purpose by :mod:`gateway.domain` derives from :class:`DomainError`
and carries a class attribute ``code``: a stable kebab-case slug that the HTTP layer maps to
an RFC 9457 problem ``type``. Codes are part of the public contract: never rename one.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CanonicalizationError",
    "DomainError",
    "EnvelopeError",
    "InvalidCatalog",
    "InvalidIdentifier",
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
