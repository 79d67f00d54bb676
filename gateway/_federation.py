"""Cross-city reads (DESIGN §5 flow 7; issue 10 item 3; docs/formats.md §13).

A requester of city A signs a ``RemoteReadRequest`` naming a subject or record held by city B
and sends it to its home gateway A (``POST /v1/federation/reads``). A checks the requester
(signature, active member of A's city), finds B's gateway in the on-chain Directory and
forwards the request in a ``ForwardedRead`` signed by A's gateway key
(``POST /v1/federation/forward`` at B). B checks the forward (A is an active Gateway org) and
then decides the read with **the local read's code** (:meth:`gateway._reads.Reader.read` with
a :class:`RemoteRead` hook: the requester's own signature, active member of A's city, the
target city, the encryption key registered for the requester, the grant, record status and
disclosure period), logs the decision in its access log first, and answers with the released
fields sealed to the requester's registered X25519 key (:mod:`gateway.domain.sealed`, bound
to the request hash). A logs the forward — requester, target city, request hash, B's receipt
hash, outcome — in its own access log (entry kind ``forward``) and relays B's answer; A cannot
open it.

The request hash is ``SHA-256(JCS(the requester's signed body))``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from gateway._access_index import TAG_SALT_BYTES, subject_tag
from gateway._group_commit import PendingAccess
from gateway._reads import _READ_MEMBERS, Reader, _strict, _subject
from gateway._refusals import Refusal, log_refusal
from gateway._service import MemberCache, parse_body
from gateway._subjects import subject_digest
from gateway.domain.canonical import canonicalize
from gateway.domain.errors import DomainError
from gateway.domain.identifiers import subject_commitment
from gateway.domain.policy import purpose_id
from gateway.domain.records import (
    hex0x,
    log_id,
    parse_hex,
    parse_receipt,
    receipt_signer,
)
from gateway.domain.sealed import seal_to
from gateway.domain.signing import fast_recover_typed, fast_typed_signer
from gateway.errors import (
    CrossCityRefused,
    EncryptionKeyMismatch,
    GatewayError,
    MalformedRequest,
    NotAGateway,
    OrgSuspended,
    PartnerTimeout,
    PartnerUnavailable,
    PartnerUnknown,
    ReplayedRequest,
    RequesterNotOfCity,
    WrongTargetCity,
)
from node import ContractRevert, DirectoryClient, DirectoryEntry

REMOTE_TYPE = "RemoteReadRequest"
FORWARD_TYPE = "ForwardedRead"
FORWARD_PURPOSE = "cross-city-forward"
"""The ``purpose`` of a refused forward's access decision (the forward itself was refused)."""
_REMOTE_MEMBERS = frozenset({"target_city", "encryption_key"})
_FORWARD_MEMBERS = {
    "request",
    "from_gateway",
    "to_city",
    "request_hash",
    "forwarded_at",
    "nonce",
    "signature",
}
DEFAULT_TIMEOUT = 10.0


def request_hash(doc: object) -> bytes:
    """SHA-256 of the JCS form of the requester's signed request body."""
    return hashlib.sha256(canonicalize(doc)).digest()


