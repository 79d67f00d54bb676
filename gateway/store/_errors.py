"""Storage exception hierarchy.

Every exception raised on purpose by :mod:`gateway.store` derives from :class:`StoreError`.
Like the domain errors, each carries a stable kebab-case ``code`` that an outer layer may map
to a problem ``type``; codes are part of the contract: never rename one.

Database driver errors (connection refused, disk full, …) are *not* wrapped: they propagate as
:mod:`sqlalchemy.exc` exceptions, because callers handle them differently (retry, fail over).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["DuplicateEntry", "InvalidRange", "LogCorrupted", "NotFound", "StoreError"]


class StoreError(Exception):
    """Root of all deliberate storage failures."""

    code: ClassVar[str] = "store-error"


class NotFound(StoreError):
    """The requested log, entry or tree size does not exist (yet)."""

    code: ClassVar[str] = "not-found"


class InvalidRange(StoreError, ValueError):
    """Arguments that can never be valid: negative indices, ``index >= size``, ``old > new``,
    an empty or oversized entry range."""

    code: ClassVar[str] = "invalid-range"


class DuplicateEntry(StoreError):
    """An appended leaf entry is already in the log (leaf hashes are unique per log)."""

    code: ClassVar[str] = "duplicate-entry"


class LogCorrupted(StoreError):
    """The stored log is inconsistent: a node that must exist is missing, or a stored hash
    differs from the one recomputed from the data it covers.

    This is never the caller's fault and never transient: it needs an operator.
    """

    code: ClassVar[str] = "log-corrupted"
