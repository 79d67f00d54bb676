"""Objections, repair applications and repair rejections as leaves of the records log, and
their rows and sealed free texts checked against them (issue 9, wave 2; formats.md §10).

Each filing appends a leaf to the records log in the transaction that writes its row:

* ``objection`` — ``objection`` (the row id), ``record``, ``reason`` (the text's salted
  commitment), ``evidence_hash``, ``filed_at``, ``deadline``;
* ``repair`` — ``repair`` (the row id), ``record``, ``reason`` (commitment), ``filed_at``;
* ``repair-rejection`` — ``repair``, ``record``, ``org`` (the deciding office), ``reason``
  (commitment);

each with ``request`` (the signed request's ``signature``, ``nonce`` and ``signed_at``) and
``received_at``. No subject and no unsalted hash of a free text: the record id names the
subject (for those who may know it), the reason is a salted commitment.

What happens to a request afterwards is a fact of the log too: an objection is open until the
first status leaf of its record after it that resolves it (corrected, withdrawn, erased,
repaired, or objected -> active: rejected), a repair application pending until the first
status leaf that settles it (repaired: approved; erased, withdrawn, corrected: closed) or its
``repair-rejection`` leaf. :func:`check_requests` re-derives every ``objection`` and ``repair``
row from the leaves (findings ``objection-row``, ``repair-row``) and opens every ``free_text``
envelope, comparing its kek id and its text's commitment with the leaf naming that purpose
(``free-text``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import select

from gateway.domain.canonical import canonicalize
from gateway.domain.envelope import Envelope, Kek, open_
from gateway.domain.errors import DomainError, EnvelopeError
from gateway.domain.lifecycle import text_commitment
from gateway.domain.records import hex0x
from gateway.store import DbLog, FreeText, Objection, Record, Repair

if TYPE_CHECKING:
    from gateway._service import Gateway

__all__ = [
    "REQUEST_KINDS",
    "SignedRequest",
    "append_request",
    "check_requests",
    "repair_settled",
    "shown_objections",
]

log = logging.getLogger("creditchain.requests")

REQUEST_KINDS = ("objection", "repair", "repair-rejection")
_OBJECTION_RESOLUTIONS = {
    "corrected": "corrected",
    "withdrawn": "withdrawn",
    "erased": "erased",
    "repaired": "repaired",
}
_TABLES: dict[str, sa.Table] = {
    "objection": Objection.__table__,  # type: ignore[attr-defined]
    "repair": Repair.__table__,  # type: ignore[attr-defined]
}
_REPAIR_SETTLING = ("repaired", "erased", "withdrawn", "corrected")


@dataclass(frozen=True)
class SignedRequest:
    """The members of a subject's or an office's signed request that the leaf keeps."""

    signature: bytes
    nonce: bytes
    signed_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "signature": hex0x(self.signature),
            "nonce": hex0x(self.nonce),
            "signed_at": self.signed_at,
        }


def append_request(
    s: Any, kind: str, facts: dict[str, Any], request: SignedRequest, received_at: int
) -> int:
    """Append a ``kind`` leaf with ``facts`` to the records log in session ``s``; its index."""
    assert kind in REQUEST_KINDS
    entry = {
        "v": 1,
        "kind": kind,
        **facts,
        "request": request.to_json(),
        "received_at": received_at,
    }
    (index,) = DbLog(s, "records").append([canonicalize(entry)])
    return index


# ---------------------------------------------------------------------------------------
# the check


@dataclass
class _Logged:
    """What the records log says about one record's requests and texts."""

    objections: dict[int, dict[str, Any]] = field(default_factory=dict)
    repairs: dict[int, dict[str, Any]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # purpose -> commitment
    erased: bool = False


@dataclass(frozen=True)
class RequestFinding:
    check: str
    where: str
    detail: str


def _rows(conn: sa.Connection, sql: str) -> Iterator[Any]:
    yield from conn.execution_options(stream_results=True).execute(sa.text(sql))


def _read_log(conn: sa.Connection) -> tuple[dict[str, _Logged], list[RequestFinding]]:
    """Walk the records log once, deriving each record's objections, repairs and the text
    commitments each purpose must have."""
    by_record: dict[str, _Logged] = {}
    findings: list[RequestFinding] = []
    seen: dict[tuple[str, int], int] = {}
    for idx, raw in _rows(
        conn, "SELECT idx, entry FROM log_entry WHERE log_name = 'records' ORDER BY idx"
    ):
        try:
            doc = json.loads(bytes(raw))
            kind = doc.get("kind")
        except (ValueError, AttributeError):
            continue  # entry-hash / anchored-root speak for the log itself
        where = f"records[{idx}]"
        try:
            if kind == "status":
                _on_status(by_record, doc)
            elif kind in REQUEST_KINDS:
                key = (str(kind), int(doc["objection" if kind == "objection" else "repair"]))
                if key in seen and kind != "repair-rejection":
                    findings.append(
                        RequestFinding(
                            f"{kind}-row", where, f"a second {kind} leaf for id {key[1]}"
                        )
                    )
                seen[key] = int(idx)
                _on_request(by_record, doc, int(idx))
        except (KeyError, TypeError, ValueError):
            findings.append(
                RequestFinding("request-leaf", where, f"a {kind} leaf that is malformed")
            )
    return by_record, findings


def _on_status(by_record: dict[str, _Logged], doc: dict[str, Any]) -> None:
    event, at = doc["event"], int(doc["received_at"])
    logged = by_record.setdefault(str(event["record"]), _Logged())
    to, frm = event["to"], event["from"]
    if to == "erased":
        logged.erased = True
    else:
        logged.texts[f"status:{event['version']}:reason"] = event["reason"]
        if event.get("note") is not None:
            logged.texts[f"status:{event['version']}:note"] = event["note"]
    resolution = _OBJECTION_RESOLUTIONS.get(to)
    if frm == "objected" and to == "active":
        resolution = "rejected"
    if resolution is not None and to != "objected":
        for o in logged.objections.values():
            if o["state"] == "open":
                o.update(state=resolution, resolved_at=at, resolution=event["reason"])
    if to in _REPAIR_SETTLING:
        for r in logged.repairs.values():
            if r["state"] == "pending":
                r.update(
                    state="approved" if to == "repaired" else "closed",
                    decided_at=at,
                    decided_by=event["actor"],
                    decision_reason=event["reason"],
                )


def _on_request(by_record: dict[str, _Logged], doc: dict[str, Any], idx: int) -> None:
    kind, rid, at = doc["kind"], str(doc["record"]), int(doc["received_at"])
    logged = by_record.setdefault(rid, _Logged())
    if kind == "objection":
        oid = int(doc["objection"])
        logged.objections[oid] = {
            "record_id": rid,
            "reason": doc["reason"],
            "evidence_hash": doc["evidence_hash"],
            "filed_at": int(doc["filed_at"]),
            "deadline": int(doc["deadline"]),
            "state": "open",
            "resolved_at": None,
            "resolution": None,
            "_idx": idx,
        }
        logged.texts[f"objection:{oid}"] = doc["reason"]
    elif kind == "repair":
        rep = int(doc["repair"])
        logged.repairs[rep] = {
            "record_id": rid,
            "reason": doc["reason"],
            "filed_at": int(doc["filed_at"]),
            "state": "pending",
            "decided_at": None,
            "decided_by": None,
            "decision_reason": None,
            "_idx": idx,
        }
        logged.texts[f"repair:{rep}"] = doc["reason"]
    else:  # repair-rejection
        rep = int(doc["repair"])
        r = logged.repairs.get(rep)
        if r is None or r["state"] != "pending":
            raise ValueError("a rejection of no pending repair application")
        r.update(
            state="rejected", decided_at=at, decided_by=doc["org"], decision_reason=doc["reason"]
        )
        logged.texts[f"repair-decision:{rep}"] = doc["reason"]


def _compare(
    table: str,
    row: Any,
    expected: dict[str, Any] | None,
    record_subject: str | None,
) -> list[str]:
    if expected is None:
        return [f"no {table} leaf of record {row['record_id']} names id {row['id']}"]
    problems = [
        f"{name} {row[name]!r}, the log says {value!r}"
        for name, value in expected.items()
        if not name.startswith("_") and row[name] != value
    ]
    if record_subject is None or row["subject_commitment"] != record_subject:
        problems.append("subject_commitment is not its record's subject")
    return problems


def check_requests(conn: sa.Connection, keyring: Mapping[str, Kek]) -> list[RequestFinding]:
    """Every ``objection``, ``repair`` and ``free_text`` row against the records log's leaves
    (and each objection's and repair's subject against its record row, itself checked by
    ``record-row``); every request leaf against its row."""
    by_record, findings = _read_log(conn)
    subjects = {
        str(rid): str(subject)
        for rid, subject in conn.execute(
            sa.text("SELECT record_id, subject_commitment FROM record")
        )
    }
    for table, key, check in (
        ("objection", "objections", "objection-row"),
        ("repair", "repairs", "repair-row"),
    ):
        seen: set[tuple[str, int]] = set()
        rows = conn.execute(sa.select(_TABLES[table]).order_by(_TABLES[table].c.id)).mappings()
        for row in rows:
            rid, rid_id = str(row["record_id"]), int(row["id"])
            logged = by_record.get(rid)
            expected = None if logged is None else getattr(logged, key).get(rid_id)
            seen.add((rid, rid_id))
            for problem in _compare(table, row, expected, subjects.get(rid)):
                findings.append(RequestFinding(check, f"{table} {rid_id}", problem))
        for rid, logged in by_record.items():
            for rid_id, expected in getattr(logged, key).items():
                if (rid, rid_id) not in seen:
                    findings.append(
                        RequestFinding(
                            check,
                            f"records[{expected['_idx']}]",
                            f"no {table} row {rid_id} of record {rid} for this leaf",
                        )
                    )
    findings += _check_texts(conn, keyring, by_record)
    return findings


def _check_texts(
    conn: sa.Connection, keyring: Mapping[str, Kek], by_record: dict[str, _Logged]
) -> list[RequestFinding]:
    findings: list[RequestFinding] = []
    present: set[tuple[str, str]] = set()
    for tid, rid, purpose, kek_id, envelope in _rows(
        conn, "SELECT id, record_id, purpose, kek_id, envelope FROM free_text ORDER BY id"
    ):
        where = f"free_text {tid}"
        rid, purpose = str(rid), str(purpose)
        present.add((rid, purpose))
        logged = by_record.get(rid)
        expected = None if logged is None else logged.texts.get(purpose)
        if expected is None or (logged is not None and logged.erased):
            findings.append(
                RequestFinding("free-text", where, f"no leaf of record {rid} names {purpose!r}")
            )
            continue
        try:
            if Envelope.from_bytes(bytes(envelope)).kek_id != kek_id:
                findings.append(RequestFinding("free-text", where, "kek_id is not the envelope's"))
            plain = open_(
                bytes(envelope),
                aad_record_id=bytes.fromhex(rid),
                category=f"free-text/{purpose}",
                keyring=keyring,
            )
            doc = json.loads(plain)
            ok = text_commitment(bytes.fromhex(doc["salt"]), doc["text"]) == expected
        except (EnvelopeError, DomainError, ValueError, KeyError, TypeError):
            findings.append(
                RequestFinding("free-text", where, "the envelope does not open for its record")
            )
            continue
        if not ok:
            findings.append(
                RequestFinding(
                    "free-text", where, f"the text is not the one {purpose!r} commits to"
                )
            )
    for rid, logged in by_record.items():
        if logged.erased:
            continue
        for purpose in logged.texts:
            if (rid, purpose) not in present:
                findings.append(
                    RequestFinding(
                        "free-text", f"record {rid}", f"the sealed text {purpose!r} is missing"
                    )
                )
    return findings


# ---------------------------------------------------------------------------------------
# the views


def shown_objections(
    gw: Gateway, s: Any, rows: Sequence[Objection]
) -> list[tuple[Objection, str | None]]:
    """Those of ``rows`` a view may show, each with its opened reason.

    A row is shown when its sealed reason (the envelope the gateway sealed for its record id
    and ``objection:<id>``; an insider cannot make one) opens to the commitment in the row, and
    its subject is its record's subject; a record erased since has no text (reason None). The
    rest of the row is checked by ``creditchain check`` (``objection-row``); a row dropped
    here is logged."""
    shown: list[tuple[Objection, str | None]] = []
    for o in rows:
        record = s.get(Record, o.record_id)
        text = _opened(gw, s, o.record_id, f"objection:{o.id}")
        ok = record is not None and record.subject_commitment == o.subject_commitment
        if text is None:
            ok = ok and record is not None and record.envelope is None
        else:
            ok = ok and text_commitment(text[1], text[0]) == o.reason
        if ok:
            shown.append((o, None if text is None else text[0]))
        else:
            log.warning("objection %s: its row does not match its sealed reason or record", o.id)
    return shown


def _opened(gw: Gateway, s: Any, record_id: str, purpose: str) -> tuple[str, bytes] | None:
    row = s.exec(
        select(FreeText).where(FreeText.record_id == record_id, FreeText.purpose == purpose)
    ).first()
    if row is None:
        return None
    try:
        doc = json.loads(
            open_(
                row.envelope,
                aad_record_id=bytes.fromhex(record_id),
                category=f"free-text/{purpose}",
                keyring=gw.secrets.keyring,
            )
        )
        return str(doc["text"]), bytes.fromhex(doc["salt"])
    except (EnvelopeError, ValueError, KeyError, TypeError):
        return None


def repair_settled(gw: Gateway, s: Any, repair: Repair) -> bool:
    """Whether ``repair``, pending by its row, is settled by what cannot be edited unseen: its
    record's status as its leaves say is past repair (a repaired, corrected, withdrawn or
    erased record settled every application), or an office's decision text is sealed for it
    (a rejection: the envelope opens only for its record id and ``repair-decision:<id>``)."""
    from gateway._bound import load_bound

    if load_bound(gw, repair.record_id).status not in ("active", "objected"):
        return True
    return _opened(gw, s, repair.record_id, f"repair-decision:{repair.id}") is not None
