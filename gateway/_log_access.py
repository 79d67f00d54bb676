"""Who may read log entries (issue 9, finding 8; docs/formats.md §9.2).

Public to anyone: checkpoints, consistency and inclusion proofs, and the **leaf hashes**
(:func:`leaves`), enough to rebuild either tree and check it against the chain. The entries
themselves are served only to a signed ``LogRequest`` (EIP-712, the route's action bound in):

- an auditor (or credit office) reads any entry of either log, and the access index
  (:func:`index`) that ``audit verify`` compares with the log;
- any other active organisation reads only its own access-log entries: the others in the range
  come back as ``null`` (their leaf hashes are public; their contents are not).

A subject reads its own entries through ``/v1/subjects/accesses``.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from gateway._access_index import (
    TAIL_BYTES,
    IndexRow,
    fast_row_subject,
    parse_entry,
    prefixed,
    tag_key,
    tail_row_subject,
)
from gateway._auth import authenticate
from gateway._service import Gateway, parse_body
from gateway.domain.records import hex0x
from gateway.domain.requests import LogRequest
from gateway.errors import Forbidden, LogOutOfRange
from gateway.store import MAX_ENTRIES_PER_READ, DbLog, session_scope

__all__ = ["AUDITOR_KINDS", "LogAccess"]

AUDITOR_KINDS = frozenset({"auditor", "credit_office"})


class LogAccess:
    """The signed reads of log entries and of the access index."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self._tag_key: bytes | None = None

    @property
    def tag_key(self) -> bytes:
        """The subject-tag key (derived on first use: the app is also built without a
        gateway, for its OpenAPI document)."""
        if self._tag_key is None:
            self._tag_key = tag_key(self.gw.secrets.pepper)
        return self._tag_key

    def _check(self, action: str, body: bytes) -> tuple[str, str, int, int]:
        """(org hex, org kind, start, end) of a valid ``LogRequest`` for ``action``; its
        nonce claimed."""
        values = LogRequest.parse(parse_body(body))
        auth = authenticate(
            self.gw, LogRequest, values, body, org_member="org", bound={"action": action}
        )
        assert auth.org is not None
        return hex0x(values["org"]), auth.org.kind, values["start"], values["end"]

    def entries(self, log: str, body: bytes) -> tuple[int, list[bytes | None], bool]:
        """(start, entries, whole) for a signed request of ``entries/<log>``: every entry for
        an auditor (``whole``), else only the requester's own access entries (``None`` in the
        other places)."""
        org, kind, start, end = self._check(f"entries/{log}", body)
        if kind not in AUDITOR_KINDS and log != "access":
            raise Forbidden(f"a {kind} may read only its own access-log entries")
        raw = self.gw.raw_entries(log, start, end)
        if kind in AUDITOR_KINDS:
            return start, list(raw), True
        own: list[bytes | None] = []
        for e in raw:
            doc = parse_entry(e)
            own.append(e if doc is not None and str(doc.get("requester")).lower() == org else None)
        return start, own, False

    def index(self, body: bytes) -> list[IndexRow]:
        """The access index for log indices ``[start, end)`` (auditors only): each
        ``access_decision`` row as an :data:`gateway._access_index.IndexRow`, its subject in
        its entry's terms (the tag the row's commitment gives under the entry's salt), so that
        an auditor can compare it with the entries it hashed."""
        _, kind, start, end = self._check("index/access", body)
        if kind not in AUDITOR_KINDS:
            raise Forbidden(f"a {kind} is not an auditor")
        if not 0 <= start < end or end - start > MAX_ENTRIES_PER_READ:
            raise LogOutOfRange(
                f"need 0 <= start < end and at most {MAX_ENTRIES_PER_READ} indices per request"
            )
        with session_scope(self.gw.engine, read_only=True) as s:
            log = DbLog(s, "access")
            size = log.size() if log.exists() else 0
            if end > size:
                raise LogOutOfRange(f"need end <= {size} (the access log's size)")
            conn = s.connection()
            span = {"a": start, "b": end}
            # the salts only (the entries themselves are checked where they are served): on
            # SQLite the last bytes of each entry, where a v2 entry holds its salt
            tails = conn.dialect.name == "sqlite"
            salts = (
                conn.execute(_TAILS, {**span, "t": -TAIL_BYTES})
                if tails
                else conn.execute(_ENTRIES, span)
            )
            raw = {int(i): bytes(e) for i, e in salts}
            rows = conn.execute(_INDEX_ROWS, span).all()
            out: list[IndexRow] = []
            for r in rows:
                entry = raw.get(int(r[0]))
                subject = None
                if entry is not None:
                    subject = (tail_row_subject if tails else fast_row_subject)(
                        self.tag_key, entry, str(r[2])
                    )
                    if subject is None and tails:  # not a v2 tail: the whole entry
                        whole = conn.execute(_ENTRY, {"i": int(r[0])}).scalar_one()
                        subject = fast_row_subject(self.tag_key, bytes(whole), str(r[2]))
                out.append(
                    (
                        int(r[0]),
                        str(r[1]).lower(),
                        str(r[2]) if subject is None else subject,
                        r[3],
                        r[4],
                        r[5],
                        r[6],
                        r[7],
                        prefixed(r[8]),
                        int(r[9]),
                    )
                )
        return out


_ENTRIES = sa.text(
    "SELECT idx, entry FROM log_entry WHERE log_name = 'access' AND idx >= :a AND idx < :b"
)
_TAILS = sa.text(
    "SELECT idx, substr(entry, :t) FROM log_entry "
    "WHERE log_name = 'access' AND idx >= :a AND idx < :b"
)
_ENTRY = sa.text("SELECT entry FROM log_entry WHERE log_name = 'access' AND idx = :i")
_INDEX_ROWS = sa.text(
    "SELECT log_index, requester, subject_commitment, record_id, purpose, decision, reason, "
    "basis, grant_id, decided_at FROM access_decision "
    "WHERE log_index >= :a AND log_index < :b ORDER BY log_index, id"
)


def leaves(gw: Gateway, log: str, start: int, end: int) -> list[bytes]:
    """The leaf hashes ``[start, end)`` of ``log`` (public: they reveal no entry)."""
    name = gw._log_name(log)
    with session_scope(gw.engine, read_only=True) as s:
        db = DbLog(s, name)
        size = db.size() if db.exists() else 0
        if not 0 <= start < end <= size or end - start > MAX_ENTRIES_PER_READ:
            raise LogOutOfRange(
                f"need 0 <= start < end <= {size} and at most {MAX_ENTRIES_PER_READ} "
                "leaves per request"
            )
        rows = s.connection().execute(
            sa.text(
                "SELECT idx, hash FROM log_node WHERE log_name = :n AND level = 0 "
                "AND idx >= :a AND idx < :b ORDER BY idx"
            ),
            {"n": name, "a": start, "b": end},
        )
        out = [bytes(h) for _, h in rows]
    if len(out) != end - start:
        raise LogOutOfRange(f"the {name} log is missing leaves in [{start}, {end})")
    return out


def dumps_entries(log: str, start: int, entries: list[bytes | None]) -> bytes:
    """The JSON form of an entries answer (``null`` for an entry not served)."""
    return json.dumps(
        {
            "log": log,
            "start": start,
            "entries": [None if e is None else e.decode("utf-8") for e in entries],
        },
        separators=(",", ":"),
    ).encode()
