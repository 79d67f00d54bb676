"""The record columns that ``_bound.py`` does not bind, checked against what cannot be edited
unseen: the opened envelope (the record content), the envelope header, the gateway's receipt
signature, and the records log (hold leaves, status leaves).

Each finding names its check (``creditchain check``, :func:`check_columns`):

    record-hold       legal_hold is the hold of the record's last hold leaf (gateway/_holds.py)
    hold-leaf         a hold leaf's OfficeRequest signature is not a credit office's (it is
                      not counted)
    record-retention  retain_until is what the catalog rule gives for the opened record
                      (NULL allowed while the envelope is there: the retention worker fills it)
    record-dedup      dedup_key is the HMAC of the opened canonical record
    record-kek        kek_id is the KEK id in the envelope's header
    record-receipt    receipt is the gateway's signature over this record's leaf hash, log
                      index and received_at in the records log
    record-erased-at  erased_at is the received_at of the record's erasure status leaf (and
                      NULL while not erased)

``submission_id`` is a surrogate link to the nonce row that no decision reads (harmless).
The retention worker re-derives hold and retention from the log and the record before it
erases (:func:`retention_refusals`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from gateway._holds import HoldVerifier, fold_holds, logged_holds, office_verifier
from gateway._integrity import Finding
from gateway.domain.canonical import canonicalize, parse_json
from gateway.domain.catalog import Catalog
from gateway.domain.envelope import Envelope, Kek, open_
from gateway.domain.errors import DomainError
from gateway.domain.lifecycle import retain_until
from gateway.domain.records import parse_receipt, receipt_signer
from gateway.domain.signing import SigningDomain

if TYPE_CHECKING:
    from gateway._service import Gateway
    from node import MembershipClient

__all__ = [
    "RowKeys",
    "check_columns",
    "check_holds",
    "checked_duplicates",
    "checked_receipt",
    "dedup_secret",
    "gateway_signers",
    "retention_refusals",
    "row_keys",
]


@dataclass(frozen=True)
class RowKeys:
    """What checking these columns needs besides the keyring."""

    dedup_secret: bytes
    catalog: Catalog
    records_log_id: bytes
    gateway_org: bytes
    domain: SigningDomain
    signers: frozenset[str]
    """Lower-case addresses that may sign the receipts: the gateway org's signing keys, every
    epoch registered in Membership (a rotated key signed the older receipts)."""
    hold_verifier: HoldVerifier | None = None
    """Checks each hold leaf's office signature (:func:`gateway._holds.office_verifier`)."""


def dedup_secret(pepper: bytes) -> bytes:
    """The idempotency HMAC key (as gateway/_service.py derives it)."""
    return hmac.new(pepper, b"creditchain/dedup/v1", hashlib.sha256).digest()


def gateway_signers(membership: MembershipClient, gateway_org: bytes, local: str) -> frozenset[str]:
    """``local`` (the keystore's signer) and every signing key Membership registered for the
    gateway org."""
    signers = {local.lower()}
    for epoch in range(membership.org(gateway_org).key_count):
        signers.add(membership.key_epoch(gateway_org, epoch).signer.lower())
    return frozenset(signers)


def row_keys(gw: Gateway) -> RowKeys:
    return RowKeys(
        dedup_secret(gw.secrets.pepper),
        gw.catalog,
        gw.log_ids["records"],
        gw.gateway_org,
        gw.domain,
        gateway_signers(
            gw.deployment.membership(gw.chain), gw.gateway_org, gw.secrets.signer.address
        ),
        office_verifier(gw.domain, gw.deployment.membership(gw.chain)),
    )


def _receipt_problem(text: str, rid: str, log_index: int, received_at: int, keys: RowKeys) -> str:
    try:
        r = parse_receipt(json.loads(text))
        signer = receipt_signer(r, keys.domain)
    except (ValueError, TypeError, DomainError) as exc:
        return f"the receipt does not parse: {exc}"
    if (r.log_id, r.index, r.leaf_hash.hex(), r.received_at, r.gateway) != (
        keys.records_log_id,
        log_index,
        rid,
        received_at,
        keys.gateway_org,
    ):
        return "the receipt is not for this record's leaf (log, index, leaf hash, time or gateway)"
    if signer.lower() not in keys.signers:
        return f"the receipt is signed by {signer}, not by a signing key of the gateway org"
    return ""


