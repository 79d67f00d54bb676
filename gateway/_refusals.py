"""Refusals are access decisions too (DESIGN §2 guarantee 5; issue 9).

Once a request's signature checks out — the requester is who it says — every refusal that
follows (its organisation is suspended, it is not the record's submitting department) is an
access decision: it is appended to the **access log** with its reason, through the Reader's
group commit (the same entry shape as a read's, ``decision: "deny"``, no per-record
decisions), and the refusal's problem carries the ``access_receipt``. A refusal *before* the
signature checks out (malformed, stale, replayed, a key that is not the org's) names nobody
and is not logged.

The read path (:meth:`gateway._reads.Reader.read`) calls :func:`log_refusal` itself; the
proof path (:meth:`gateway._service.Gateway.opened_proof`) calls the gateway's ``refusals``
hook, which the runtime points at the Reader's committer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway._access_index import TAG_SALT_BYTES, subject_tag, tag_key
from gateway._group_commit import GroupCommitter, PendingAccess
from gateway._service import Gateway
from gateway.domain.canonical import canonicalize
from gateway.domain.identifiers import SubjectId, subject_commitment
from gateway.domain.records import hex0x
from gateway.errors import GatewayError
from gateway.store import Record, session_scope

__all__ = [
    "AUDIT_PURPOSE",
    "PROOF_PURPOSE",
    "Refusal",
    "RefusalLog",
    "audit_refusal",
    "log_read_refusal",
    "log_refusal",
    "refusal_logger",
]

PROOF_PURPOSE = "proof-bundle"
"""The ``purpose`` of an access decision about a signed ``ProofRequest`` (not a catalog
purpose: the submitting department opening its own record)."""
AUDIT_PURPOSE = "audit-trace"
"""The ``purpose`` of an access decision about a signed ``AuditQuery``."""


@dataclass(frozen=True)
class Refusal:
    """A refused request whose signature checked out."""

    requester: bytes
    sig_type: str
    signed_at: int
    nonce: bytes
    signature: bytes
    request: object
    """The request document (its canonical SHA-256 claims the nonce)."""
    reason: str
    purpose: str
    subject_commitment: str = ""
    subject_digest: str | None = None
    record: str | None = None
    categories: Sequence[str] = ()
    grant: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More members of the entry (a cross-city read's ``cross_city``)."""


RefusalLog = Callable[[Refusal, GatewayError], None]
"""Logs a refusal and attaches its ``access_receipt`` to the error."""


def log_refusal(
    gw: Gateway, committer: GroupCommitter, refusal: Refusal, exc: GatewayError
) -> None:
    """Append ``refusal`` to the access log (durably) and put its receipt on ``exc``.

    A replayed nonce logs nothing (the request was decided before)."""
    now = int(gw.clock())
    salt = gw.rng(TAG_SALT_BYTES)  # the entry names its subject only by an unlinkable tag
    tag = subject_tag(tag_key(gw.secrets.pepper), salt, bytes.fromhex(refusal.subject_commitment))
    entry = {
        "v": 2,
        "kind": "access",
        "requester": hex0x(refusal.requester),
        "subject_salt": salt.hex(),
        "subject_tag": tag.hex(),
        "subject_digest": refusal.subject_digest,
        "record": refusal.record,
        "purpose": refusal.purpose,
        "categories": sorted(refusal.categories),
        "grant": refusal.grant,
        "decision": "deny",
        "reason": refusal.reason,
        "decisions": [],
        "sig": {
            "scheme": "eip712-v1",
            "type": refusal.sig_type,
            "signed_at": refusal.signed_at,
            "nonce": hex0x(refusal.nonce),
            "value": hex0x(refusal.signature),
        },
        "block": None,
        "decided_at": now,
        **refusal.extra,
    }
    entry_bytes = canonicalize(entry)
    row: dict[str, Any] = {
        "requester": hex0x(refusal.requester),
        "subject_commitment": refusal.subject_commitment,
        "record_id": refusal.record,
        "purpose": refusal.purpose,
        "decision": "deny",
        "reason": refusal.reason,
        "basis": None,
        "grant_id": refusal.grant,
        "decided_at": now,
    }
    pending = committer.commit(
        PendingAccess(
            org_id=hex0x(refusal.requester),
            nonce=hex0x(refusal.nonce),
            request_digest=hashlib.sha256(canonicalize(refusal.request)).digest(),
            received_at=now,
            entry=entry_bytes,
            decisions=[row],
        )
    )
    if pending.index is None:
        return  # replayed: decided (and logged) before
    leaf = hashlib.sha256(b"\x00" + entry_bytes).digest()
    exc.extra["access_receipt"] = gw.sign_receipt("access", pending.index, leaf, now)
    exc.extra.setdefault("reason", refusal.reason)


def refusal_logger(gw: Gateway, committer: GroupCommitter) -> RefusalLog:
    """The ``refusals`` hook of ``gw``: :func:`log_refusal` through ``committer``."""

    def log(refusal: Refusal, exc: GatewayError) -> None:
        log_refusal(gw, committer, refusal, exc)

    return log


def log_read_refusal(
    gw: Gateway,
    committer: GroupCommitter,
    doc: dict[str, Any],
    exc: GatewayError,
    message: dict[str, Any],
    signature: bytes,
    subject: SubjectId | None,
    *,
    sig_type: str = "ReadRequest",
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Log a ``ReadRequest`` (``doc``, its checked EIP-712 ``message``) refused after its
    signature checked out (``sig_type``/``extra``: a cross-city ``RemoteReadRequest``)."""
    record_id: bytes | None = None if doc["record_id"] is None else message["recordId"]
    commitment = ""
    if subject is not None:
        commitment = subject_commitment(gw.secrets.pepper, subject).hex()
    elif record_id is not None:
        with session_scope(gw.engine, read_only=True) as s:
            row = s.get(Record, record_id.hex())
            commitment = "" if row is None else row.subject_commitment
    refusal = Refusal(
        requester=message["requester"],
        sig_type=sig_type,
        signed_at=message["signedAt"],
        nonce=message["nonce"],
        signature=signature,
        request=doc,
        reason=exc.code,
        purpose=str(doc["purpose"]),
        subject_commitment=commitment,
        subject_digest=message["subjectDigest"].hex() if subject is not None else None,
        record=None if record_id is None else record_id.hex(),
        categories=list(doc["categories"]),
        grant=None if doc["grant_id"] is None else hex0x(message["grantId"]),
        extra=extra or {},
    )
    log_refusal(gw, committer, refusal, exc)


def audit_refusal(
    doc: dict[str, Any], exc: GatewayError, auditor: bytes, signature: bytes
) -> Refusal:
    """The refusal of an ``AuditQuery`` (``doc``, already checked) whose signature checked
    out: a suspended organisation, or one that is not an auditor."""
    return Refusal(
        requester=auditor,
        sig_type="AuditQuery",
        signed_at=doc["signed_at"],
        nonce=bytes.fromhex(doc["nonce"][2:]),
        signature=signature,
        request=doc,
        reason=str(exc.extra.get("reason", exc.code)),
        purpose=AUDIT_PURPOSE,
    )