def _city(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if type(value) is not int or not 0 < value < 2**32:
        raise MalformedRequest(f"{name} is a GB/T 2260 city code", pointer=f"/{name}")
    return value


@dataclass
class RemoteRead:
    """The hook :meth:`Reader.read` takes for a forwarded read (B's side)."""

    orgs: MemberCache
    from_city: int
    to_city: int
    from_gateway: bytes
    request_hash: bytes
    sig_type: str = REMOTE_TYPE
    members: frozenset[str] = _REMOTE_MEMBERS
    entry: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.entry = {
            "cross_city": {
                "from_city": self.from_city,
                "from_gateway": hex0x(self.from_gateway),
                "to_city": self.to_city,
                "request_hash": self.request_hash.hex(),
            }
        }

    def message(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The members the requester signed beyond a ReadRequest's."""
        key = parse_hex(doc["encryption_key"], size=32, prefixed=True, pointer="/encryption_key")
        return {"targetCity": _city(doc, "target_city"), "encryptionKey": key}

    def check(self, requester: bytes, message: dict[str, Any]) -> None:
        """After the requester's signature checked out: its city, the target, its key."""
        if message["targetCity"] != self.to_city:
            raise WrongTargetCity(f"the request is for city {message['targetCity']}")
        org = self.orgs.get(requester)
        if org.city != self.from_city:
            raise RequesterNotOfCity(
                f"the requester is of city {org.city}, not {self.from_city} "
                "(the forwarding gateway's)"
            )
        registered = org.encryption_key
        if registered != message["encryptionKey"]:
            self.orgs.forget(requester)  # maybe rotated moments ago: ask the chain again
            registered = self.orgs.get(requester).encryption_key
        if registered != message["encryptionKey"]:
            raise EncryptionKeyMismatch("the encryption key is not the requester's registered one")
        self.entry["cross_city"]["encryption_key"] = hex0x(registered)


class DirectoryCache:
    """The Directory's gateway of a city, reused for ``ttl`` seconds like the gateway's
    Membership answers (:class:`gateway._service.MemberCache`): a forward makes no chain call
    for it while fresh; a partner that fails is forgotten at once (asked again next time)."""

    def __init__(
        self, directory: DirectoryClient, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.directory, self.ttl, self.clock = directory, ttl, clock
        self._entries: dict[int, tuple[float, DirectoryEntry]] = {}
        self._lock = threading.Lock()

    def gateway_of_city(self, city: int) -> DirectoryEntry:
        """ContractRevert (NoGatewayForCity, GatewayNotActive) as the Directory's own."""
        with self._lock:
            hit = self._entries.get(city)
        if hit is not None and self.clock() - hit[0] < self.ttl:
            return hit[1]
        asked_at = self.clock()
        entry = self.directory.gateway_of_city(city)
        with self._lock:
            self._entries[city] = (asked_at, entry)
        return entry

    def forget(self, city: int) -> None:
        with self._lock:
            self._entries.pop(city, None)


class Federation:
    """Both sides of cross-city reads for one gateway. Membership and Directory answers come
    from caches as fresh as the gateway's own checks of local requests (``members.ttl``)."""

    def __init__(
        self,
        reader: Reader,
        directory: DirectoryClient,
        *,
        http: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.reader = reader
        self.gw = reader.gw
        self.directory = DirectoryCache(directory, self.gw.members.ttl)
        self.members = self.gw.members
        self.membership = self.gw.deployment.membership(self.gw.chain)
        self.timeout = timeout
        self.http = http or httpx.Client(timeout=timeout)
        self._sign = fast_typed_signer(self.gw.secrets.signer.key, self.gw.domain)
        self.city = self.membership.org(self.gw.gateway_org).city

    # -- B: a partner's forward --------------------------------------------------------------

    def receive(self, body: bytes) -> dict[str, Any]:
        """Check a ``ForwardedRead``, decide its read like a local one (logged first), and
        answer with the released fields sealed to the requester's registered key."""
        gw = self.gw
        doc = _strict(body)
        missing, extra = _FORWARD_MEMBERS - set(doc), set(doc) - _FORWARD_MEMBERS
        if missing or extra:
            raise MalformedRequest(
                f"forward members: missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        request = doc["request"]
        if not isinstance(request, dict):
            raise MalformedRequest("request is the requester's signed body", pointer="/request")
        rhash = request_hash(request)
        claimed = parse_hex(doc["request_hash"], size=32, prefixed=True, pointer="/request_hash")
        if claimed != rhash:
            raise MalformedRequest("request_hash is not the request's", pointer="/request_hash")
        from_gateway = parse_hex(
            doc["from_gateway"], size=32, prefixed=True, pointer="/from_gateway"
        )
        nonce = parse_hex(doc["nonce"], size=32, prefixed=True, pointer="/nonce")
        signature = parse_hex(doc["signature"], size=65, prefixed=True, pointer="/signature")
        forwarded_at = doc["forwarded_at"]
        if type(forwarded_at) is not int or forwarded_at < 0:
            raise MalformedRequest(
                "forwarded_at is a non-negative integer", pointer="/forwarded_at"
            )
        to_city = _city(doc, "to_city")
        gw._check_window(forwarded_at)
        message = {
            "fromGateway": from_gateway,
            "toCity": to_city,
            "requestHash": rhash,
            "forwardedAt": forwarded_at,
            "nonce": nonce,
        }
        signer = fast_recover_typed(gw.domain, FORWARD_TYPE, message, signature)
        refusal = Refusal(
            requester=from_gateway,
            sig_type=FORWARD_TYPE,
            signed_at=forwarded_at,
            nonce=nonce,
            signature=signature,
            request=doc,
            reason="",
            purpose=FORWARD_PURPOSE,
            subject_commitment="00" * 32,
            extra={"cross_city": {"to_city": to_city, "request_hash": rhash.hex()}},
        )
        try:
            info = gw._check_signer(from_gateway, signer, forwarded_at)
            if info.kind != "gateway":
                raise NotAGateway(f"org {hex0x(from_gateway)} is a {info.kind}, not a gateway")
            if to_city != self.city:
                raise WrongTargetCity(f"this gateway is city {self.city}'s, not {to_city}'s")
            remote = RemoteRead(self.members, info.city, self.city, from_gateway, rhash)
            answer = self.reader.read(canonicalize(request), remote=remote)
        except DomainError as exc:  # e.g. a malformed requester signature: refused, logged
            wrapped = MalformedRequest(f"the forwarded request is refused: {exc}")
            log_refusal(gw, self.reader.committer, replace(refusal, reason=exc.code), wrapped)
            raise wrapped from exc
        except GatewayError as exc:
            # the forward's signature checked out: every refusal is a logged access decision
            # (those the read logged itself carry their receipt already)
            if "access_receipt" not in exc.extra:
                log_refusal(gw, self.reader.committer, replace(refusal, reason=exc.code), exc)
            raise
        key = remote.entry["cross_city"]["encryption_key"]
        plaintext = canonicalize({"records": answer["records"]})
        return {
            "decision": "allow",
            "city": self.city,
            "request_hash": hex0x(rhash),
            "sealed": seal_to(bytes.fromhex(key[2:]), plaintext, rhash),
            "access_receipt": answer["access_receipt"],
        }

    # -- A: a member's request for another city -----------------------------------------------

    def forward(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Check a member's ``RemoteReadRequest``, forward it to the target city's gateway,
        log the forward (whatever the outcome) and relay the answer: (HTTP status, body)."""
        gw = self.gw
        doc = _strict(body)
        message, subject_tag_input = self._remote_message(doc)
        requester, target = message["requester"], message["targetCity"]
        signature = parse_hex(doc["signature"], size=65, prefixed=True, pointer="/signature")
        gw._check_window(message["signedAt"])
        signer = fast_recover_typed(gw.domain, REMOTE_TYPE, message, signature)
        rhash = request_hash(doc)
        try:
            gw._check_signer(requester, signer, message["signedAt"])
            if self.members.get(requester).city != self.city:
                raise RequesterNotOfCity("send a cross-city read through your own city's gateway")
            if target == self.city:
                raise WrongTargetCity("a read of this city's records goes to /v1/reads")
        except (OrgSuspended, CrossCityRefused) as exc:  # signature checked out: logged here
            refusal = Refusal(
                requester=requester,
                sig_type=REMOTE_TYPE,
                signed_at=message["signedAt"],
                nonce=message["nonce"],
                signature=signature,
                request=doc,
                reason=exc.code,
                purpose=str(doc["purpose"]),
                subject_commitment=subject_tag_input.hex(),
                subject_digest=message["subjectDigest"].hex() if doc["subject"] else None,
                record=doc["record_id"],
                categories=list(doc["categories"]),
                grant=doc["grant_id"],
                extra={"cross_city": {"to_city": target, "request_hash": rhash.hex()}},
            )
            log_refusal(gw, self.reader.committer, refusal, exc)
            raise
        log = _ForwardLog(self, doc, message, signature, rhash, subject_tag_input)
        try:
            entry = self.directory.gateway_of_city(target)
        except ContractRevert as exc:
            unknown = PartnerUnknown(f"no active gateway is listed for city {target}", city=target)
            unknown.extra["forward_receipt"] = log.commit("failed", unknown.code, None, None)
            raise unknown from exc
        log.partner = entry.gateway_org
        now = int(gw.clock())
        fnonce = gw.rng(32)
        fwd_message = {
            "fromGateway": gw.gateway_org,
            "toCity": target,
            "requestHash": rhash,
            "forwardedAt": now,
            "nonce": fnonce,
        }
        forward = {
            "request": doc,
            "from_gateway": hex0x(gw.gateway_org),
            "to_city": target,
            "request_hash": hex0x(rhash),
            "forwarded_at": now,
            "nonce": hex0x(fnonce),
            "signature": hex0x(self._sign(FORWARD_TYPE, fwd_message)),
        }
        url = entry.url.rstrip("/") + "/v1/federation/forward"
        try:
            response = self.http.post(url, json=forward, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            err: PartnerUnavailable = PartnerTimeout(
                f"city {target}'s gateway did not answer within {self.timeout:g} s", city=target
            )
            self.directory.forget(target)
            err.extra["forward_receipt"] = log.commit("failed", err.code, None, None)
            raise err from exc
        except httpx.HTTPError as exc:
            self.directory.forget(target)
            err = PartnerUnavailable(f"city {target}'s gateway is unreachable", city=target)
            err.extra["forward_receipt"] = log.commit("failed", "partner-unreachable", None, None)
            raise err from exc
        status, answer, receipt = self._partner_answer(response, entry.gateway_org, rhash)
        if receipt is None:
            self.directory.forget(target)
            err = PartnerUnavailable(
                f"city {target}'s gateway answered {response.status_code} without a valid "
                "answer and receipt",
                city=target,
            )
            err.extra["forward_receipt"] = log.commit("failed", "partner-garbage", None, None)
            raise err
        outcome = "relayed" if status == 200 else "denied"
        reason = "allowed" if status == 200 else str(answer.get("reason") or answer.get("type"))
        forward_receipt = log.commit(outcome, reason, receipt, status)
        answer = {
            **answer,
            "city": target,
            "partner_url": entry.url,  # from the Directory: where the access receipt is proven
            "forward_receipt": forward_receipt,
        }
        return status, answer

    def _partner_answer(
        self, response: httpx.Response, partner: bytes, rhash: bytes
    ) -> tuple[int, dict[str, Any], dict[str, Any] | None]:
        """(status, body, B's access receipt if it is B's and signed by B's key) — None when
        the answer is not a well-formed allow or a logged refusal."""
        try:
            body = parse_body(response.content)
        except GatewayError:
            return response.status_code, {}, None
        if not isinstance(body, dict):
            return response.status_code, {}, None
        raw = body.get("access_receipt")
        if response.status_code == 200 and (
            body.get("request_hash") != hex0x(rhash) or not isinstance(body.get("sealed"), dict)
        ):
            return response.status_code, body, None
        if response.status_code != 200 and not 400 <= response.status_code < 500:
            return response.status_code, body, None
        try:
            receipt = parse_receipt(raw)
            signer = receipt_signer(receipt, self.gw.domain)
            current = self.members.get(partner)
            # the partner's current key, in force since before received_at, is keysAt's
            # answer; anything else (a key rotated since) is asked of the chain
            expected = (
                current.signer
                if signer.lower() == current.signer.lower()
                and current.valid_from <= receipt.received_at
                else self.membership.keys_at(partner, receipt.received_at).signer
            )
        except (DomainError, GatewayError, ContractRevert, TypeError, ValueError):
            return response.status_code, body, None
        if (
            receipt.gateway != partner
            or receipt.log_id != log_id(partner, "access")
            or signer.lower() != expected.lower()
        ):
            return response.status_code, body, None
        assert isinstance(raw, dict)
        return response.status_code, body, raw

    def _remote_message(self, doc: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """The EIP-712 message of a member's RemoteReadRequest body, and the subject
        commitment its forward entry is tagged with (zero for a record id)."""
        members = _READ_MEMBERS | _REMOTE_MEMBERS  # a ReadRequest's, plus the target
        missing, extra = members - set(doc), set(doc) - members
        if missing or extra:
            raise MalformedRequest(
                f"cross-city read members: missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        signed_at = doc["signed_at"]
        if type(signed_at) is not int or signed_at < 0:
            raise MalformedRequest("signed_at must be a non-negative integer", pointer="/signed_at")
        cats = doc["categories"]
        if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
            raise MalformedRequest("categories: a non-empty array of codes", pointer="/categories")
        digest, commitment = b"\x00" * 32, b"\x00" * 32
        if doc["subject"] is not None:
            subject = _subject(doc["subject"], "/subject")
            salt = parse_hex(doc["subject_salt"], size=32, prefixed=False, pointer="/subject_salt")
            digest = subject_digest(salt, subject)
            commitment = subject_commitment(self.gw.secrets.pepper, subject)
        if (doc["subject"] is None) == (doc["record_id"] is None):
            raise MalformedRequest("name exactly one of subject and record_id")
        message = {
            "requester": parse_hex(doc["requester"], size=32, prefixed=True, pointer="/requester"),
            "targetCity": _city(doc, "target_city"),
            "subjectDigest": digest,
            "recordId": b"\x00" * 32
            if doc["record_id"] is None
            else parse_hex(doc["record_id"], size=32, prefixed=False, pointer="/record_id"),
            "purpose": purpose_id(self.gw.catalog.purpose(str(doc["purpose"])).code),
            "categories": self.gw.catalog.category_mask(cats),
            "grantId": b"\x00" * 32
            if doc["grant_id"] is None
            else parse_hex(doc["grant_id"], size=32, prefixed=True, pointer="/grant_id"),
            "encryptionKey": parse_hex(
                doc["encryption_key"], size=32, prefixed=True, pointer="/encryption_key"
            ),
            "signedAt": signed_at,
            "nonce": parse_hex(doc["nonce"], size=32, prefixed=True, pointer="/nonce"),
        }
        return message, commitment


@dataclass
class _ForwardLog:
    """A's access-log entry of one forward (kind ``forward``; formats.md §13.4)."""

    fed: Federation
    doc: dict[str, Any]
    message: dict[str, Any]
    signature: bytes
    rhash: bytes
    commitment: bytes
    partner: bytes | None = None

    def commit(
        self,
        outcome: str,
        reason: str,
        partner_receipt: dict[str, Any] | None,
        partner_status: int | None,
    ) -> dict[str, Any]:
        """Append the entry durably (before anything is relayed); A's signed receipt."""
        gw, m = self.fed.gw, self.message
        now = int(gw.clock())
        salt = gw.rng(TAG_SALT_BYTES)
        entry = {
            "v": 2,
            "kind": "forward",
            "requester": hex0x(m["requester"]),
            "subject_salt": salt.hex(),
            "subject_tag": subject_tag(self.fed.reader.tag_key, salt, self.commitment).hex(),
            "subject_digest": m["subjectDigest"].hex() if self.doc["subject"] else None,
            "record": self.doc["record_id"],
            "purpose": self.doc["purpose"],
            "categories": sorted(self.doc["categories"]),
            "grant": self.doc["grant_id"],
            "from_city": self.fed.city,
            "target_city": m["targetCity"],
            "target_gateway": hex0x(self.partner) if self.partner else None,
            "request_hash": self.rhash.hex(),
            "outcome": outcome,
            "reason": reason,
            "partner_status": partner_status,
            "partner_receipt": None
            if partner_receipt is None
            else {
                "log_id": partner_receipt["log_id"],
                "index": partner_receipt["index"],
                "leaf_hash": partner_receipt["leaf_hash"],
            },
            "sig": {
                "scheme": "eip712-v1",
                "type": REMOTE_TYPE,
                "signed_at": m["signedAt"],
                "nonce": hex0x(m["nonce"]),
                "value": hex0x(self.signature),
            },
            "decided_at": now,
        }
        entry_bytes = canonicalize(entry)
        pending = self.fed.reader.committer.commit(
            PendingAccess(
                org_id=hex0x(m["requester"]),
                nonce=hex0x(m["nonce"]),
                request_digest=self.rhash,
                received_at=now,
                entry=entry_bytes,
                decisions=[],
            )
        )
        if pending.replayed or pending.index is None:
            raise ReplayedRequest(
                f"nonce {hex0x(m['nonce'])} of org {hex0x(m['requester'])} was used before"
            )
        leaf = hashlib.sha256(b"\x00" + entry_bytes).digest()
        return gw.sign_receipt("access", pending.index, leaf, now)


__all__ = ["FORWARD_TYPE", "REMOTE_TYPE", "Federation", "RemoteRead", "request_hash"]