def _erasure_times(conn: sa.Connection) -> dict[str, int]:
    """record id -> received_at of its erasure status leaf."""
    out: dict[str, int] = {}
    for rid, entry in conn.execute(
        sa.text(
            "SELECT sc.record_id, e.entry FROM status_change sc JOIN log_entry e "
            "ON e.log_name = 'records' AND e.idx = sc.log_index WHERE sc.to_status = 'erased'"
        )
    ):
        try:
            doc = json.loads(bytes(entry))
            if doc["kind"] == "status" and doc["event"]["record"] == rid:
                out[str(rid)] = int(doc["received_at"])
        except (ValueError, KeyError, TypeError):
            continue  # status-row / record-row speak for a wrong leaf
    return out


def check_columns(conn: sa.Connection, keyring: Mapping[str, Kek], keys: RowKeys) -> list[Finding]:
    """retain_until, dedup_key, kek_id, receipt and erased_at of every record row."""
    findings: list[Finding] = []
    erased_at = _erasure_times(conn)
    result = conn.execution_options(stream_results=True).execute(
        sa.text(
            "SELECT record_id, log_index, category, envelope, kek_id, dedup_key, receipt, "
            "retain_until, received_at, erased_at FROM record ORDER BY log_index"
        )
    )
    for rid, log_index, category, envelope, kek_id, dedup, receipt, until, received, gone in result:
        rid = str(rid)
        where = f"record {rid}"

        def found(check: str, detail: str, where: str = where) -> None:
            findings.append(Finding(check, where, detail))

        problem = _receipt_problem(str(receipt), rid, int(log_index), int(received), keys)
        if problem:
            found("record-receipt", problem)
        logged_gone = erased_at.get(rid)
        if (None if gone is None else int(gone)) != logged_gone:
            found(
                "record-erased-at",
                f"erased_at {gone}, the erasure status leaf says {logged_gone}",
            )
        if envelope is None:
            continue  # erased: nothing to open (retain_until, dedup_key, kek_id decide nothing)
        try:
            header = Envelope.from_bytes(bytes(envelope))
        except (ValueError, DomainError):
            continue  # `envelope` speaks for it
        if header.kek_id != kek_id:
            found("record-kek", f"kek_id {kek_id!r}, the envelope is under {header.kek_id!r}")
        try:
            opened: Any = parse_json(
                open_(
                    bytes(envelope),
                    aad_record_id=bytes.fromhex(rid),
                    category=str(category),
                    keyring=keyring,
                )
            )
            record = opened["record"]
            canonical = canonicalize(record)
            rule_until = retain_until(keys.catalog.category(str(category)), record["fields"])
        except (DomainError, ValueError, KeyError, TypeError):
            continue  # `envelope` / `record-commitment` speak for it
        want = hmac.new(keys.dedup_secret, canonical, hashlib.sha256).digest()
        if not hmac.compare_digest(bytes(dedup), want):
            found("record-dedup", "dedup_key is not the HMAC of the opened record")
        if until is not None and int(until) != rule_until:
            found("record-retention", f"retain_until {until}, the record's rule gives {rule_until}")
    return findings


def check_holds(conn: sa.Connection, verify: HoldVerifier | None = None) -> list[Finding]:
    """Every row's legal_hold against the fold of the records log's hold leaves; with
    ``verify`` a hold leaf whose office signature does not check is reported (``hold-leaf``)
    and does not count."""
    entries = (
        (int(i), bytes(e))
        for (i, e) in conn.execution_options(stream_results=True).execute(
            sa.text("SELECT idx, entry FROM log_entry WHERE log_name = 'records' ORDER BY idx")
        )
    )
    forged: list[tuple[int, str, str]] = []
    holds = fold_holds(entries, verify, forged)
    findings = [
        Finding("hold-leaf", f"records[{idx}]", f"hold leaf of record {rid}: {problem}")
        for idx, rid, problem in forged
    ]
    for rid, held in conn.execute(sa.text("SELECT record_id, legal_hold FROM record")):
        logged = holds.get(str(rid), False)
        if bool(held) != logged:
            findings.append(
                Finding(
                    "record-hold",
                    f"record {rid}",
                    f"legal_hold {bool(held)}, the records log's hold leaves say {logged}",
                )
            )
    return findings


