"""Record lifecycle (DESIGN §2 guarantee 7, §5 flow 6; docs/formats.md §10).

* **Transitions** — ``POST /v1/records/{id}/status``: the submitting department or a credit
  office signs a ``Transition`` of the ``RecordStatus`` contract (EIP-712, its own domain).
  The gateway checks the rules (:mod:`gateway.domain.lifecycle`), appends the status event
  with the signature to the records log, updates the record and queues the transition in one
  transaction, then relays it on chain (it is the relayer the contract requires). A crash
  between the commit and the relay leaves a pending outbox row that :meth:`Lifecycle.step`
  sends again; the contract's version counter makes a second send impossible.
* **Objection** — the subject (its key bound in ``Grants``) files an objection with a reason
  and an evidence hash; it has a deadline (``objection_days``) and, when the gateway holds the
  credit office's key, marks the record objected at once (every reader sees it). The
  department resolves it by a correction (a new record, then ``corrected`` naming it) or a
  rejection (``objected`` -> ``active``). Open objections past their deadline are listed to
  the credit office.
* **Credit repair** — the subject applies; the credit office approves (transition to
  ``repaired``: no longer shared, except with auditors) or rejects, with a reason.
* **Retention** — :meth:`Lifecycle.step` erases records whose retention period has ended,
  unless under legal hold, signed with the credit office's key.
* **Erasure** — crypto-shredding: the envelope (ciphertext and wrapped data key) is deleted in
  the transaction that logs the erasure; SQLite overwrites freed bytes (``secure_delete``)
  and the WAL is truncated afterwards, so no copy of the key remains in the database files.
  The erasure certificate is the logged, signed status event with its receipt and its
  on-chain transaction. Nothing re-creates a key for an erased record: resubmitting it
  returns the original receipt, and key rotation skips records without an envelope.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from eth_account.signers.local import LocalAccount
from sqlmodel import col, select

from gateway._auth import authenticate
from gateway._bound import load_bound
from gateway._columns import retention_refusals
from gateway._freetext import commit_text, open_text, shred_texts
from gateway._holds import hold_entry
from gateway._requests_log import (
    SignedRequest,
    append_request,
    repair_settled,
    shown_objections,
)
from gateway._service import Gateway, OrgInfo, parse_body
from gateway._subjects import SubjectAuthority
from gateway.domain.canonical import canonicalize, parse_json
from gateway.domain.envelope import open_
from gateway.domain.lifecycle import (
    TransitionRefused,
    check_transition,
    event_hash,
    retain_until,
    status_event,
    text_commitment,
)
from gateway.domain.records import hex0x, parse_hex
from gateway.domain.requests import OfficeRequest, SubjectRequest, Transition, details_hash
from gateway.domain.signing import recover_digest
from gateway.errors import (
    Forbidden,
    MalformedRequest,
    NoOfficeKey,
    RecordNotFound,
    RecordUnverified,
    RepairNotFound,
    StaleVersion,
)
from gateway.store import (
    DbLog,
    Objection,
    Record,
    Repair,
    StatusChange,
    checkpoint_wal,
    session_scope,
)
from node import (
    ContractRevert,
    GrantsClient,
    RecordStatusClient,
    StatusCode,
    StatusTransition,
    transition_digest,
)

log = logging.getLogger("creditchain.lifecycle")

_ZERO = b"\x00" * 32


@dataclass(frozen=True)
class OfficeKey:
    """The credit office's key, held by the gateway the office runs, for automatic steps
    (marking objected records, retention erasure)."""

    org_id: bytes
    account: LocalAccount


class Lifecycle:
    """The lifecycle side of one gateway."""

    def __init__(
        self,
        gateway: Gateway,
        grants: GrantsClient,
        status: RecordStatusClient,
        *,
        office: OfficeKey | None = None,
        objection_days: int = 15,
        relay_inline: bool = True,
        relay_attempts: int = 3,
    ) -> None:
        self.gw = gateway
        self.grants = grants
        self.subjects = SubjectAuthority(gateway, grants)
        self.status = status
        self.office = office
        self.objection_days = objection_days
        # Relay each transition on chain as soon as it is applied; an extra HTTP worker process
        # leaves that to the main process's background pass (one sender per chain account).
        self.relay_inline = relay_inline
        self.relay_attempts = relay_attempts
        self._relay_lock = threading.Lock()

    # -- transitions ------------------------------------------------------------------------

    def transition(self, record_id: str, body: bytes) -> dict[str, Any]:
        """A signed transition (formats.md §10): checked, logged, applied, relayed."""
        v = Transition.parse(parse_body(body))
        successor = v["successor"]
        return self._transition(
            _record_hex(record_id),
            v["to"],
            successor=None if successor is None else successor.hex(),
            reason=v["reason"],
            reason_salt=v["reason_salt"],
            note=v["note"],
            note_salt=v["note_salt"],
            actor=v["actor"],
            version=v["version"],
            deadline=v["deadline"],
            signature=v["signature"],
        )

    def _transition(
        self,
        record_id: str,
        to: str,
        *,
        successor: str | None,
        reason: str,
        reason_salt: bytes,
        note: str | None,
        note_salt: bytes | None,
        actor: bytes,
        version: int,
        deadline: int,
        signature: bytes,
        objection: int | None = None,
    ) -> dict[str, Any]:
        gw = self.gw
        now = int(gw.clock())
        if deadline < now:
            raise Forbidden(f"the transition's deadline {deadline} has passed")
        row = load_bound(gw, record_id)  # status, version and origin as the log says
        try:
            succ = load_bound(gw, successor) if successor is not None else None
        except RecordNotFound:
            succ = None
        if row.status_version != version:
            raise StaleVersion(
                f"record {record_id} is at status version {row.status_version}, "
                f"the transition was signed for {version}",
                current_version=row.status_version,
                record_status=row.status,
            )
        org = gw.members.get(actor)
        if not org.active:
            raise Forbidden(f"organisation {hex0x(actor)} is suspended")
        origin = bytes.fromhex(row.org_id[2:])
        try:
            check_transition(
                row.status,
                to,
                record_id=record_id,
                actor_kind=org.kind,
                actor_is_origin=actor == origin,
                successor=successor,
            )
        except TransitionRefused as exc:
            raise Forbidden(str(exc), reason=exc.reason) from None
        if succ is not None and (
            succ.subject_commitment != row.subject_commitment
            or succ.category != row.category
            or succ.org_id != row.org_id
            or succ.status != "active"
        ):
            raise Forbidden(
                "a successor is an active record of the same department, subject and category",
                reason="successor-rule",
            )
        if successor is not None and succ is None:
            raise RecordNotFound(f"no successor record {successor}")
        texts = {"reason": (reason, reason_salt)}
        if note is not None and note_salt is not None:
            texts["note"] = (note, note_salt)
        event = status_event(
            record_id=record_id,
            origin=row.org_id,
            current=row.status,
            to=to,
            successor=successor,
            reason=text_commitment(reason_salt, reason),
            actor=hex0x(actor),
            version=version,
            note=None if note_salt is None or note is None else text_commitment(note_salt, note),
        )
        t = StatusTransition(
            record_id=bytes.fromhex(record_id),
            origin=origin,
            to=StatusCode[to.upper()],
            successor=bytes.fromhex(successor) if successor else _ZERO,
            reason=bytes.fromhex(event["reason"]),
            evidence=event_hash(event),
            actor=actor,
            version=version,
            deadline=deadline,
        )
        digest = transition_digest(gw.chain.chain_id, self.status.address, t)
        signer = recover_digest(digest, signature)
        if signer.lower() != org.signer.lower():
            raise Forbidden(
                f"the transition's signature recovers to {signer}, not to the current key of "
                f"org {hex0x(actor)}",
                reason="bad-transition-signature",
            )
        receipt = self._apply(
            row, event, t, signature, deadline, now, objection=objection, texts=texts
        )
        if self.relay_inline:
            self.relay()
        return {
            "record_id": record_id,
            "status": to,
            "successor": successor,
            "version": version + 1,
            "receipt": receipt,
        }

    def _apply(
        self,
        row: Record,
        event: dict[str, Any],
        t: StatusTransition,
        signature: bytes,
        deadline: int,
        now: int,
        *,
        objection: int | None,
        texts: dict[str, tuple[str, bytes]],
    ) -> dict[str, Any]:
        gw = self.gw
        to = event["to"]
        leaf_entry = {
            "v": 1,
            "kind": "status",
            "event": event,
            "sig": {
                "scheme": "eip712-v1",
                "type": "Transition",
                "contract": self.status.address,
                "deadline": deadline,
                "value": hex0x(signature),
            },
            "received_at": now,
        }
        entry_bytes = canonicalize(leaf_entry)
        leaf = hashlib.sha256(b"\x00" + entry_bytes).digest()
        with session_scope(gw.engine) as s:
            current = s.get(Record, row.record_id)
            assert current is not None
            if current.status_version != t.version:  # a concurrent transition won
                raise StaleVersion(
                    f"record {row.record_id} moved to version {current.status_version}",
                    current_version=current.status_version,
                    record_status=current.status,
                )
            records = DbLog(s, "records")
            (index,) = records.append([entry_bytes])
            current.status = to
            current.status_version = t.version + 1
            if to == "corrected":
                current.successor = event["successor"]
            if to == "erased":
                current.envelope = None  # crypto-shredding: ciphertext and wrapped key
                current.erased_at = now
                shred_texts(s, row.record_id)  # and the lifecycle's free texts
            else:
                for name, (text, salt) in texts.items():
                    commit_text(gw, s, row.record_id, f"status:{t.version}:{name}", text, salt)
            s.add(current)
            s.add(
                StatusChange(
                    record_id=row.record_id,
                    version=t.version,
                    from_status=event["from"],
                    to_status=to,
                    transition=json.dumps(_transition_json(t)),
                    signature=hex0x(signature),
                    actor=event["actor"],
                    log_index=index,
                    state="pending",
                    created_at=now,
                    updated_at=now,
                )
            )
            self._settle_requests(s, row.record_id, event, now, objection)
        if to == "erased":
            self._purge_freed_pages()
        return gw.sign_receipt("records", index, leaf, now)

    def _settle_requests(
        self, s: Any, record_id: str, event: dict[str, Any], now: int, objection: int | None
    ) -> None:
        """Objections and repair applications that this transition resolves."""
        to, frm = event["to"], event["from"]
        resolution = {
            "corrected": "corrected",
            "withdrawn": "withdrawn",
            "erased": "erased",
            "repaired": "repaired",
        }.get(to)
        if frm == "objected" and to == "active":
            resolution = "rejected"
        if resolution is not None and to != "objected":
            for o in s.exec(
                select(Objection).where(Objection.record_id == record_id, Objection.state == "open")
            ).all():
                o.state, o.resolved_at = resolution, now
                o.resolution = event["reason"]
                s.add(o)
        if to in ("repaired", "erased", "withdrawn", "corrected"):
            for r in s.exec(
                select(Repair).where(Repair.record_id == record_id, Repair.state == "pending")
            ).all():
                r.state = "approved" if to == "repaired" else "closed"
                r.decided_at, r.decided_by = now, event["actor"]
                r.decision_reason = event["reason"]
                s.add(r)

    def _purge_freed_pages(self) -> None:
        """After an erasure on SQLite: copy the WAL back and truncate it, so the frames that
        held the erased envelope are gone (freed pages are zeroed: ``secure_delete``)."""
        for _ in range(50):
            if not checkpoint_wal(self.gw.engine, "TRUNCATE"):
                return
            time.sleep(0.02)  # a reader still holds old frames: try again shortly
        log.warning("WAL not truncated after an erasure (readers busy); next checkpoint will")

    # -- the on-chain relay -----------------------------------------------------------------

    def relay(self) -> int:
        """Send every pending transition on chain, oldest first; the number confirmed.

        A transition the contract refuses does not hold back the others: it stays pending for
        another pass until it has been refused :attr:`relay_attempts` times, then moves to the
        dead letter (state ``failed``, with the revert reason; logged at ERROR, counted in
        ``/v1/health``). Later transitions of the same record wait in the pass in which an
        earlier one was refused (the contract would refuse them for their version)."""
        done = 0
        with self._relay_lock:
            with session_scope(self.gw.engine, read_only=True) as s:
                pending = list(
                    s.exec(
                        select(StatusChange)
                        .where(StatusChange.state == "pending")
                        .order_by(col(StatusChange.id))
                    ).all()
                )
            held: set[str] = set()  # records with a refused transition in this pass
            for change in pending:
                if change.record_id in held:
                    continue
                t = _transition_from_json(json.loads(change.transition))
                tx_hash: str | None = None
                on_chain = self.status.state(t.record_id)
                if on_chain.version > t.version:
                    pass  # sent before a crash: the contract has it already
                else:
                    try:
                        receipt = self.status.transition(
                            self.gw.secrets.signer,
                            t,
                            bytes.fromhex(change.signature[2:]),
                        )
                    except ContractRevert as exc:
                        held.add(change.record_id)
                        self._refused(change, str(exc))
                        continue
                    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
                with session_scope(self.gw.engine) as s:
                    row = s.get(StatusChange, change.id)
                    assert row is not None
                    row.state = "confirmed"
                    row.tx_hash = tx_hash or row.tx_hash
                    row.updated_at = int(self.gw.clock())
                    s.add(row)
                done += 1
        return done

    def _refused(self, change: StatusChange, reason: str) -> None:
        """Count a refusal of ``change`` by the contract; dead-letter it at the limit."""
        with session_scope(self.gw.engine) as s:
            row = s.get(StatusChange, change.id)
            assert row is not None
            row.attempts += 1
            row.failure = reason[:1000]
            row.updated_at = int(self.gw.clock())
            if row.attempts >= self.relay_attempts:
                row.state = "failed"
            s.add(row)
            attempts, state = row.attempts, row.state
        log.error(
            "RecordStatus refused transition %s v%s (attempt %d%s): %s",
            change.record_id,
            change.version,
            attempts,
            ", dead-lettered" if state == "failed" else "",
            reason,
        )

    # -- subjects: objections and repair applications -----------------------------------------

    def _subject_request(
        self, record_id: str, body: bytes, action: str
    ) -> tuple[Record, dict[str, Any], int, SignedRequest]:
        gw = self.gw
        doc = parse_body(body)
        v = SubjectRequest.parse(doc)
        auth = authenticate(
            gw,
            SubjectRequest,
            v,
            body,
            org_member=None,
            bound={"record_id": bytes.fromhex(record_id), "action": action},
            claim=False,
        )
        assert isinstance(doc, dict)
        commitment = self.subjects.check(v["subject"], auth.signer, doc.get("session"))
        try:
            row: Record | None = load_bound(gw, record_id)
        except RecordNotFound:
            row = None
        if row is None or row.subject_commitment != commitment.hex():
            raise RecordNotFound(f"no record {record_id} about this subject")
        self.subjects.claim(commitment, v["nonce"], body, auth.now)
        return row, v["details"], auth.now, _signed(v)

    def file_objection(self, record_id: str, body: bytes) -> dict[str, Any]:
        """A subject's objection; marks the record objected (with the office key)."""
        record_id = _record_hex(record_id)
        row, details, now, signed = self._subject_request(record_id, body, "objection")
        reason = _text(details.get("reason"), "/details/reason")
        evidence = parse_hex(
            details.get("evidence_hash"), size=32, prefixed=False, pointer="/details/evidence_hash"
        )
        if row.status not in ("active", "objected"):
            raise Forbidden(
                f"a {row.status} record cannot be objected to", reason="transition-not-allowed"
            )
        deadline = now + self.objection_days * 86_400
        with session_scope(self.gw.engine) as s:
            salt = self.gw.rng(32)
            o = Objection(
                record_id=record_id,
                subject_commitment=row.subject_commitment,
                reason=text_commitment(salt, reason),
                evidence_hash=evidence.hex(),
                filed_at=now,
                deadline=deadline,
                state="open",
            )
            s.add(o)
            s.flush()
            objection_id = o.id
            commit_text(self.gw, s, record_id, f"objection:{objection_id}", reason, salt)
            append_request(
                s,
                "objection",
                {
                    "objection": objection_id,
                    "record": record_id,
                    "reason": o.reason,
                    "evidence_hash": o.evidence_hash,
                    "filed_at": now,
                    "deadline": deadline,
                },
                signed,
                now,
            )
        assert objection_id is not None
        marked = row.status == "objected"
        if not marked and self.office is not None:
            self.office_transition(record_id, "objected", reason="objection-filed")
            marked = True
        return {
            "objection": objection_id,
            "record_id": record_id,
            "deadline": deadline,
            "status": "objected" if marked else row.status,
        }

    def apply_repair(self, record_id: str, body: bytes) -> dict[str, Any]:
        """A subject's credit-repair application, pending the credit office's decision."""
        record_id = _record_hex(record_id)
        row, details, now, signed = self._subject_request(record_id, body, "repair")
        reason = _text(details.get("reason"), "/details/reason")
        if row.status not in ("active", "objected"):
            raise Forbidden(
                f"a {row.status} record cannot be repaired", reason="transition-not-allowed"
            )
        with session_scope(self.gw.engine) as s:
            salt = self.gw.rng(32)
            r = Repair(
                record_id=record_id,
                subject_commitment=row.subject_commitment,
                reason=text_commitment(salt, reason),
                filed_at=now,
                state="pending",
            )
            s.add(r)
            s.flush()
            repair_id = r.id
            commit_text(self.gw, s, record_id, f"repair:{repair_id}", reason, salt)
            append_request(
                s,
                "repair",
                {"repair": repair_id, "record": record_id, "reason": r.reason, "filed_at": now},
                signed,
                now,
            )
        return {"repair": repair_id, "record_id": record_id, "state": "pending"}

    # -- the credit office ----------------------------------------------------------------------

    def _office_request(
        self, body: bytes, action: str, target: bytes, *, origin: str | None = None
    ) -> dict[str, Any]:
        return self._office_signed(body, action, target, origin=origin)[0]

    def _office_signed(
        self, body: bytes, action: str, target: bytes, *, origin: str | None = None
    ) -> tuple[dict[str, Any], bytes, SignedRequest, int]:
        """A checked office request: its details, org, signed members and the gateway's time."""

        def authorize(info: OrgInfo) -> None:
            if info.kind != "credit_office" and (origin is None or hex0x(org) != origin):
                raise Forbidden(
                    f"only a credit office may {action}", reason="credit-office-required"
                )

        v = OfficeRequest.parse(parse_body(body))
        org: bytes = v["org"]
        auth = authenticate(
            self.gw,
            OfficeRequest,
            v,
            body,
            org_member="org",
            bound={"action": action, "target": target},
            authorize=authorize,
        )
        return v["details"], org, _signed(v), auth.now

    def set_hold(self, record_id: str, body: bytes) -> dict[str, Any]:
        """Put a record under legal hold (``details.hold`` true) or release it."""
        record_id = _record_hex(record_id)
        details = self._office_request(body, "legal-hold", bytes.fromhex(record_id))
        hold = details.get("hold")
        if not isinstance(hold, bool) or set(details) != {"hold"}:
            raise MalformedRequest(
                'details must be exactly {"hold": true|false}', pointer="/details/hold"
            )
        doc: Any = parse_body(body)  # checked by _office_request: members the hold leaf keeps
        entry = hold_entry(
            record_id=record_id,
            hold=hold,
            org=hex0x(parse_hex(doc["org"], size=32, prefixed=True, pointer="/org")),
            details_hash=details_hash(details),
            signed_at=int(doc["signed_at"]),
            nonce=str(doc["nonce"]).lower(),
            signature=str(doc["signature"]).lower(),
            now=int(self.gw.clock()),
        )
        with session_scope(self.gw.engine) as s:
            row = s.get(Record, record_id)
            if row is None:
                raise RecordNotFound(f"no record {record_id}")
            DbLog(s, "records").append([entry])  # the hold is a fact of the log (gateway/_holds.py)
            row.legal_hold = hold
            s.add(row)
        return {"record_id": record_id, "legal_hold": hold}

    def reject_repair(self, repair_id: int, body: bytes) -> dict[str, Any]:
        details, org, signed, now = self._office_signed(
            body, "reject-repair", repair_id.to_bytes(32, "big")
        )
        reason = _text(details.get("reason"), "/details/reason")
        with session_scope(self.gw.engine) as s:
            r = s.get(Repair, repair_id)
            if r is None:
                raise RepairNotFound(f"no repair application {repair_id}")
            if r.state != "pending" or repair_settled(self.gw, s, r):
                raise Forbidden(f"repair application {repair_id} is not pending")
            r.state, r.decided_at, r.decided_by = "rejected", now, hex0x(org)
            r.decision_reason = commit_text(
                self.gw, s, r.record_id, f"repair-decision:{repair_id}", reason
            )
            append_request(
                s,
                "repair-rejection",
                {
                    "repair": repair_id,
                    "record": r.record_id,
                    "org": hex0x(org),
                    "reason": r.decision_reason,
                },
                signed,
                now,
            )
            s.add(r)
        return {"repair": repair_id, "state": "rejected", "reason": reason}

    def status_texts(self, record_id: str, body: bytes) -> dict[str, Any]:
        """The free texts (reason, note) of a record's transitions, opened from the store: for
        the record's submitting department or a credit office (an ``OfficeRequest``,
        ``status-texts``, target the record id)."""
        record_id = _record_hex(record_id)
        with session_scope(self.gw.engine, read_only=True) as s:
            row = s.get(Record, record_id)
        if row is None:
            raise RecordNotFound(f"no record {record_id}")
        self._office_request(body, "status-texts", bytes.fromhex(record_id), origin=row.org_id)
        with session_scope(self.gw.engine, read_only=True) as s:
            changes = s.exec(
                select(StatusChange)
                .where(StatusChange.record_id == record_id)
                .order_by(col(StatusChange.version))
            ).all()
            texts = [
                {
                    "version": c.version,
                    "to": c.to_status,
                    "reason": open_text(self.gw, s, record_id, f"status:{c.version}:reason"),
                    "note": open_text(self.gw, s, record_id, f"status:{c.version}:note"),
                }
                for c in changes
            ]
        return {"record_id": record_id, "texts": texts}

    def objections(self, body: bytes) -> dict[str, Any]:
        """Open objections for the credit office, overdue ones flagged (and listed first)."""
        details = self._office_request(body, "list-objections", _ZERO)
        only_overdue = details.get("overdue") is True
        now = int(self.gw.clock())
        with session_scope(self.gw.engine, read_only=True) as s:
            rows = s.exec(
                select(Objection).where(Objection.state == "open").order_by(col(Objection.deadline))
            ).all()
            shown = shown_objections(self.gw, s, rows)
        items = [
            {
                "objection": o.id,
                "record_id": o.record_id,
                "reason": reason,
                "filed_at": o.filed_at,
                "deadline": o.deadline,
                "overdue": o.deadline < now,
            }
            for o, reason in shown
            if not only_overdue or o.deadline < now
        ]
        return {"objections": items, "overdue": sum(1 for i in items if i["overdue"])}

    def office_transition(self, record_id: str, to: str, *, reason: str) -> dict[str, Any]:
        """A transition signed with the credit office's key held by this gateway."""
        if self.office is None:
            raise NoOfficeKey("this gateway holds no credit-office key")
        row = load_bound(self.gw, record_id)
        deadline = int(self.gw.clock()) + 3600
        reason_salt = self.gw.rng(32)
        event = status_event(
            record_id=record_id,
            origin=row.org_id,
            current=row.status,
            to=to,
            successor=None,
            reason=text_commitment(reason_salt, reason),
            actor=hex0x(self.office.org_id),
            version=row.status_version,
        )
        t = StatusTransition(
            record_id=bytes.fromhex(record_id),
            origin=bytes.fromhex(row.org_id[2:]),
            to=StatusCode[to.upper()],
            successor=_ZERO,
            reason=bytes.fromhex(event["reason"]),
            evidence=event_hash(event),
            actor=self.office.org_id,
            version=row.status_version,
            deadline=deadline,
        )
        signature = self.status.sign(self.office.account, t)
        return self._transition(
            record_id,
            to,
            successor=None,
            reason=reason,
            reason_salt=reason_salt,
            note=None,
            note_salt=None,
            actor=self.office.org_id,
            version=row.status_version,
            deadline=deadline,
            signature=signature,
        )

    # -- retention and the background step ------------------------------------------------------

    def retention_step(self, *, batch: int = 200) -> int:
        """Fill in retention dates of records stored before they were computed at submission,
        then erase records whose retention has ended (not under
        legal hold). Returns the number erased."""
        gw = self.gw
        with session_scope(gw.engine, read_only=True) as s:
            todo = s.exec(
                select(Record)
                .where(col(Record.retain_until).is_(None), col(Record.envelope).is_not(None))
                .limit(batch)
            ).all()
        if todo:
            with session_scope(gw.engine) as s:
                for row in todo:
                    assert row.envelope is not None
                    opened = parse_json(
                        open_(
                            row.envelope,
                            aad_record_id=bytes.fromhex(row.record_id),
                            category=row.category,
                            keyring=gw.secrets.keyring,
                        )
                    )
                    assert isinstance(opened, dict)
                    until = retain_until(
                        gw.catalog.category(row.category), opened["record"]["fields"]
                    )
                    s.execute(
                        sa.update(Record)
                        .where(col(Record.record_id) == row.record_id)
                        .values(retain_until=until)
                    )
        now = int(gw.clock())
        with session_scope(gw.engine, read_only=True) as s:
            due = s.exec(
                select(Record.record_id)
                .where(
                    col(Record.retain_until) <= now,
                    col(Record.legal_hold).is_(False),
                    Record.status != "erased",
                )
                .limit(batch)
            ).all()
        if due and self.office is None:
            log.warning("%d record(s) past retention, but no credit-office key to erase", len(due))
            return 0
        refused = retention_refusals(gw, list(due))  # the log and the record decide, not the row
        erased = 0
        for record_id in due:
            if record_id in refused:
                log.error("record %s: not erased by retention: %s", record_id, refused[record_id])
                continue
            try:
                self.office_transition(record_id, "erased", reason="retention-ended")
            except RecordUnverified:
                log.error("record %s past retention: its row is not bound to its log", record_id)
                continue
            erased += 1
        return erased

    def step(self) -> None:
        """One pass of the background work: relay pending transitions, retention."""
        self.relay()
        self.retention_step()

    def run(self, stop: threading.Event, interval: float = 10.0) -> None:
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("lifecycle pass failed")
            stop.wait(interval)

    # -- reads of the lifecycle ------------------------------------------------------------------

    def record_status(self, record_id: str) -> dict[str, Any]:
        """Public status of a record (no personal data)."""
        record_id = _record_hex(record_id)
        row = load_bound(self.gw, record_id)
        with session_scope(self.gw.engine, read_only=True) as s:
            changes = s.exec(
                select(StatusChange)
                .where(StatusChange.record_id == record_id)
                .order_by(col(StatusChange.version))
            ).all()
        return {
            "record_id": record_id,
            "origin": row.org_id,
            "status": row.status,
            "successor": row.successor,
            "version": row.status_version,
            "erased_at": row.erased_at,
            "history": [
                {
                    "version": c.version,
                    "from": c.from_status,
                    "to": c.to_status,
                    "actor": c.actor,
                    "log_index": c.log_index,
                    "tx_hash": c.tx_hash,
                    "state": c.state,
                    "at": c.created_at,
                }
                for c in changes
            ],
        }

    def erasure_certificate(self, record_id: str) -> dict[str, Any]:
        """The signed, logged erasure: the status leaf, its inclusion in an anchored checkpoint
        when there is one, its receipt, and the on-chain transaction."""
        record_id = _record_hex(record_id)
        with session_scope(self.gw.engine, read_only=True) as s:
            change = s.exec(
                select(StatusChange).where(
                    StatusChange.record_id == record_id, StatusChange.to_status == "erased"
                )
            ).first()
            if change is None:
                raise RecordNotFound(f"record {record_id} is not erased")
            log_ = DbLog(s, "records")
            (entry,) = log_.entries(change.log_index, change.log_index + 1)
        leaf = hashlib.sha256(b"\x00" + entry).digest()
        checkpoint = self.gw.checkpoint("records")
        size = int(checkpoint.get("size") or 0)
        proof = (
            self.gw.inclusion("records", change.log_index, size)
            if size > change.log_index
            else None
        )
        parsed = json.loads(entry)
        return {
            "record_id": record_id,
            "erased_at": parsed["received_at"],
            "actor": change.actor,
            "leaf": parsed,
            "log_index": change.log_index,
            "leaf_hash": leaf.hex(),
            "inclusion": proof,
            "chain": {
                "record_status": self.status.address,
                "tx_hash": change.tx_hash,
                "state": change.state,
            },
        }

    # -- helpers ---------------------------------------------------------------------------------


