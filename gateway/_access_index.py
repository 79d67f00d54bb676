"""The access log is the truth; ``access_decision`` rows are only its index (issue 9, finding 3).

An access-log entry (docs/formats.md §9) names its subject by a **per-entry keyed tag**:
``HMAC-SHA256(K, salt ‖ commitment)`` with a fresh 16-byte ``subject_salt`` in the entry and
``K = HMAC-SHA256(pepper, "creditchain/access-subject-tag/v1")``. Two entries about one
subject share no value, and only the gateway (which holds the pepper) can tell whose an entry
is — a requester who learns a commitment cannot list that subject's accesses.

The ``access_decision`` rows let the gateway find a subject's or requester's entries fast, but
an insider can delete or edit them. So:

- every decision a view returns is rebuilt from its verified entry (:func:`entry_rows`), and
  a row whose entry does not say what the row says is dropped;
- ``creditchain check`` and ``audit verify`` compare the index with the log in both directions
  (:func:`compare_index`): a missing, extra or re-attributed row is a finding.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "COLUMNS",
    "TAG_SALT_BYTES",
    "TAIL_BYTES",
    "IndexRow",
    "compare_index",
    "describe",
    "entry_rows",
    "fast_entry_rows",
    "fast_row_subject",
    "index_document",
    "parse_entry",
    "plain_row",
    "prefixed",
    "row_key",
    "subject_tag",
    "tag_key",
    "tail_row_subject",
    "verified_decisions",
]

TAG_SALT_BYTES = 16
_TAG_CONTEXT = b"creditchain/access-subject-tag/v1"

IndexRow = tuple[Any, ...]
"""(log_index, requester, subject, record_id, purpose, decision, reason, basis, grant_id,
decided_at): one decision, as the index holds it and as the entry says it. ``subject`` is the
entry's subject tag (v2) or commitment (v1)."""

COLUMNS = (
    "log_index",
    "requester",
    "subject",
    "record_id",
    "purpose",
    "decision",
    "reason",
    "basis",
    "grant_id",
    "decided_at",
)


def tag_key(pepper: bytes) -> bytes:
    """The key of the subject tags, derived from the gateway's pepper."""
    return hmac.new(pepper, _TAG_CONTEXT, hashlib.sha256).digest()


def subject_tag(key: bytes, salt: bytes, commitment: bytes) -> bytes:
    """An entry's subject tag: HMAC-SHA256(key, salt ‖ commitment)."""
    return hmac.new(key, salt + commitment, hashlib.sha256).digest()


def entry_subject(entry: Mapping[str, Any]) -> tuple[bytes | None, str]:
    """(salt, tag hex) of a v2 entry; (None, commitment hex) of a v1 entry."""
    if entry.get("v", 1) >= 2:
        return bytes.fromhex(entry["subject_salt"]), str(entry["subject_tag"])
    return None, str(entry["subject"])


def row_subject(key: bytes, entry: Mapping[str, Any], commitment: str) -> str:
    """What a row's subject commitment becomes in the entry's terms (its tag, for v2)."""
    salt, _ = entry_subject(entry)
    if salt is None:
        return commitment
    return subject_tag(key, salt, bytes.fromhex(commitment)).hex()


def prefixed(grant: str | None) -> str | None:
    return None if grant is None else "0x" + grant.lower().removeprefix("0x")


def entry_rows(index: int, entry: Mapping[str, Any]) -> list[IndexRow]:
    """The index rows an access-log entry implies: one per decision; when it decided no
    record (none matched, or the request was refused before any record was looked at), one row
    of the request itself — its record and grant, its decision, and its reason (``no-records``
    when allowed): the shape :mod:`gateway._reads` and :mod:`gateway._refusals` write."""
    _, subject = entry_subject(entry)
    requester = str(entry["requester"]).lower()
    if not entry["decisions"]:
        decision = entry["decision"]
        return [
            (
                index,
                requester,
                subject,
                entry.get("record"),
                entry["purpose"],
                decision,
                "no-records" if decision == "allow" else entry["reason"],
                None,
                prefixed(entry.get("grant")),
                entry["decided_at"],
            )
        ]
    return _rows(
        index,
        requester,
        subject,
        entry["purpose"],
        entry["decided_at"],
        entry["decisions"],
        entry.get("grant") if entry.get("v", 1) < 2 else _PER_DECISION,
    )


_PER_DECISION = object()


