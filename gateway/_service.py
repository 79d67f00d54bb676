"""The gateway's use cases, independent of HTTP: submit records, serve proofs and log views.

Flow of a submission (DESIGN §5.1, docs/formats.md §4): strict JSON → shape, catalog, schema and
identifier checks → replay window → (org, nonce) replay / idempotency → EIP-712 signature
recovers to the org's *current* key, which must also be the key in force at ``signed_at`` →
org active and of a kind allowed for every category → one database transaction: the
submission row, the log leaves, the envelopes, the receipts. Nothing is half-written: any
failure before the commit leaves no trace, and the commit is durable (SQLite
``synchronous=FULL``) before a receipt leaves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from binascii import hexlify
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from gateway._anchor_view import served_anchor
from gateway._bound import chain_statuses, load_bound
from gateway._columns import checked_duplicates, checked_receipt, row_keys
from gateway._ingest import RECORD_COLUMNS, ReceiptSigner, Retention, gc_paused
from gateway._integrity import Binding, Finding, check_store
from gateway._keys import GatewaySecrets
from gateway._outbox_check import outbox_chain
from gateway._receipt_mark import ReceiptMark
from gateway.domain.canonical import canonicalize, parse_json
from gateway.domain.catalog import Catalog
from gateway.domain.envelope import open_, seal
from gateway.domain.errors import CanonicalizationError
from gateway.domain.identifiers import subject_commitment
from gateway.domain.merkle import verify_inclusion
from gateway.domain.records import (
    Submission,
    hex0x,
    leaf_entries,
    log_id,
    make_receipt,
    parse_hex,
    parse_submission,
)
from gateway.domain.signing import (
    SigningDomain,
    fast_recover_typed,
    fast_typed_signer,
    signing_domain,
)
from gateway.errors import (
    BatchTooLarge,
    CategoryNotAllowed,
    Forbidden,
    GatewayError,
    InvalidJson,
    LogOutOfRange,
    MalformedRequest,
    NotAnchoredYet,
    OrgSuspended,
    RecordNotFound,
    ReplayedRequest,
    SignerMismatch,
    StaleRequest,
    UnknownOrg,
)
from gateway.store import MAX_ENTRIES_PER_READ, DbLog, LogEntry, Record, session_scope
from gateway.store import Submission as SubmissionRow
from gateway.store._log import insert_rows, present_keys
from gateway.verify import NodeChainView, trust_root_from, verify_bundle
from node import Chain, ContractRevert, Deployment, MembershipClient, OrgKind

LOG_NAMES = ("records", "access")
FUTURE_SKEW = 30
_RECORD_TABLE: sa.Table = Record.__table__  # type: ignore[attr-defined]  # SQLModel table
"""Seconds a signed timestamp may lie ahead of the gateway's clock. Small, so that a key
rotation after acceptance cannot move ``keysAt(org, signed_at)`` to the new key."""


@dataclass(frozen=True)
class OrgInfo:
    org_id: bytes
    kind: str
    active: bool
    signer: str
    valid_from: int
    city: int = 0
    encryption_key: bytes = b""


def parse_body(body: bytes) -> object:
    """A request body as strict JSON (no duplicate keys, no NaN) or InvalidJson."""
    try:
        return parse_json(body)
    except (CanonicalizationError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from None


def request_digest(sub: Submission) -> bytes:
    """What identifies a submission for replay and idempotency: its signature and its records'
    commitments (each binds a record and its salt), in order — without re-serialising the body."""
    h = hashlib.sha256(sub.type.encode() + b"\x00" + sub.signature)
    for c in sub.commitments:
        h.update(c)
    return h.digest()


class MemberCache:
    """Membership answers from the chain, reused for ``ttl`` seconds (hot path: one lookup per
    submission, not per record). An expired entry is refreshed by one caller while the others
    for that org wait for its answer (no stampede of chain calls when many readers arrive)."""

    def __init__(
        self, membership: MembershipClient, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.membership = membership
        self.ttl = ttl
        self.clock = clock
        self._orgs: dict[bytes, tuple[float, OrgInfo]] = {}
        self._lock = threading.Lock()
        self._refreshing: dict[bytes, threading.Lock] = {}

    def _fresh(self, org_id: bytes) -> OrgInfo | None:
        with self._lock:
            hit = self._orgs.get(org_id)
        if hit is not None and self.clock() - hit[0] < self.ttl:
            return hit[1]
        return None

    def get(self, org_id: bytes) -> OrgInfo:
        info = self._fresh(org_id)
        if info is not None:
            return info
        with self._lock:
            refresh = self._refreshing.setdefault(org_id, threading.Lock())
        with refresh:
            info = self._fresh(org_id)  # refreshed by another caller while we waited
            if info is not None:
                return info
            asked_at = self.clock()
            try:
                org = self.membership.org(org_id)
            except ContractRevert as exc:
                if exc.name == "UnknownOrg":
                    raise UnknownOrg(f"organisation {hex0x(org_id)} is not a member") from None
                raise
            keys = self.membership.current_keys(org_id)
            info = OrgInfo(
                org_id,
                OrgKind(org.kind).name.lower(),
                org.active,
                keys.signer,
                keys.valid_from,
                org.city,
                keys.encryption_key,
            )
            with self._lock:
                self._orgs[org_id] = (asked_at, info)
            return info

    def forget(self, org_id: bytes) -> None:
        with self._lock:
            self._orgs.pop(org_id, None)


@dataclass(frozen=True)
class SubmitResult:
    receipts: list[dict[str, Any]]
    created: bool
    """False when every record was known already (idempotent resubmission)."""


class Gateway:
    """One city's gateway: its store, its keys, its logs, and the chain it anchors to."""

    def __init__(
        self,
        *,
        engine: Engine,
        chain: Chain,
        deployment: Deployment,
        secrets: GatewaySecrets,
        gateway_org: bytes,
        catalog: Catalog,
        max_merge_delay: int,
        replay_window: int = 300,
        max_batch: int = 1000,
        org_cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.engine = engine
        self.chain = chain
        self.deployment = deployment
        self.secrets = secrets
        self.gateway_org = gateway_org
        self.catalog = catalog
        self.max_merge_delay = max_merge_delay
        self.replay_window = replay_window
        self.max_batch = max_batch
        self.clock = clock
        self.rng = rng
        # logs a refusal after the signature checked out (gateway/_refusals.py; set by the runtime)
        self.refusals: Callable[[Any, GatewayError], None] | None = None
        self.domain: SigningDomain = signing_domain(
            chain.chain_id, deployment.address("Membership")
        )
        self.log_ids = {name: log_id(gateway_org, name) for name in LOG_NAMES}
        self.members = MemberCache(deployment.membership(chain), org_cache_seconds)
        self._sign_receipt = fast_typed_signer(secrets.signer.key, self.domain)
        self._receipt_signer = ReceiptSigner(
            secrets.signer.key, self.domain, log_id=self.log_ids["records"], gateway=gateway_org
        )
        self.receipt_mark: ReceiptMark | None = None
        """Raised before any receipt leaves (:mod:`gateway._receipt_mark`)."""
        self._dedup_secret = hmac.new(
            secrets.pepper, b"creditchain/dedup/v1", hashlib.sha256
        ).digest()

    # -- submission -------------------------------------------------------------------------

    def submit(self, body: bytes) -> SubmitResult:
        with gc_paused():  # a batch's thousands of short-lived objects: no collector passes
            return self._submit(body)

    def _submit(self, body: bytes) -> SubmitResult:
        doc = parse_body(body)
        if (
            isinstance(doc, dict)
            and isinstance(doc.get("records"), list)
            and len(doc["records"]) > self.max_batch
        ):
            raise BatchTooLarge(
                f"{len(doc['records'])} records in one submission; at most {self.max_batch}"
            )
        sub = parse_submission(doc, self.catalog, max_records=self.max_batch)
        now = self._check_window(sub.signed_at)
        digest = request_digest(sub)
        known = self._known_submission(sub, digest)
        if known is not None:
            return SubmitResult(known, created=False)
        self._authorize(sub)
        return self._store(sub, digest, now)

    def sign_receipt(
        self, log: str, index: int, leaf: bytes, now: int, *, mark: bool = True
    ) -> dict[str, Any]:
        """The gateway's signed promise (docs/formats.md §6) for leaf ``index`` of ``log``.
        ``mark``: raise the receipts' mark first (callers signing inside a transaction pass
        False and raise it once the transaction has committed, before the receipts leave)."""
        if mark and self.receipt_mark is not None:
            self.receipt_mark.raise_to(log, index + 1)
        return make_receipt(
            log_id=self.log_ids[log],
            index=index,
            leaf_hash=leaf,
            received_at=now,
            anchor_by=now + self.max_merge_delay,
            gateway=self.gateway_org,
            sign=self._sign_receipt,
        ).to_json()

    def _check_window(self, signed_at: int) -> int:
        now = int(self.clock())
        if not now - self.replay_window <= signed_at <= now + FUTURE_SKEW:
            raise StaleRequest(
                f"signed_at {signed_at} is {signed_at - now:+d} s from the gateway's "
                f"clock; allowed from -{self.replay_window} s to +{FUTURE_SKEW} s"
            )
        return now

    def _known_submission(self, sub: Submission, digest: bytes) -> list[dict[str, Any]] | None:
        with session_scope(self.engine, read_only=True) as s:
            row = s.exec(
                select(SubmissionRow).where(
                    SubmissionRow.org_id == hex0x(sub.org), SubmissionRow.nonce == hex0x(sub.nonce)
                )
            ).first()
            if row is None:
                return None
            if row.request_digest != digest:
                raise ReplayedRequest(
                    f"nonce {hex0x(sub.nonce)} of org {hex0x(sub.org)} was used for another request"
                )
            return self._receipts_for(s, sub)

    def _receipts_for(self, s: Any, sub: Submission) -> list[dict[str, Any]]:
        canonical = [r.record.canonical() for r in sub.records]
        keys = [self._dedup_key(c) for c in canonical]
        rows = s.exec(select(Record).where(col(Record.dedup_key).in_(keys))).all()
        checked_duplicates(self, rows, dict(zip(keys, canonical, strict=True)))
        by_key = {r.dedup_key: r for r in rows}
        return [json.loads(by_key[k].receipt) for k in keys]

    def _dedup_key(self, canonical_record: bytes) -> bytes:
        return hmac.new(self._dedup_secret, canonical_record, hashlib.sha256).digest()

    def _check_signer(self, org_id: bytes, signer: str, signed_at: int) -> OrgInfo:
        """The signer must be the org's current key, in force since before ``signed_at``
        (so ``keysAt(org, signed_at)`` names it for every later verifier); the org active."""
        org = self.members.get(org_id)
        if signer.lower() != org.signer.lower():
            self.members.forget(org_id)  # maybe rotated moments ago: ask the chain again
            org = self.members.get(org_id)
        if signer.lower() != org.signer.lower():
            raise SignerMismatch(
                f"the signature recovers to {signer}, not to the current signing key of org "
                f"{hex0x(org_id)}"
            )
        if signed_at < org.valid_from:
            raise SignerMismatch(
                f"signed_at {signed_at} precedes the signing key's registration ({org.valid_from})"
            )
        if not org.active:
            raise OrgSuspended(f"organisation {hex0x(org_id)} is suspended")
        return org

    def _authorize(self, sub: Submission) -> None:
        signer = fast_recover_typed(self.domain, sub.type, sub.message(), sub.signature)
        org = self._check_signer(sub.org, signer, sub.signed_at)
        for i, r in enumerate(sub.records):
            category = self.catalog.category(r.record.category)
            if not category.may_submit(org.kind):
                raise CategoryNotAllowed(
                    f"a {org.kind} may not submit {category.code} records (record {i})",
                    pointer=f"/records/{i}/record/category",
                )

    def _store(self, sub: Submission, digest: bytes, now: int) -> SubmitResult:
        """One transaction for the whole submission, every step in bulk: leaf entries built
        in one pass (:func:`leaf_entries`), one append, receipts signed in one pass
        (:class:`ReceiptSigner`), one multi-row insert. What does not need the log's index —
        the entries, their leaf hashes (the record ids), the sealed envelopes — is done before
        the transaction, so that other workers' appends wait only for the index-bound work."""
        pepper = self.secrets.pepper
        records = sub.records
        canonical = [r.record.canonical() for r in records]
        keys = [hmac.digest(self._dedup_secret, c, "sha256") for c in canonical]
        subjects = [subject_commitment(pepper, r.record.subject) for r in records]
        entries = leaf_entries(sub, subjects, received_at=now, pepper=pepper)
        leaves = [hashlib.sha256(b"\x00" + e).digest() for e in entries]
        kek = self.secrets.active_kek
        org_hex = hex0x(sub.org)
        retention = Retention(self.catalog)
        # (record id, category, subject commitment, commitment, envelope, retain_until)
        prepared = []
        for r, c, leaf, subject in zip(records, canonical, leaves, subjects, strict=True):
            category = r.record.category
            # JCS of {"record": …, "salt": …}: members in that order, record canonical
            plaintext = b'{"record":' + c + b',"salt":"' + hexlify(r.salt) + b'"}'
            envelope = seal(plaintext, aad_record_id=leaf, category=category, kek=kek, rng=self.rng)
            prepared.append(
                (
                    leaf.hex(),
                    category,
                    subject.hex(),
                    r.commitment.hex(),
                    envelope.to_bytes(),
                    retention.until(category, r.fields or r.record.fields),
                )
            )
        try:
            with session_scope(self.engine) as s:
                row = SubmissionRow(
                    org_id=org_hex,
                    nonce=hex0x(sub.nonce),
                    request_digest=digest,
                    received_at=now,
                )
                s.add(row)
                s.flush()
                assert row.id is not None
                submission_id: int = row.id
                conn = s.connection()
                # one narrow query; the full rows only when some record is known already
                known_keys = present_keys(conn, _RECORD_TABLE, "dedup_key", keys)
                existing = (
                    {
                        r.dedup_key: r
                        for r in s.exec(
                            select(Record).where(col(Record.dedup_key).in_(list(known_keys)))
                        ).all()
                    }
                    if known_keys
                    else {}
                )
                checked_duplicates(self, existing.values(), dict(zip(keys, canonical, strict=True)))
                # new records only, and the same record twice in one batch only once
                unique: dict[bytes, int] = {}
                for i, key in enumerate(keys):
                    if key not in existing:
                        unique.setdefault(key, i)
                fresh = list(unique.values())
                db = DbLog(s, "records")
                db.ensure()
                indices = db.append([entries[i] for i in fresh]) if fresh else []
                signed = self._receipt_signer.sign(
                    [(index, leaves[i]) for i, index in zip(fresh, indices, strict=True)],
                    received_at=now,
                    anchor_by=now + self.max_merge_delay,
                )
                receipts: dict[bytes, dict[str, Any]] = {
                    k: json.loads(r.receipt) for k, r in existing.items()
                }
                rows = []
                for i, index, (receipt, receipt_text) in zip(fresh, indices, signed, strict=True):
                    record_id, category, subject_hex, commitment_hex, envelope_bytes, until = (
                        prepared[i]
                    )
                    rows.append(
                        (  # in the order of RECORD_COLUMNS
                            record_id,
                            index,
                            org_hex,
                            category,
                            subject_hex,
                            commitment_hex,
                            keys[i],
                            envelope_bytes,
                            kek.kek_id,
                            "active",
                            now,
                            receipt_text,
                            submission_id,
                            until,
                            None,
                            0,
                            False,
                            None,
                        )
                    )
                    receipts[keys[i]] = receipt
                insert_rows(conn, _RECORD_TABLE, RECORD_COLUMNS, rows)
        except IntegrityError:
            # A concurrent request with the same nonce (or the same record) won the race.
            known = self._known_submission(sub, digest)
            if known is not None:
                return SubmitResult(known, created=False)
            raise
        if indices and self.receipt_mark is not None:
            self.receipt_mark.raise_to("records", max(indices) + 1)
        return SubmitResult([receipts[k] for k in keys], created=bool(fresh))

    # -- reading the logs -------------------------------------------------------------------

    def _log_name(self, name: str) -> str:
        if name not in LOG_NAMES:
            raise LogOutOfRange(f"no log named {name!r}; logs are {', '.join(LOG_NAMES)}")
        return name

    def checkpoint(self, name: str) -> dict[str, Any]:
        name = self._log_name(name)
        with session_scope(self.engine, read_only=True) as s:
            db = DbLog(s, name)
            size = db.size() if db.exists() else 0
            root = db.root(size) if size else hashlib.sha256(b"").digest()
        anchored = served_anchor(self, name)
        return {
            "log": name,
            "log_id": hex0x(self.log_ids[name]),
            "size": size,
            "root": root.hex(),
            "anchored": None
            if anchored is None
            else {
                "size": anchored.size,
                "root": anchored.root.hex(),
                "block": anchored.block_number,
                "tx": anchored.tx_hash,
            },
        }

    def consistency(self, name: str, first: int, second: int) -> dict[str, Any]:
        name = self._log_name(name)
        with session_scope(self.engine, read_only=True) as s:
            db = DbLog(s, name)
            size = db.size() if db.exists() else 0
            if not 0 < first < second <= size:  # RFC 9162 §2.1.4: proofs are for 0 < m < n
                raise LogOutOfRange(f"need 0 < first < second <= {size} (the {name} log's size)")
            proof = db.consistency_proof(first, second)
        return {"log": name, "first": first, "second": second, "proof": [p.hex() for p in proof]}

    def entries(self, name: str, start: int, end: int) -> dict[str, Any]:
        got = self.raw_entries(name, start, end)
        return {
            "log": self._log_name(name),
            "start": start,
            "entries": [e.decode("utf-8") for e in got],
        }

    def raw_entries(self, name: str, start: int, end: int) -> list[bytes]:
        """Leaf entries ``[start, end)`` as stored: the exact bytes each leaf hash covers."""
        name = self._log_name(name)
        with session_scope(self.engine, read_only=True) as s:
            db = DbLog(s, name)
            size = db.size() if db.exists() else 0
            if not 0 <= start < end <= size or end - start > MAX_ENTRIES_PER_READ:
                raise LogOutOfRange(
                    f"need 0 <= start < end <= {size} and at most {MAX_ENTRIES_PER_READ} "
                    "entries per request"
                )
            return db.entries(start, end)

    def inclusion(self, name: str, index: int, size: int) -> dict[str, Any]:
        name = self._log_name(name)
        with session_scope(self.engine, read_only=True) as s:
            db = DbLog(s, name)
            have = db.size() if db.exists() else 0
            if not 0 <= index < size <= have:
                raise LogOutOfRange(f"need 0 <= index < size <= {have} (the {name} log's size)")
            proof = db.inclusion_proof(index, size)
        return {"log": name, "index": index, "size": size, "proof": [p.hex() for p in proof]}

    # -- proofs -----------------------------------------------------------------------------

    def _record_row(self, record_id: str) -> Record:
        rid = record_id.lower().removeprefix("0x")
        with session_scope(self.engine, read_only=True) as s:
            row = s.get(Record, rid)
        if row is None:
            raise RecordNotFound(f"no record {record_id}")
        return row

    def proof(self, record_id: str, *, opening: bool) -> dict[str, Any]:
        """The record's proof bundle (docs/formats.md §7) once anchored.

        With ``opening`` the bundle carries the record and its salt (decrypted here); without,
        only the commitment — still enough to check the department's signature, inclusion and
        the anchor.
        """
        row = self._record_row(record_id)
        anchored = served_anchor(self, "records")
        if anchored is None or anchored.size <= row.log_index:
            raise NotAnchoredYet(
                "the record is in the log but not yet in an anchored checkpoint",
                receipt=json.loads(row.receipt),
            )
        with session_scope(self.engine, read_only=True) as s:
            db = DbLog(s, "records")
            entry = s.get(LogEntry, ("records", row.log_index))
            assert entry is not None
            inclusion = db.inclusion_proof(row.log_index, anchored.size)
        leaf = bytes.fromhex(row.record_id)
        if not verify_inclusion(leaf, row.log_index, anchored.size, inclusion, anchored.root):
            raise RecordNotFound(f"record {record_id}: stored proof does not verify")
        bundle: dict[str, Any] = {
            "v": 1,
            "leaf": json.loads(entry.entry),
            "receipt": json.loads(row.receipt),
            "log": {
                "id": hex0x(self.log_ids["records"]),
                "index": row.log_index,
                "inclusion": [p.hex() for p in inclusion],
                "checkpoint": {"size": anchored.size, "root": anchored.root.hex()},
            },
            "chain": {
                "chain_id": self.chain.chain_id,
                "checkpoint_log": self.deployment.address("CheckpointLog"),
                "membership": self.deployment.address("Membership"),
                "anchor_tx": anchored.tx_hash,
                "anchor_block": anchored.block_number,
            },
            "status": {
                "source": "RecordStatus contract",
                "record_id": row.record_id,
            },
        }
        if opening:
            if row.envelope is None:
                raise RecordNotFound(f"record {record_id} was erased")
            plain = open_(
                row.envelope,
                aad_record_id=leaf,
                category=row.category,
                keyring=self.secrets.keyring,
            )
            opened = parse_json(plain)
            assert isinstance(opened, dict)
            bundle["record"] = opened["record"]
            bundle["salt"] = opened["salt"]
        return bundle

    def opened_proof(self, record_id: str, body: bytes) -> dict[str, Any]:
        """The full bundle (record and salt included) for its submitting department, on a
        signed ``ProofRequest`` (docs/formats.md §7): its nonce is accepted once. A refusal after
        the signature checks out is logged in the access log (gateway/_refusals.py)."""
        doc = parse_body(body)
        if not isinstance(doc, dict) or set(doc) != {"org", "signed_at", "nonce", "value"}:
            raise MalformedRequest('a proof request is {"org", "signed_at", "nonce", "value"}')
        org = parse_hex(doc["org"], size=32, prefixed=True, pointer="/org")
        nonce = parse_hex(doc["nonce"], size=32, prefixed=True, pointer="/nonce")
        value = parse_hex(doc["value"], size=65, prefixed=True, pointer="/value")
        signed_at = doc["signed_at"]
        if type(signed_at) is not int or signed_at < 0:
            raise MalformedRequest("signed_at must be a non-negative integer", pointer="/signed_at")
        row = self._record_row(record_id)
        self._check_window(signed_at)
        signer = fast_recover_typed(
            self.domain,
            "ProofRequest",
            {
                "org": org,
                "recordId": bytes.fromhex(row.record_id),
                "signedAt": signed_at,
                "nonce": nonce,
            },
            value,
        )
        try:
            self._check_signer(org, signer, signed_at)
            row = load_bound(self, row.record_id)  # its org_id decides: as the log says
            if hex0x(org) != row.org_id:
                raise Forbidden(
                    "only the submitting department may open its record; "
                    "readers use the consent-gated read API",
                    reason="not-submitting-department",
                )
        except (OrgSuspended, Forbidden) as exc:  # the signature checked out: an access decision
            if self.refusals is not None:
                from gateway._refusals import PROOF_PURPOSE, Refusal

                reason = "org-suspended" if isinstance(exc, OrgSuspended) else exc.extra["reason"]
                self.refusals(
                    Refusal(
                        requester=org,
                        sig_type="ProofRequest",
                        signed_at=signed_at,
                        nonce=nonce,
                        signature=value,
                        request=doc,
                        reason=reason,
                        purpose=PROOF_PURPOSE,
                        subject_commitment=row.subject_commitment,
                        record=row.record_id,
                        categories=(row.category,),
                    ),
                    exc,
                )
            raise
        digest = hashlib.sha256(canonicalize(doc)).digest()
        try:
            with session_scope(self.engine) as s:
                seen = s.exec(
                    select(SubmissionRow).where(
                        SubmissionRow.org_id == hex0x(org), SubmissionRow.nonce == hex0x(nonce)
                    )
                ).first()
                if seen is None:
                    s.add(
                        SubmissionRow(
                            org_id=hex0x(org),
                            nonce=hex0x(nonce),
                            request_digest=digest,
                            received_at=int(self.clock()),
                        )
                    )
                else:  # answered once: a replay within the window is not answered again
                    raise ReplayedRequest(f"nonce {hex0x(nonce)} was used before")
        except IntegrityError:
            raise ReplayedRequest(f"nonce {hex0x(nonce)} is being used concurrently") from None
        return self.proof(record_id, opening=True)

    def verify(self, body: bytes) -> dict[str, Any]:
        """Verify a proof bundle against this gateway's chain and trusted manifest — the same
        checks `creditchain verify` runs offline."""
        doc = parse_body(body)
        result = verify_bundle(
            doc,
            NodeChainView(self.chain, self.deployment),
            trusted=trust_root_from(self.deployment),
            pepper=self.secrets.pepper,
        )
        return {"valid": True, **result.to_json()}

    def integrity(self) -> list[Finding]:
        """Check the whole database against the chain (see gateway/_integrity.py)."""
        client = self.deployment.checkpoint_log(self.chain)
        checkpoints = {name: client.checkpoints(lid) for name, lid in self.log_ids.items()}
        index = chain_statuses(self)
        block = index.advance(self.chain.head())  # before the rows are read

        def chain_state(record_id: str) -> tuple[str, int]:
            return index.at(record_id, block)

        outbox = outbox_chain(client, self.log_ids, index.client)
        binding = Binding(self.secrets.pepper, chain_state, outbox=outbox, keys=row_keys(self))
        return check_store(
            self.engine, self.secrets.keyring, checkpoints, binding, pepper=self.secrets.pepper
        )

    def receipt(self, record_id: str) -> dict[str, Any]:
        """The record's signed receipt, served only once checked (gateway/_columns.py)."""
        return checked_receipt(self, self._record_row(record_id))
