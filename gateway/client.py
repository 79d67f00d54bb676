"""Python client SDK for data-source departments (``docs/formats.md`` §2-§4, §7).

::

    client = DepartmentClient("https://credit.yulin.example", account, org_id,
                              chain_id=31337, membership="0x…")
    receipts = client.submit([record1, record2])   # one CreditRecordBatch signature
    bundle = client.proof(receipts[0]["leaf_hash"])

:func:`build_submission` is the pure part — salts, commitments, the one EIP-712 signature
and the request body — so tests and implementers in other languages can see exactly what
goes on the wire. :class:`DepartmentClient` adds the clock, the randomness and HTTP.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import httpx
from eth_account.signers.local import LocalAccount

from gateway.domain.canonical import canonicalize, parse_json
from gateway.domain.envelope import SALT_BYTES
from gateway.domain.errors import CanonicalizationError
from gateway.domain.records import (
    SIGNATURE_SCHEME,
    batch_root,
    commitment,
    hex0x,
)
from gateway.domain.requests import (
    LogRequest,
    OfficeRequest,
    SubjectQuery,
    SubjectRequest,
    SubjectSession,
    subject_digest,
)
from gateway.domain.signing import (
    SESSION_MAX_SECONDS,
    SigningDomain,
    TypedSigner,
    fast_typed_signer,
    signing_domain,
)

__all__ = [
    "PROBLEM_JSON",
    "SESSION_MAX_SECONDS",
    "ClientError",
    "DepartmentClient",
    "ReaderClient",
    "SubjectClient",
    "build_log_request",
    "build_office_request",
    "build_subject_query",
    "build_subject_request",
    "build_subject_session",
    "build_submission",
    "build_transition",
    "check_receipt_signature",
    "find_grant",
    "grant_params",
    "subject_ref",
]

PROBLEM_JSON: Final = "application/problem+json"
NONCE_BYTES: Final = 32
if TYPE_CHECKING:
    from gateway.domain.records import Receipt
    from gateway.receipts import ReceiptStore
    from node import Grant, GrantParams, GrantsClient, MembershipClient

_RECORD_ID: Final = re.compile(r"[0-9a-f]{64}")


class ClientError(Exception):
    """The gateway answered with an error: ``status`` is the HTTP status and ``problem``
    the RFC 9457 problem document (synthesised from the status when the body is not
    ``application/problem+json``)."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem: dict[str, Any] = dict(problem)
        title = self.problem.get("title") or "request failed"
        detail = self.problem.get("detail")
        super().__init__(f"HTTP {status}: {title}" + (f": {detail}" if detail else ""))

    @property
    def type(self) -> str:
        """The problem ``type`` URI (``about:blank`` when absent)."""
        return str(self.problem.get("type", "about:blank"))


def build_submission(
    records: Sequence[Mapping[str, Any]],
    salts: Sequence[bytes],
    *,
    org_id: bytes,
    signed_at: int,
    nonce: bytes,
    sign: TypedSigner,
) -> dict[str, Any]:
    """The ``POST /v1/records`` body for ``records`` (formats.md §4). Pure.

    Each record is a §2 object (sent as given: identifiers must already be normalised);
    ``salts[i]`` is its 32-byte salt. One record is signed as ``CreditRecord``, several as
    one ``CreditRecordBatch`` over the RFC 9162 root of their commitments.

    Raises:
        ValueError: no records, a salt/record count mismatch, a bad salt, nonce or org id,
            or a record whose ``org`` is not ``org_id``.
        CanonicalizationError: a record outside the I-JSON domain.
    """
    if not records:
        raise ValueError("nothing to submit")
    if len(salts) != len(records):
        raise ValueError(f"{len(records)} records but {len(salts)} salts")
    if not isinstance(org_id, bytes) or len(org_id) != 32:
        raise ValueError("org id must be 32 bytes")
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    for i, record in enumerate(records):
        if record.get("org") != hex0x(org_id):
            raise ValueError(f"record {i} names org {record.get('org')!r}, not {hex0x(org_id)}")
    commitments = [commitment(r, s) for r, s in zip(records, salts, strict=True)]
    message: dict[str, object]
    if len(records) == 1:
        sig_type = "CreditRecord"
        message = {
            "org": org_id,
            "category": str(records[0].get("category")),
            "commitment": commitments[0],
            "signedAt": signed_at,
            "nonce": nonce,
        }
    else:
        sig_type = "CreditRecordBatch"
        message = {
            "org": org_id,
            "root": batch_root(commitments),
            "count": len(records),
            "signedAt": signed_at,
            "nonce": nonce,
        }
    value = sign(sig_type, message)
    return {
        "records": [
            {"record": dict(r), "salt": s.hex()} for r, s in zip(records, salts, strict=True)
        ],
        "signature": {
            "scheme": SIGNATURE_SCHEME,
            "type": sig_type,
            "org": hex0x(org_id),
            "signed_at": signed_at,
            "nonce": hex0x(nonce),
            "value": hex0x(value),
        },
    }


