"""Consent-gated reads and the access log (DESIGN §2 guarantees 2, 4, 5; §5 flows 3, 5).

A read is a signed ``ReadRequest`` (docs/formats.md §9). The gateway finds the candidate
records, reads the named grant from the chain *at the latest confirmed block*, decides each
record with :func:`gateway.domain.policy.decide`, appends one entry to the **access log** —
holding the requester's own signature, so the gateway cannot invent accesses — and commits it
durably, and only then answers: the released fields only, with a signed access receipt; or a
denial naming its reason, with its receipt. Every decision, allowed or denied, is logged.
"""

from __future__ import annotations

import datetime
import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from gateway._access_index import TAG_SALT_BYTES, subject_tag, tag_key, verified_decisions
from gateway._bound import (
    FACT_COLUMNS,
    REASON,
    candidates_by_id,
    candidates_by_subject,
    chain_statuses,
    check_candidates,
    check_rows,
)
from gateway._freetext import subject_objections
from gateway._group_commit import GroupCommitter, PendingAccess
from gateway._refusals import audit_refusal, log_read_refusal, log_refusal, refusal_logger
from gateway._service import Gateway, parse_body
from gateway._subjects import SubjectAuthority, claim_nonce, subject_digest
from gateway.domain.canonical import canonicalize, parse_json
from gateway.domain.envelope import open_
from gateway.domain.errors import InvalidIdentifier
from gateway.domain.identifiers import SubjectId, parse_canonical_subject_id, subject_commitment
from gateway.domain.lifecycle import JURISDICTION
from gateway.domain.policy import (
    Clocks,
    Decision,
    GrantView,
    ReadQuery,
    RecordView,
    decide,
    purpose_id,
    request_basis,
)
from gateway.domain.records import hex0x, parse_hex
from gateway.domain.signing import fast_recover_typed
from gateway.errors import (
    CrossCityRefused,
    Forbidden,
    MalformedRequest,
    OrgSuspended,
    ReplayedRequest,
)
from gateway.store import AccessDecision, DbLog, Record, read_only, session_scope
from node import ContractRevert, GrantsClient

if TYPE_CHECKING:
    from gateway._federation import RemoteRead

"""Disclosure periods are counted in dates of the gateway's jurisdiction (UTC+8, no DST)."""

_READ_MEMBERS = {
    "requester",
    "subject",
    "subject_salt",
    "record_id",
    "purpose",
    "categories",
    "grant_id",
    "signed_at",
    "nonce",
    "signature",
}


_RECORD: sa.Table = Record.__table__  # type: ignore[attr-defined]
_CANDIDATE = sa.select(*FACT_COLUMNS, _RECORD.c.envelope)  # every column decisions read


class AccessDenied(Forbidden):
    """The requester has no basis to read any requested category; ``reason`` is the first
    category's refusal, decided without looking at records (the same answer whether or not,
    and however many, records exist)."""

    code = "access-denied"


def _subject(raw: object, pointer: str) -> SubjectId:
    """A request's ``{"kind", "id"}`` subject: a known kind and a string id (never inferred
    from a missing kind nor stringified from a number)."""
    if not isinstance(raw, dict) or set(raw) != {"kind", "id"}:
        raise MalformedRequest('subject is {"kind", "id"}', pointer=pointer)
    kind, value = raw["kind"], raw["id"]
    if kind not in ("uscc", "resident_id"):
        raise InvalidIdentifier(f"unknown subject kind {kind!r}", check="kind")
    if not isinstance(value, str):
        raise MalformedRequest("the subject id is a string", pointer=pointer + "/id")
    return parse_canonical_subject_id(value, kind=kind)  # refused unless normalised already


def _strict(body: bytes) -> dict[str, Any]:
    doc = parse_body(body)
    if not isinstance(doc, dict):
        raise MalformedRequest("a read request is a JSON object")
    return doc