def retention_refusals(gw: Gateway, record_ids: list[str]) -> dict[str, str]:
    """Of the records the rows call due for erasure, those the log or the record content say
    are not: record id -> why. Hold re-derived from the hold leaves, retention from the
    opened record."""
    from gateway.store import read_only

    if not record_ids:
        return {}
    out: dict[str, str] = {}
    now = int(gw.clock())
    table = sa.table(
        "record",
        sa.column("record_id"),
        sa.column("log_index"),
        sa.column("category"),
        sa.column("envelope"),
        sa.column("legal_hold"),
    )
    with read_only(gw.engine).connect() as conn:
        rows = conn.execute(
            sa.select(
                table.c.record_id,
                table.c.log_index,
                table.c.category,
                table.c.envelope,
                table.c.legal_hold,
            ).where(table.c.record_id.in_(record_ids))
        ).all()
        holds = logged_holds(
            conn,
            ((str(r[0]), int(r[1])) for r in rows),
            office_verifier(gw.domain, gw.deployment.membership(gw.chain)),
        )
    for rid, _, category, envelope, held in rows:
        rid = str(rid)
        if holds.get(rid, False) != bool(held):
            out[rid] = f"legal_hold {bool(held)}, the records log says {holds.get(rid, False)}"
            continue
        if holds.get(rid, False):
            out[rid] = "under legal hold by the records log"
            continue
        if envelope is None:
            continue  # erased already: nothing to keep
        try:
            opened: Any = parse_json(
                open_(
                    bytes(envelope),
                    aad_record_id=bytes.fromhex(rid),
                    category=str(category),
                    keyring=gw.secrets.keyring,
                )
            )
            until = retain_until(gw.catalog.category(str(category)), opened["record"]["fields"])
        except (DomainError, ValueError, KeyError, TypeError) as exc:
            out[rid] = f"its record does not open: {exc}"
            continue
        if until > now:
            out[rid] = f"the record's retention ends at {until}, the row says it has ended"
    return out


def checked_receipt(gw: Gateway, row: Any) -> dict[str, Any]:
    """``row.receipt`` once it checks out as the gateway's receipt for this record's leaf.

    Raises:
        RecordUnverified: it does not (an edited ``receipt`` column).
    """
    from gateway.errors import RecordUnverified

    args = (str(row.receipt), str(row.record_id), int(row.log_index), int(row.received_at))
    local = RowKeys(
        b"",
        gw.catalog,
        gw.log_ids["records"],
        gw.gateway_org,
        gw.domain,
        frozenset({gw.secrets.signer.address.lower()}),
    )
    problem = _receipt_problem(*args, local)  # the common case: no chain call
    if problem.startswith("the receipt is signed by"):  # by a key rotated since?
        problem = _receipt_problem(*args, row_keys(gw))
    if problem:
        raise RecordUnverified(
            f"record {row.record_id}: its stored receipt does not check out: {problem}",
            reason="record-unverified",
        )
    return dict(json.loads(row.receipt))


def checked_duplicates(gw: Gateway, rows: Iterable[Any], canonical: Mapping[bytes, bytes]) -> None:
    """A resubmission found ``rows`` by ``dedup_key``: each must hold the very record (its
    envelope opens to ``canonical[row.dedup_key]``) and a receipt that checks out, or the
    submission is refused rather than answered with another record's receipt.

    Raises:
        RecordUnverified: a row's dedup_key or receipt was edited.
    """
    from gateway.errors import RecordUnverified

    for row in rows:
        checked_receipt(gw, row)
        if row.envelope is None:
            continue  # erased: no content left to compare (the resubmission gets its receipt)
        try:
            opened: Any = parse_json(
                open_(
                    bytes(row.envelope),
                    aad_record_id=bytes.fromhex(str(row.record_id)),
                    category=str(row.category),
                    keyring=gw.secrets.keyring,
                )
            )
            same = canonicalize(opened["record"]) == canonical.get(bytes(row.dedup_key))
        except (DomainError, ValueError, KeyError, TypeError):
            same = False
        if not same:
            raise RecordUnverified(
                f"record {row.record_id}: its dedup_key does not match its record",
                reason="record-unverified",
            )