class DepartmentClient:
    """Submit signed records to a gateway and fetch their proof bundles.

    ``account`` holds the org's current signing key (as registered in ``Membership``);
    ``chain_id`` and ``membership`` fix the EIP-712 domain. ``clock`` (Unix seconds) and
    ``rng`` (secure random bytes) are injectable for tests. Transport failures surface as
    :class:`httpx.HTTPError`; error answers from the gateway as :class:`ClientError`.
    """

    def __init__(
        self,
        base_url: str,
        account: LocalAccount,
        org_id: bytes,
        *,
        chain_id: int,
        membership: str,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
        receipt_store: ReceiptStore | None = None,
    ) -> None:
        if not isinstance(org_id, bytes) or len(org_id) != 32:
            raise ValueError("org id must be 32 bytes")
        self.base_url = base_url.rstrip("/")
        self.account = account
        self.org_id = org_id
        self.domain: SigningDomain = signing_domain(chain_id, membership)
        self._sign = fast_typed_signer(account, self.domain)
        self._http = http if http is not None else httpx.Client(timeout=30.0)
        self._owns_http = http is None
        self._clock = clock
        self._rng = rng
        self.receipt_store = receipt_store
        """Keeps every receipt this client is given (opt-in; :mod:`gateway.receipts`)."""

    def _keep(self, receipts: Sequence[Mapping[str, Any]]) -> None:
        if self.receipt_store is not None:
            self.receipt_store.add(self.base_url, receipts)

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> DepartmentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _random(self, size: int) -> bytes:
        value = self._rng(size)
        if not isinstance(value, bytes) or len(value) != size:
            raise ValueError(f"rng must return exactly {size} bytes")
        return value

    def build(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The request body :meth:`submit` would send (fresh salts, nonce and time)."""
        for record in records:
            canonicalize(record)  # fail before drawing randomness for an unusable record
        salts = [self._random(SALT_BYTES) for _ in records]
        return build_submission(
            records,
            salts,
            org_id=self.org_id,
            signed_at=int(self._clock()),
            nonce=self._random(NONCE_BYTES),
            sign=self._sign,
        )

    def submit(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Sign and submit ``records``; return their receipts in record order.

        Raises:
            ClientError: the gateway refused (its problem document is attached), or
                answered with something other than one receipt per record.
        """
        body = self.build(records)
        response = self._http.post(f"{self.base_url}/v1/records", json=body)
        answer = self._answer(response, ok=(200, 201))
        receipts = answer.get("receipts")
        if not isinstance(receipts, list) or len(receipts) != len(records):
            raise ClientError(
                response.status_code,
                {
                    "title": "unexpected answer",
                    "detail": f"expected {len(records)} receipts",
                },
            )
        self._keep(receipts)
        return receipts

    def proof(self, record_id: str, *, opening: bool = True) -> dict[str, Any]:
        """The record's proof bundle (§7), or ``{"status": "pending", "receipt": …}``
        while its anchor does not exist yet (HTTP 202).

        With ``opening`` (the default) the request is a signed ``ProofRequest`` and the bundle
        carries the record and its salt — only for the submitting department. Without, the
        public commitment-only bundle.

        Raises:
            ClientError: the gateway refused or does not know the record.
        """
        if not isinstance(record_id, str) or _RECORD_ID.fullmatch(record_id) is None:
            raise ValueError("record id must be 64 lowercase hex digits")
        url = f"{self.base_url}/v1/records/{record_id}/proof"
        if not opening:
            return self._answer(self._http.get(url), ok=(200, 202))
        signed_at, nonce = int(self._clock()), self._random(NONCE_BYTES)
        value = self._sign(
            "ProofRequest",
            {
                "org": self.org_id,
                "recordId": bytes.fromhex(record_id),
                "signedAt": signed_at,
                "nonce": nonce,
            },
        )
        body = {
            "org": hex0x(self.org_id),
            "signed_at": signed_at,
            "nonce": hex0x(nonce),
            "value": hex0x(value),
        }
        return self._answer(self._http.post(url, json=body), ok=(200, 202))

    @staticmethod
    def _answer(response: httpx.Response, *, ok: tuple[int, ...]) -> dict[str, Any]:
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        if response.status_code not in ok:
            problem: dict[str, Any] = {
                "title": response.reason_phrase or "error",
                "status": response.status_code,
            }
            if content_type == PROBLEM_JSON:
                try:
                    parsed = parse_json(response.content)
                except CanonicalizationError:
                    parsed = None
                if isinstance(parsed, dict):
                    problem = parsed
            else:
                problem["detail"] = response.text[:500]
            raise ClientError(response.status_code, problem)
        try:  # strict and depth-bounded: the answer is untrusted input too
            data = parse_json(response.content)
        except CanonicalizationError:
            data = None
        if not isinstance(data, dict):
            raise ClientError(
                response.status_code,
                {
                    "title": "unexpected answer",
                    "detail": "the body is not a JSON object",
                },
            )
        return data


class ReaderClient:
    """Read credit records as a member organisation (bank, department, partner city) under a
    grant, for a stated purpose: signed ``ReadRequest`` s (docs/formats.md §9).

    :meth:`read` returns the gateway's answer (released fields and the signed access receipt);
    a denial raises :class:`ClientError` whose problem names the ``reason`` and carries the
    ``access_receipt`` — denials are logged too.
    """

    def __init__(
        self,
        base_url: str,
        account: LocalAccount,
        org_id: bytes,
        *,
        chain_id: int,
        membership: str,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
        receipt_store: ReceiptStore | None = None,
    ) -> None:
        self._client = DepartmentClient(
            base_url,
            account,
            org_id,
            chain_id=chain_id,
            membership=membership,
            http=http,
            clock=clock,
            rng=rng,
            receipt_store=receipt_store,
        )

    def close(self) -> None:
        self._client.close()

    def build(
        self,
        *,
        purpose: str,
        categories: Sequence[str],
        category_mask: int,
        subject: Mapping[str, str] | None = None,
        record_id: str | None = None,
        grant_id: bytes | None = None,
    ) -> dict[str, Any]:
        """The signed body of a read (``category_mask``: the catalog bits of ``categories``)."""
        from eth_utils.crypto import keccak

        c = self._client
        salt = c._random(SALT_BYTES) if subject is not None else None
        digest = (
            _subject_digest(salt, subject)
            if subject is not None and salt is not None
            else b"\x00" * 32
        )
        signed_at, nonce = int(c._clock()), c._random(NONCE_BYTES)
        value = c._sign(
            "ReadRequest",
            {
                "requester": c.org_id,
                "subjectDigest": digest,
                "recordId": bytes.fromhex(record_id) if record_id else b"\x00" * 32,
                "purpose": keccak(text=purpose),
                "categories": category_mask,
                "grantId": grant_id or b"\x00" * 32,
                "signedAt": signed_at,
                "nonce": nonce,
            },
        )
        return {
            "requester": hex0x(c.org_id),
            "subject": dict(subject) if subject else None,
            "subject_salt": salt.hex() if salt else None,
            "record_id": record_id,
            "purpose": purpose,
            "categories": list(categories),
            "grant_id": hex0x(grant_id) if grant_id else None,
            "signed_at": signed_at,
            "nonce": hex0x(nonce),
            "signature": hex0x(value),
        }

    def read(self, **kwargs: Any) -> dict[str, Any]:
        body = self.build(**kwargs)
        c = self._client
        try:
            answer = c._answer(c._http.post(f"{c.base_url}/v1/reads", json=body), ok=(200,))
        except ClientError as exc:  # a denial is logged too: keep its access receipt
            receipt = exc.problem.get("access_receipt")
            if isinstance(receipt, dict):
                c._keep([receipt])
            raise
        if isinstance(answer.get("access_receipt"), dict):
            c._keep([answer["access_receipt"]])
        return answer

    def read_cross_city(
        self, target_city: int, x25519_private: bytes, **kwargs: Any
    ) -> dict[str, Any]:
        """Read ``target_city``'s records through this (home) gateway, the answer opened
        here with ``x25519_private`` (gateway/federated_client.py; formats.md §13)."""
        from gateway.federated_client import CrossCityReader

        c = self._client
        return CrossCityReader(
            c.base_url,
            c.account,
            c.org_id,
            x25519_private,
            chain_id=c.domain.chain_id,
            membership=c.domain.verifying_contract,
            http=c._http,
            clock=c._clock,
            rng=c._rng,
            receipt_store=c.receipt_store,
        ).read(target_city=target_city, **kwargs)


# ---------------------------------------------------------------------------------------
# Lifecycle (formats.md §10)


def build_transition(
    key: LocalAccount,
    *,
    chain_id: int,
    record_status: str,
    record_id: str,
    origin: str,
    current: str,
    to: str,
    version: int,
    actor: bytes,
    reason: str,
    deadline: int,
    successor: str | None = None,
    note: str | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> dict[str, Any]:
    """The ``POST /v1/records/{id}/status`` body: the actor's EIP-712 signature over the
    ``RecordStatus`` transition whose evidence is the hash of the status event. ``current``,
    ``version`` and ``origin`` come from ``GET /v1/records/{id}/status``. The free texts
    ``reason`` and ``note`` are signed (and logged, and sent on chain) as salted commitments
    (``text_commitment``; fresh salts from ``rng``, sent along for the gateway to check)."""
    from gateway.domain.lifecycle import event_hash, status_event, text_commitment
    from node import StatusCode, StatusTransition, sign_transition

    reason_salt = rng(SALT_BYTES)
    note_salt = None if note is None else rng(SALT_BYTES)
    event = status_event(
        record_id=record_id,
        origin=origin,
        current=current,
        to=to,
        successor=successor,
        reason=text_commitment(reason_salt, reason),
        actor=hex0x(actor),
        version=version,
        note=None if note is None or note_salt is None else text_commitment(note_salt, note),
    )
    t = StatusTransition(
        record_id=bytes.fromhex(record_id),
        origin=bytes.fromhex(origin.removeprefix("0x")),
        to=StatusCode[to.upper()],
        successor=bytes.fromhex(successor) if successor else b"\x00" * 32,
        reason=bytes.fromhex(event["reason"]),
        evidence=event_hash(event),
        actor=actor,
        version=version,
        deadline=deadline,
    )
    signature = sign_transition(key, chain_id, record_status, t)
    return {
        "to": to,
        "successor": successor,
        "reason": reason,
        "reason_salt": reason_salt.hex(),
        "note": note,
        "note_salt": None if note_salt is None else note_salt.hex(),
        "actor": hex0x(actor),
        "version": version,
        "deadline": deadline,
        "signature": hex0x(signature),
    }


def build_subject_request(
    key: LocalAccount,
    *,
    chain_id: int,
    membership: str,
    subject: Mapping[str, str],
    record_id: str,
    action: str,
    details: Mapping[str, Any],
    signed_at: int,
    nonce: bytes,
    salt: bytes,
    session: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A subject's signed ``SubjectRequest`` (``action``: ``objection`` or ``repair``), with
    the key bound to the subject in ``Grants`` or a session key (``session``, from
    :func:`build_subject_session`)."""
    values: dict[str, Any] = {
        "subject": subject,
        "subject_salt": salt,
        "details": details,
        "signed_at": signed_at,
        "nonce": nonce,
        "session": session,
    }
    sign = fast_typed_signer(key, signing_domain(chain_id, membership))
    return SubjectRequest.build(sign, values, record_id=bytes.fromhex(record_id), action=action)


_subject_digest = subject_digest  # the read builder's name for it (gateway/domain/requests.py)


def build_subject_session(
    office_key: LocalAccount,
    *,
    chain_id: int,
    membership: str,
    issuer: bytes,
    subject: Mapping[str, str],
    session_key: str,
    issued_at: int,
    ttl: int,
    salt: bytes,
) -> dict[str, Any]:
    """A credit office's ``SubjectSession``: it certifies ``session_key`` to act for
    ``subject`` from ``issued_at`` for ``ttl`` seconds (at most :data:`SESSION_MAX_SECONDS`),
    signed with the office's current key (``issuer`` is the office's org id)."""
    if not 0 < ttl <= SESSION_MAX_SECONDS:
        raise ValueError(f"a session lasts 1 to {SESSION_MAX_SECONDS} s, not {ttl}")
    sign = fast_typed_signer(office_key, signing_domain(chain_id, membership))
    values = {
        "issuer": issuer,
        "session_key": session_key,
        "subject_salt": salt,
        "issued_at": issued_at,
        "expires_at": issued_at + ttl,
    }
    return SubjectSession.build(sign, values, subject=subject)


def build_subject_query(
    key: LocalAccount,
    *,
    chain_id: int,
    membership: str,
    subject: Mapping[str, str],
    action: str,
    signed_at: int,
    nonce: bytes,
    salt: bytes,
    session: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A subject's signed ``SubjectQuery`` for ``action`` — ``"accesses"`` (``POST
    /v1/subjects/accesses``) or ``"records"`` (``/v1/subjects/records``): the signature is
    good at that route only — by the key bound in ``Grants`` or by a session key with its
    ``session``.

    Raises:
        ValueError: an unknown action.
    """
    if action not in SUBJECT_QUERY_ACTIONS:
        raise ValueError(f"a subject query's action is one of {SUBJECT_QUERY_ACTIONS}")
    values = {
        "subject": subject,
        "subject_salt": salt,
        "signed_at": signed_at,
        "nonce": nonce,
        "session": session,
    }
    sign = fast_typed_signer(key, signing_domain(chain_id, membership))
    return SubjectQuery.build(sign, values, action=action)


SUBJECT_QUERY_ACTIONS: Final = ("accesses", "records")
"""The ``action`` of a ``SubjectQuery``: the ``/v1/subjects/<action>`` route it is good for."""


class SubjectClient:
    """A data subject's client: who read my file, my file, objections and repair
    applications. ``key`` is the key bound to the subject in ``Grants`` or, with
    ``session`` (from a credit office, :func:`build_subject_session`), the session key."""

    def __init__(
        self,
        base_url: str,
        key: LocalAccount,
        subject: Mapping[str, str],
        *,
        chain_id: int,
        membership: str,
        session: Mapping[str, Any] | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.subject = dict(subject)
        self.session = None if session is None else dict(session)
        self.chain_id, self.membership = chain_id, membership
        self._http = http if http is not None else httpx.Client(timeout=30.0)
        self._owns_http = http is None
        self._clock = clock
        self._rng = rng

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> SubjectClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, action: str) -> dict[str, Any]:
        body = build_subject_query(
            self.key,
            chain_id=self.chain_id,
            membership=self.membership,
            subject=self.subject,
            action=action,
            signed_at=int(self._clock()),
            nonce=self._rng(NONCE_BYTES),
            salt=self._rng(SALT_BYTES),
            session=self.session,
        )
        response = self._http.post(f"{self.base_url}/v1/subjects/{action}", json=body)
        return DepartmentClient._answer(response, ok=(200,))

    def accesses(self) -> dict[str, Any]:
        """Every access decision about the subject, each with its inclusion proof."""
        return self._query("accesses")

    def records(self) -> dict[str, Any]:
        """The subject's own file, whatever each record's status."""
        return self._query("records")

    def _request(self, record_id: str, action: str, details: Mapping[str, Any]) -> dict[str, Any]:
        body = build_subject_request(
            self.key,
            chain_id=self.chain_id,
            membership=self.membership,
            subject=self.subject,
            record_id=record_id,
            action=action,
            details=details,
            signed_at=int(self._clock()),
            nonce=self._rng(NONCE_BYTES),
            salt=self._rng(SALT_BYTES),
            session=self.session,
        )
        path = "objections" if action == "objection" else "repairs"
        response = self._http.post(f"{self.base_url}/v1/records/{record_id}/{path}", json=body)
        return DepartmentClient._answer(response, ok=(200, 201))

    def object(self, record_id: str, reason: str, evidence_hash: str) -> dict[str, Any]:
        """File an objection (``evidence_hash``: hex SHA-256 of the evidence)."""
        return self._request(
            record_id, "objection", {"reason": reason, "evidence_hash": evidence_hash}
        )

    def apply_repair(self, record_id: str, reason: str) -> dict[str, Any]:
        """Apply for credit repair of a record."""
        return self._request(record_id, "repair", {"reason": reason})


def build_office_request(
    key: LocalAccount,
    *,
    chain_id: int,
    membership: str,
    org_id: bytes,
    action: str,
    target: bytes,
    details: Mapping[str, Any],
    signed_at: int,
    nonce: bytes,
) -> dict[str, Any]:
    """A credit office's signed ``OfficeRequest`` (``legal-hold``, ``reject-repair``,
    ``list-objections``); ``target`` is the record id, the repair id (big-endian), or zero."""
    sign = fast_typed_signer(key, signing_domain(chain_id, membership))
    values = {"org": org_id, "details": details, "signed_at": signed_at, "nonce": nonce}
    return OfficeRequest.build(sign, values, action=action, target=target)


def build_log_request(
    sign: TypedSigner,
    *,
    org_id: bytes,
    action: str,
    start: int,
    end: int,
    signed_at: int,
    nonce: bytes,
) -> dict[str, Any]:
    """A signed ``LogRequest`` (formats §9.2): ``action`` is ``entries/records``,
    ``entries/access`` (POST ``/v1/logs/{log}/entries``) or ``index/access`` (POST
    ``/v1/logs/access/index``); ``sign`` is a :data:`TypedSigner` of the org's key."""
    values = {"org": org_id, "start": start, "end": end, "signed_at": signed_at, "nonce": nonce}
    return LogRequest.build(sign, values, action=action)


# ---------------------------------------------------------------------------------------
# Grants (Grants.sol) and reads end to end: what `creditchain grant` and `creditchain read`
# use. A grant names its subject by the peppered commitment (formats.md §3), never in clear.


def subject_ref(pepper: bytes, subject: Mapping[str, str]) -> bytes:
    """The on-chain ``subject`` of a grant: ``HMAC-SHA256(pepper, kind ":" id)`` of the
    normalised identifier (the network pepper is shared by the consortium's members).

    Raises:
        InvalidIdentifier: ``subject`` is not a valid identifier of its kind.
    """
    from gateway.domain.identifiers import parse_subject_id, subject_commitment

    return subject_commitment(pepper, parse_subject_id(subject["id"], kind=subject["kind"]))  # type: ignore[arg-type]


def grant_params(
    *,
    subject: bytes | None,
    grantee: bytes,
    purpose: str,
    category_mask: int,
    valid_from: int,
    valid_until: int,
    statutory: bool,
    evidence: bytes,
) -> GrantParams:
    """The parameters of a consent grant (``subject``: :func:`subject_ref`) or a statutory
    grant (``subject`` may be ``None``: any subject). ``evidence`` is hashed (SHA-256) into
    ``evidenceHash``: the signed consent form or the legal basis, kept off chain."""
    from node import GrantBasis, GrantParams, purpose_id

    if subject is None and not statutory:
        raise ValueError("a consent grant names its subject; only a statutory one may not")
    return GrantParams(
        subject=subject if subject is not None else b"\x00" * 32,
        grantee=grantee,
        purpose=purpose_id(purpose),
        categories=category_mask,
        valid_from=valid_from,
        valid_until=valid_until,
        basis=GrantBasis.STATUTORY if statutory else GrantBasis.CONSENT,
        evidence_hash=hashlib.sha256(evidence).digest(),
    )


def find_grant(
    grants: GrantsClient,
    *,
    grantee: bytes,
    purpose: str,
    category_mask: int,
    subject: bytes | None,
    at: int,
) -> Grant | None:
    """The newest grant on chain that lets ``grantee`` read ``subject`` (or, with ``None``,
    any subject) for ``purpose`` and every category of ``category_mask`` at time ``at``: live
    (not revoked, within its validity), naming that subject or any subject."""
    from node import purpose_id

    wanted = purpose_id(purpose)
    for grant_id in reversed(grants.grant_ids(grantee=grantee)):
        g = grants.grant(grant_id)
        if g.revoked or not g.valid_from <= at < g.valid_until or g.purpose != wanted:
            continue
        if g.categories & category_mask != category_mask:
            continue
        if g.subject != b"\x00" * 32 and g.subject != subject:
            continue
        return g
    return None


def check_receipt_signature(
    receipt: Mapping[str, Any],
    *,
    membership: MembershipClient,
    domain: SigningDomain,
    gateway: bytes | None = None,
) -> Receipt:
    """Parse a §6 receipt and check that it is signed by its gateway org's signer in force at
    ``received_at`` (``Membership.keysAt``) — and, with ``gateway``, that it is that gateway's.
    Whether its leaf is in the anchored log is :func:`gateway.receipts.verify_receipts`' job,
    once ``anchor_by`` has passed.

    Raises:
        ReceiptUnverified: another gateway's receipt, or not signed by the gateway's key.
        MalformedObject: not a receipt.
    """
    from gateway.domain.records import parse_receipt, receipt_signer
    from gateway.errors import ReceiptUnverified

    r = parse_receipt(dict(receipt))
    if gateway is not None and r.gateway != gateway:
        raise ReceiptUnverified(
            f"the receipt is gateway {hex0x(r.gateway)}'s, not {hex0x(gateway)}'s"
        )
    expected = membership.keys_at(r.gateway, r.received_at).signer
    if receipt_signer(r, domain).lower() != expected.lower():
        raise ReceiptUnverified(
            f"the receipt is not signed by gateway {hex0x(r.gateway)}'s registered key"
        )
    return r