class Reader:
    """The read side of one gateway."""

    def __init__(
        self,
        gateway: Gateway,
        grants: GrantsClient,
        confirmations: int,
        *,
        block_cache_seconds: float = 0.5,
    ) -> None:
        self.gw = gateway
        self.grants = grants
        self.subjects = SubjectAuthority(gateway, grants)
        self.confirmations = confirmations
        self.block_cache_seconds = block_cache_seconds
        self._block: tuple[float, int, int] | None = None
        self._grants: dict[tuple[bytes, int], GrantView | None] = {}
        self._lock = threading.Lock()
        self._block_refresh = threading.Lock()
        self.committer = GroupCommitter(gateway.engine)
        gateway.refusals = refusal_logger(gateway, self.committer)  # the proof path's refusals
        self.tag_key = tag_key(gateway.secrets.pepper)

    def confirmed_block(self) -> tuple[int, int]:
        """(number, timestamp) of the latest confirmed block, asked of the chain at most every
        ``block_cache_seconds`` (by one caller; the others wait for its answer): a revocation
        takes effect within that of its confirmation."""
        cached = self._cached_block()
        if cached is not None:
            return cached
        with self._block_refresh:
            cached = self._cached_block()
            if cached is not None:
                return cached
            asked_at = time.monotonic()
            block = max(0, self.gw.chain.head() - self.confirmations)
            ts = int(self.gw.chain.w3.eth.get_block(block)["timestamp"])
            with self._lock:
                self._block = (asked_at, block, ts)
            return block, ts

    def _cached_block(self) -> tuple[int, int] | None:
        with self._lock:
            cached = self._block
        if cached is not None and time.monotonic() - cached[0] < self.block_cache_seconds:
            return cached[1], cached[2]
        return None

    def grant_at(self, grant_id: bytes, block: int) -> GrantView | None:
        """The grant as of ``block`` (immutable once mined: memoised per block)."""
        key = (grant_id, block)
        with self._lock:
            if key in self._grants:
                return self._grants[key]
        view = self._grant(grant_id, block)
        with self._lock:
            if len(self._grants) > 10_000:
                self._grants.clear()
            self._grants[key] = view
        return view

    # -- the request ------------------------------------------------------------------------

    def read(self, body: bytes, *, remote: RemoteRead | None = None) -> dict[str, Any]:
        """Decide and log a read; the released answer, or AccessDenied (logged too).
        ``remote``: a cross-city read forwarded by a partner gateway (gateway/_federation.py
        adds its signed type's members, its checks and the entry's ``cross_city``)."""
        gw = self.gw
        doc = _strict(body)
        members = _READ_MEMBERS | remote.members if remote is not None else _READ_MEMBERS
        missing, extra = members - set(doc), set(doc) - members
        if missing or extra:
            raise MalformedRequest(
                f"read request members: missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        requester = parse_hex(doc["requester"], size=32, prefixed=True, pointer="/requester")
        nonce = parse_hex(doc["nonce"], size=32, prefixed=True, pointer="/nonce")
        signature = parse_hex(doc["signature"], size=65, prefixed=True, pointer="/signature")
        signed_at = doc["signed_at"]
        if type(signed_at) is not int or signed_at < 0:
            raise MalformedRequest("signed_at must be a non-negative integer", pointer="/signed_at")
        purpose = gw.catalog.purpose(str(doc["purpose"]))
        cats = doc["categories"]
        if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
            raise MalformedRequest(
                "categories must be a non-empty array of category codes", pointer="/categories"
            )
        mask = gw.catalog.category_mask(cats)
        grant_id = (
            None
            if doc["grant_id"] is None
            else parse_hex(doc["grant_id"], size=32, prefixed=True, pointer="/grant_id")
        )
        record_id = (
            None
            if doc["record_id"] is None
            else parse_hex(doc["record_id"], size=32, prefixed=False, pointer="/record_id")
        )
        subject: SubjectId | None = None
        digest = b"\x00" * 32
        if doc["subject"] is not None:
            subject = _subject(doc["subject"], "/subject")
            salt = parse_hex(doc["subject_salt"], size=32, prefixed=False, pointer="/subject_salt")
            digest = subject_digest(salt, subject)
        elif doc["subject_salt"] is not None:
            raise MalformedRequest("subject_salt without subject", pointer="/subject_salt")
        if (subject is None) == (record_id is None):
            raise MalformedRequest("name exactly one of subject and record_id")
        now = gw._check_window(signed_at)
        message = {
            "requester": requester,
            "subjectDigest": digest,
            "recordId": record_id or b"\x00" * 32,
            "purpose": purpose_id(purpose.code),
            "categories": mask,
            "grantId": grant_id or b"\x00" * 32,
            "signedAt": signed_at,
            "nonce": nonce,
        }
        sig_type = "ReadRequest" if remote is None else remote.sig_type
        if remote is not None:
            message.update(remote.message(doc))
        signer = fast_recover_typed(gw.domain, sig_type, message, signature)
        try:
            requester_org = gw._check_signer(requester, signer, signed_at)
            if remote is not None:
                remote.check(requester, message)
        except (OrgSuspended, CrossCityRefused) as exc:  # signature checked out: logged
            log_read_refusal(
                self.gw,
                self.committer,
                doc,
                exc,
                message,
                signature,
                subject,
                sig_type=sig_type,
                extra=remote.entry if remote is not None else None,
            )
            raise

        # the chain's record statuses first, then the rows (gateway/_bound.py says why)
        bound_block = chain_statuses(gw).advance(self.confirmed_block()[0])
        # candidates and their leaf entries, one prepared statement (this is the hot path)
        with read_only(gw.engine).connect() as conn:
            if record_id is not None:
                rows = candidates_by_id(conn, record_id.hex())
                # an unknown record id is decided (and logged) like a known one it may not see
                commitment = bytes.fromhex(rows[0].subject_commitment) if rows else bytes(32)
            else:
                assert subject is not None
                commitment = subject_commitment(gw.secrets.pepper, subject)
                rows = candidates_by_subject(conn, commitment.hex(), cats)
            rows = [r for r in rows if r.category in cats]
            unbound = check_candidates(gw, conn, rows, block=bound_block)  # edits decide nothing

        # the chain, at the latest confirmed block
        block, block_ts = self.confirmed_block()
        grant = self.grant_at(grant_id, block) if grant_id is not None else None
        today = datetime.datetime.fromtimestamp(now, JURISDICTION).date()
        query = ReadQuery(requester, purpose.code, frozenset(cats), requester_org.kind)
        decisions: list[tuple[Any, Decision, dict[str, Any]]] = []
        for row in rows:
            if row.record_id in unbound:
                decisions.append((row, Decision(row.record_id, False, REASON), {}))
                continue
            fields, record_json = self._open(row)
            view = RecordView(
                row.record_id,
                row.category,
                bytes.fromhex(row.subject_commitment),
                row.status,
                fields,
            )
            decisions.append(
                (
                    row,
                    decide(
                        query,
                        view,
                        grant,
                        catalog=gw.catalog,
                        now=block_ts,
                        today=today,
                        gateway_now=now,
                    ),
                    record_json,
                )
            )
        # the answer rests on the request's basis alone, never on which records exist
        basis = request_basis(
            query,
            grant,
            catalog=gw.catalog,
            subject=commitment if subject is not None else None,
            clocks=Clocks(block=block_ts, gateway=now),
        )
        refusals = [failure for failure in basis.values() if failure is not None]
        overall = "deny" if len(refusals) == len(basis) else "allow"
        first_reason = refusals[0][0] if overall == "deny" else "allowed"
        allowed = [d for d in decisions if d[1].allowed] if overall == "allow" else []

        tag_salt = gw.rng(TAG_SALT_BYTES)  # no value shared by two entries of a subject
        entry = {
            "v": 2,
            "kind": "access",
            "requester": hex0x(requester),
            "subject_salt": tag_salt.hex(),
            "subject_tag": subject_tag(self.tag_key, tag_salt, commitment).hex(),
            "subject_digest": digest.hex() if subject is not None else None,
            "record": record_id.hex() if record_id else None,
            "purpose": purpose.code,
            "categories": sorted(cats),
            "grant": hex0x(grant_id) if grant_id else None,
            "decision": overall,
            "reason": first_reason,
            "decisions": [
                {
                    "record": d.record_id,
                    "allowed": d.allowed,
                    "reason": d.reason,
                    "basis": d.basis,
                    "grant": hex0x(d.grant_id) if d.grant_id else None,
                    "fields": sorted(d.released),
                    **({"clock": d.clock} if d.clock else {}),
                }
                for _, d, _ in decisions
            ],
            "sig": {
                "scheme": "eip712-v1",
                "type": sig_type,
                "signed_at": signed_at,
                "nonce": hex0x(nonce),
                "value": hex0x(signature),
            },
            "block": block,
            "decided_at": now,
            "clock": {"gateway": now, "block": block_ts},
            "policy": gw.catalog.policy_revision,
            **(remote.entry if remote is not None else {}),
        }
        entry_bytes = canonicalize(entry)
        leaf = hashlib.sha256(b"\x00" + entry_bytes).digest()
        rows_out = [
            {
                "requester": hex0x(requester),
                "subject_commitment": commitment.hex(),
                "record_id": d.record_id,
                "purpose": purpose.code,
                "decision": "allow" if d.allowed else "deny",
                "reason": d.reason,
                "basis": d.basis,
                "grant_id": hex0x(d.grant_id) if d.grant_id else None,
                "decided_at": now,
            }
            for _, d, _ in decisions
        ] or [
            {
                "requester": hex0x(requester),
                "subject_commitment": commitment.hex(),
                "record_id": record_id.hex() if record_id else None,
                "purpose": purpose.code,
                "decision": overall,
                "reason": "no-records" if overall == "allow" else first_reason,
                "basis": None,
                "grant_id": hex0x(grant_id) if grant_id else None,
                "decided_at": now,
            }
        ]
        pending = self.committer.commit(
            PendingAccess(
                org_id=hex0x(requester),
                nonce=hex0x(nonce),
                request_digest=hashlib.sha256(canonicalize(doc)).digest(),
                received_at=now,
                entry=entry_bytes,
                decisions=rows_out,
            )
        )
        if pending.replayed or pending.index is None:
            raise ReplayedRequest(f"nonce {hex0x(nonce)} of org {hex0x(requester)} was used before")
        index = pending.index
        # durable: only now does anything leave
        receipt = gw.sign_receipt("access", index, leaf, now)
        if overall == "deny":
            raise AccessDenied(
                f"no basis to read: {first_reason}",
                reason=first_reason,
                access_receipt=receipt,
            )
        return {
            "decision": "allow",
            "records": [
                {
                    "record_id": row.record_id,
                    "category": row.category,
                    "status": row.status,
                    "objected": row.status == "objected",
                    "basis": d.basis,
                    "fields": dict(d.released),
                }
                for row, d, _ in allowed
            ],
            "access_receipt": receipt,
        }

    def _grant(self, grant_id: bytes, block: int) -> GrantView | None:
        try:
            g = self.grants.grant(grant_id, block=block)
        except ContractRevert as exc:
            if exc.name == "UnknownGrant":
                return None
            raise
        return GrantView(
            grant_id=grant_id,
            subject=g.subject,
            grantee=g.grantee,
            purpose=g.purpose,
            categories=g.categories,
            valid_from=g.valid_from,
            valid_until=g.valid_until,
            basis="statutory" if int(g.basis) == 2 else "consent",
            revoked_at=g.revoked_at,
        )

    def _open(self, row: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        if row.envelope is None:
            return {}, {}
        plain = open_(
            row.envelope,
            aad_record_id=bytes.fromhex(row.record_id),
            category=row.category,
            keyring=self.gw.secrets.keyring,
        )
        opened = parse_json(plain)
        assert isinstance(opened, dict)
        record = opened["record"]
        return dict(record["fields"]), dict(record)

    # -- traces -----------------------------------------------------------------------------

    def trace(
        self,
        *,
        subject: bytes | None = None,
        requester: str | None = None,
        record: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        """Access decisions matching the filters, each with its access-log entry index."""
        stmt = select(AccessDecision)
        if subject is not None:
            stmt = stmt.where(AccessDecision.subject_commitment == subject.hex())
        if requester is not None:
            stmt = stmt.where(AccessDecision.requester == requester.lower())
        if record is not None:
            stmt = stmt.where(AccessDecision.record_id == record.lower().removeprefix("0x"))
        if since is not None:
            stmt = stmt.where(AccessDecision.decided_at >= since)
        if until is not None:
            stmt = stmt.where(AccessDecision.decided_at < until)
        stmt = stmt.order_by(col(AccessDecision.log_index), col(AccessDecision.id)).limit(limit)
        with session_scope(self.gw.engine, read_only=True) as s:
            rows = s.exec(stmt).all()
        return [
            {
                "log_index": r.log_index,
                "requester": r.requester,
                "subject": r.subject_commitment,
                "record_id": r.record_id,
                "purpose": r.purpose,
                "decision": r.decision,
                "reason": r.reason,
                "basis": r.basis,
                "grant_id": r.grant_id,
                "decided_at": r.decided_at,
            }
            for r in rows
        ]

    def with_proofs(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Attach to each decision its access-log entry and inclusion proof under the latest
        anchored checkpoint (or mark it pending)."""
        from gateway._anchor_view import served_anchor

        anchored = served_anchor(self.gw, "access")
        size = anchored.size if anchored else 0
        with session_scope(self.gw.engine, read_only=True) as s:
            log = DbLog(s, "access")
            items = verified_decisions(log, self.tag_key, items) if log.exists() else []
            for item in items:
                i = item["log_index"]
                if i < size:
                    item["inclusion"] = [p.hex() for p in log.inclusion_proof(i, size)]
                else:
                    item["inclusion"] = None
        return {
            "checkpoint": None
            if anchored is None
            else {
                "size": anchored.size,
                "root": anchored.root.hex(),
                "block": anchored.block_number,
                "tx": anchored.tx_hash,
            },
            "log_id": hex0x(self.gw.log_ids["access"]),
            "decisions": items,
        }

    def subject_view(self, body: bytes) -> dict[str, Any]:
        """A subject's own trace: every decision about it, with proofs. Authenticated by the
        subject's key bound in Grants (``SubjectQuery``)."""
        return self.with_proofs(self.trace(subject=self._subject_query(body, "accesses")))

    def subject_file(self, body: bytes) -> dict[str, Any]:
        """A subject's own file: every record about it, whatever its status (a repaired or
        superseded record stays visible to its subject), with the fields; erased records are
        listed without content. Authenticated like :meth:`subject_view`."""
        commitment = self._subject_query(body, "records")
        bound_block = chain_statuses(self.gw).advance(self.confirmed_block()[0])
        with read_only(self.gw.engine).connect() as conn:
            rows = conn.execute(
                _CANDIDATE.where(_RECORD.c.subject_commitment == commitment.hex()).order_by(
                    _RECORD.c.log_index
                )
            ).all()
            unbound = check_rows(self.gw, conn, rows, block=bound_block)
        records = []
        for row in rows:
            if row.record_id in unbound:
                continue  # an edited row: maybe another subject's record (logged in check_rows)
            fields, _ = self._open(row)
            records.append(
                {
                    "record_id": row.record_id,
                    "category": row.category,
                    "org": row.org_id,
                    "status": row.status,
                    "successor": row.successor,
                    "received_at": row.received_at,
                    "fields": fields if row.envelope is not None else None,
                }
            )
        return {"records": records, "objections": subject_objections(self.gw, commitment.hex())}

    def _subject_query(self, body: bytes, action: str) -> bytes:
        """Check a subject's signed ``SubjectQuery`` for ``action`` (the route: ``accesses``
        or ``records``) by its bound key or a credit-office session (:mod:`gateway._subjects`)
        and claim its nonce; the subject's commitment."""
        gw = self.gw
        doc = _strict(body)
        required = {"subject", "subject_salt", "signed_at", "nonce", "signature"}
        if not required <= set(doc) <= required | {"session"}:
            raise MalformedRequest(
                'a subject query is {"subject", "subject_salt", "signed_at", "nonce", '
                '"signature"} and an optional "session"'
            )
        subject = _subject(doc["subject"], "/subject")
        salt = parse_hex(doc["subject_salt"], size=32, prefixed=False, pointer="/subject_salt")
        nonce = parse_hex(doc["nonce"], size=32, prefixed=True, pointer="/nonce")
        signature = parse_hex(doc["signature"], size=65, prefixed=True, pointer="/signature")
        signed_at = doc["signed_at"]
        if type(signed_at) is not int or signed_at < 0:
            raise MalformedRequest("signed_at must be a non-negative integer")
        now = gw._check_window(signed_at)
        signer = fast_recover_typed(
            gw.domain,
            "SubjectQuery",
            {
                "subjectDigest": subject_digest(salt, subject),
                "action": action,
                "signedAt": signed_at,
                "nonce": nonce,
            },
            signature,
        )
        commitment = self.subjects.check(subject, signer, doc.get("session"))
        self.subjects.claim(commitment, nonce, body, now)
        return commitment

    def audit_trace(self, body: bytes) -> dict[str, Any]:
        """An auditor's trace (``AuditQuery`` signed by an auditor org's current key)."""
        gw = self.gw
        doc = _strict(body)
        if set(doc) != {"auditor", "query", "signed_at", "nonce", "signature"}:
            raise MalformedRequest(
                'an audit query is {"auditor", "query", "signed_at", "nonce", "signature"}'
            )
        auditor = parse_hex(doc["auditor"], size=32, prefixed=True, pointer="/auditor")
        nonce = parse_hex(doc["nonce"], size=32, prefixed=True, pointer="/nonce")
        signature = parse_hex(doc["signature"], size=65, prefixed=True, pointer="/signature")
        signed_at = doc["signed_at"]
        query = doc["query"]
        if type(signed_at) is not int or not isinstance(query, dict):
            raise MalformedRequest("signed_at is an integer and query an object")
        allowed_filters = {"subject", "requester", "record", "since", "until"}
        if set(query) - allowed_filters:
            raise MalformedRequest(f"query filters are {sorted(allowed_filters)}", pointer="/query")
        filters = _audit_filters(query)
        now = gw._check_window(signed_at)
        signer = fast_recover_typed(
            gw.domain,
            "AuditQuery",
            {
                "auditor": auditor,
                "queryHash": hashlib.sha256(canonicalize(query)).digest(),
                "signedAt": signed_at,
                "nonce": nonce,
            },
            signature,
        )
        try:
            org = gw._check_signer(auditor, signer, signed_at)
            if org.kind not in ("auditor", "credit_office"):
                raise Forbidden(f"a {org.kind} is not an auditor", reason="not-an-auditor")
        except (OrgSuspended, Forbidden) as exc:  # the signature checked out: logged
            log_refusal(gw, self.committer, audit_refusal(doc, exc, auditor, signature), exc)
            raise
        claim_nonce(gw, hex0x(auditor), nonce, body, now)
        subject = filters.pop("subject", None)
        return self.with_proofs(
            self.trace(
                subject=None if subject is None else subject_commitment(gw.secrets.pepper, subject),
                **filters,
            )
        )


def _audit_filters(query: dict[str, Any]) -> dict[str, Any]:
    """An audit query's filters, each in its one accepted form (docs/formats.md): ``subject``
    ``{"kind", "id"}``, ``requester`` a 0x-hex org id, ``record`` a hex record id, ``since`` and
    ``until`` non-negative Unix times."""
    filters: dict[str, Any] = {}
    if "subject" in query:
        filters["subject"] = _subject(query["subject"], "/query/subject")
    if "requester" in query:
        raw = parse_hex(query["requester"], size=32, prefixed=True, pointer="/query/requester")
        filters["requester"] = hex0x(raw)
    if "record" in query:
        filters["record"] = parse_hex(
            query["record"], size=32, prefixed=False, pointer="/query/record"
        ).hex()
    for key in ("since", "until"):
        if key in query:
            value = query[key]
            if type(value) is not int or value < 0:
                raise MalformedRequest(f"{key} is a Unix time", pointer=f"/query/{key}")
            filters[key] = value
    return filters