def _record_hex(record_id: str) -> str:
    return parse_hex(record_id.removeprefix("0x"), size=32, prefixed=False, pointer="/id").hex()


def _signed(v: dict[str, Any]) -> SignedRequest:
    return SignedRequest(v["signature"], v["nonce"], v["signed_at"])


def _text(value: object, pointer: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise MalformedRequest("a non-empty string of at most 200 characters", pointer=pointer)
    return value


def _transition_json(t: StatusTransition) -> dict[str, Any]:
    return {
        "record_id": t.record_id.hex(),
        "origin": t.origin.hex(),
        "to": int(t.to),
        "successor": t.successor.hex(),
        "reason": t.reason.hex(),
        "evidence": t.evidence.hex(),
        "actor": t.actor.hex(),
        "version": t.version,
        "deadline": t.deadline,
    }


def _transition_from_json(d: dict[str, Any]) -> StatusTransition:
    return StatusTransition(
        record_id=bytes.fromhex(d["record_id"]),
        origin=bytes.fromhex(d["origin"]),
        to=StatusCode(d["to"]),
        successor=bytes.fromhex(d["successor"]),
        reason=bytes.fromhex(d["reason"]),
        evidence=bytes.fromhex(d["evidence"]),
        actor=bytes.fromhex(d["actor"]),
        version=d["version"],
        deadline=d["deadline"],
    )


def make_office_key(org_id: str, account: LocalAccount) -> OfficeKey:
    return OfficeKey(bytes.fromhex(org_id.removeprefix("0x")), account)


def relay_failed(engine: sa.Engine) -> int:
    """The number of dead-lettered transitions (state ``failed``), for ``/v1/health``."""
    with session_scope(engine, read_only=True) as s:
        return int(
            s.exec(
                select(sa.func.count())
                .select_from(StatusChange)
                .where(StatusChange.state == "failed")
            ).one()
        )


__all__ = ["Lifecycle", "OfficeKey", "details_hash", "make_office_key", "relay_failed"]