def _rows(
    index: int,
    requester: str,
    subject: str,
    purpose: Any,
    at: Any,
    decisions: list[dict[str, Any]],
    v1_grant: Any,
) -> list[IndexRow]:
    rows: list[IndexRow] = []
    for d in decisions:
        if v1_grant is _PER_DECISION:
            grant = prefixed(d.get("grant"))
        else:  # v1 entries carry the grant once: the decisions that used it are allowed
            used = d["allowed"] and d["basis"] in ("consent", "statutory")
            grant = prefixed(v1_grant) if used else None
        rows.append(
            (
                index,
                requester,
                subject,
                d["record"],
                purpose,
                "allow" if d["allowed"] else "deny",
                d["reason"],
                d["basis"],
                grant,
                at,
            )
        )
    return rows


def _text(raw: bytes, key: bytes) -> str:
    """The string value of top-level ``key`` in a canonical entry without escapes."""
    start = raw.index(key) + len(key)
    return raw[start : raw.index(b'"', start)].decode()


def fast_entry_rows(index: int, raw: bytes) -> list[IndexRow]:
    """:func:`entry_rows` of a stored entry, without parsing all of it when it is a canonical
    v2 access entry with no escaped character: then every ``"key":`` in it is a real key, the
    top-level ones unique, and only the decisions array is parsed. Anything else is parsed
    whole. (``audit verify`` reads 10^6 entries: the whole parse would double its time.)"""
    if raw.endswith(b',"v":2}') and b"\\" not in raw and b'"kind":"access"' in raw:
        try:
            begin = raw.index(b'"decisions":[') + 12
            if raw.startswith(b"[]", begin):  # the request's own row: parsed whole below
                raise ValueError("no decisions")
            end = raw.index(b'}],"grant":', begin) + 2
            decisions = json.loads(raw[begin:end])
            at_start = raw.index(b'"decided_at":') + 13
            at = int(raw[at_start : raw.index(b",", at_start)])
            return _rows(
                index,
                _text(raw, b'"requester":"').lower(),
                _text(raw, b'"subject_tag":"'),
                _text(raw, b'"purpose":"'),
                at,
                decisions,
                _PER_DECISION,
            )
        except (ValueError, KeyError, TypeError):
            pass
    doc = parse_entry(raw)
    return [] if doc is None else entry_rows(index, doc)


def row_key(key: bytes, entry: Mapping[str, Any], row: Mapping[str, Any]) -> IndexRow:
    """An ``access_decision`` row (a mapping of its columns) in :data:`IndexRow` form, its
    subject commitment turned into the entry's terms."""
    return (
        int(row["log_index"]),
        str(row["requester"]).lower(),
        row_subject(key, entry, str(row["subject_commitment"])),
        row["record_id"],
        row["purpose"],
        row["decision"],
        row["reason"],
        row["basis"],
        prefixed(row["grant_id"]),
        int(row["decided_at"]),
    )


def plain_row(row: Mapping[str, Any]) -> IndexRow:
    """A row with no access entry to put it in terms of (its subject stays the commitment)."""
    return tuple(row["subject_commitment" if c == "subject" else c] for c in COLUMNS)


def parse_entry(raw: bytes | str) -> dict[str, Any] | None:
    """An access-log entry as JSON (None when it is not an access entry)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("kind") != "access":
        return None
    return doc


def compare_index(
    log_rows: Iterable[IndexRow], index_rows: Iterable[IndexRow]
) -> list[tuple[str, IndexRow]]:
    """Both directions: ``("missing", row)`` for each decision of the log the index lacks,
    ``("extra", row)`` for each index row no entry says (an edited row shows as both)."""
    want, have = Counter(log_rows), Counter(index_rows)
    out: list[tuple[str, IndexRow]] = []
    for row in sorted((want - have).elements(), key=_order):
        out.append(("missing", row))
    for row in sorted((have - want).elements(), key=_order):
        out.append(("extra", row))
    return out


def _order(row: IndexRow) -> tuple[int, str]:
    return int(row[0]), repr(row)


def describe(kind: str, row: IndexRow) -> str:
    """A finding's detail for :func:`compare_index`'s ``(kind, row)``."""
    cols = ", ".join(f"{c}={v}" for c, v in zip(COLUMNS[1:], row[1:], strict=True))
    if kind == "missing":
        return f"the entry's decision has no index row ({cols})"
    return f"an index row the entry does not say ({cols})"


def verified_decisions(
    log: Any, key: bytes, items: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The trace items (``access_decision`` rows as :meth:`gateway._reads.Reader.trace`
    returns them, ``subject`` the commitment) that their access-log entry says, each with that
    entry (read from ``log``, a :class:`gateway.store.DbLog`, which checks it against its
    stored leaf hash): a row whose entry says otherwise — another subject, requester, record,
    purpose, decision, reason, basis, grant or time — is dropped, and a row repeated more often
    than its entry has the decision counts once per decision."""
    entries: dict[int, tuple[bytes, dict[str, Any] | None, Counter[IndexRow]]] = {}
    out: list[dict[str, Any]] = []
    size = log.size()
    for item in items:
        i = int(item["log_index"])
        if not 0 <= i < size:  # a row pointing past the log says nothing the log says
            continue
        if i not in entries:
            raw = log.entry(i)
            doc = parse_entry(raw)
            try:
                said = Counter(entry_rows(i, doc)) if doc is not None else Counter()
            except (KeyError, TypeError, ValueError):  # not an access entry's shape
                doc, said = None, Counter()
            entries[i] = (raw, doc, said)
        raw, doc, left = entries[i]
        if doc is None:
            continue
        try:
            key_row = row_key(key, doc, {**item, "subject_commitment": item["subject"]})
        except (KeyError, TypeError, ValueError):
            continue
        if left[key_row] <= 0:
            continue
        left[key_row] -= 1
        out.append({**item, "entry": raw.decode()})
    return out


# -- the index answer's fast path (10^6 rows in seconds) -------------------------------------

_SALT_KEY = b'"subject_salt":"'


@functools.lru_cache(maxsize=4)
def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256's inner and outer hash states for ``key`` (RFC 2104; a key of at most one
    block), to be copied per message: a third of ``hmac.digest``'s time per tag."""
    block = key.ljust(64, b"\x00")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in block)),
        hashlib.sha256(bytes(b ^ 0x5C for b in block)),
    )


_TAIL_HEAD = b'"subject_salt":"'
_TAIL_MIDDLE = b'","subject_tag":"'
_TAIL_END = b'","v":2}'
TAIL_BYTES = len(_TAIL_HEAD) + 32 + len(_TAIL_MIDDLE) + 64 + len(_TAIL_END)
"""The last bytes of a canonical v2 access entry: its salt, its tag and its version."""


def tail_row_subject(key: bytes, tail: bytes, commitment: str) -> str | None:
    """:func:`row_subject` from the last :data:`TAIL_BYTES` of a canonical v2 access entry;
    None when ``tail`` is not such an ending (then read the whole entry)."""
    head, middle = len(_TAIL_HEAD), len(_TAIL_HEAD) + 32
    if not (
        len(tail) == TAIL_BYTES
        and tail.startswith(_TAIL_HEAD)
        and tail.endswith(_TAIL_END)
        and tail[middle : middle + len(_TAIL_MIDDLE)] == _TAIL_MIDDLE
        and len(key) <= 64
    ):
        return None
    try:
        message = bytes.fromhex(tail[head:middle].decode()) + bytes.fromhex(commitment)
    except ValueError:
        return None
    inner_pad, outer_pad = _pads(key)
    inner, outer = inner_pad.copy(), outer_pad.copy()
    inner.update(message)
    outer.update(inner.digest())
    return outer.hexdigest()


def fast_row_subject(key: bytes, raw: bytes, commitment: str) -> str | None:
    """:func:`row_subject` from a stored entry's bytes (its salt found from the end without
    parsing when the entry is canonical); None when the entry is no access entry."""
    at = raw.rfind(_SALT_KEY)
    if at >= 0 and raw.startswith(b'{"block":') and len(key) <= 64:
        salt = raw[at + len(_SALT_KEY) : raw.find(b'"', at + len(_SALT_KEY))]
        try:
            message = bytes.fromhex(salt.decode()) + bytes.fromhex(commitment)
        except ValueError:
            return None
        inner_pad, outer_pad = _pads(key)
        inner, outer = inner_pad.copy(), outer_pad.copy()
        inner.update(message)
        outer.update(inner.digest())
        return outer.hexdigest()
    doc = parse_entry(raw)
    return None if doc is None else row_subject(key, doc, commitment)


def index_document(rows: list[IndexRow]) -> bytes:
    """The index answer for ``rows`` (``POST /v1/logs/access/index``): ``{"rows": [[…], …]}``,
    compact; ``audit verify`` encodes the rows it expects the same way and compares bytes."""
    return json.dumps({"rows": rows}, separators=(",", ":")).encode()
