"""Who may act as a data subject (``docs/formats.md`` §9.1).

A subject signs its requests — seeing who read its file, seeing its own file, objecting,
applying for repair — with one of two keys:

* the key a credit office bound to the subject in ``Grants`` (``bindSubjectKey``), a key the
  subject keeps; or
* a **session key** that a credit office certified for at most :data:`SESSION_MAX_SECONDS`,
  for a person who holds no key of their own: the office checks the person's identity at its
  counter and signs a ``SubjectSession`` naming the subject (salted), the session key and the
  validity window. The session travels in the request as ``"session"``; the request itself is
  still signed, by the session key, with its own nonce.

A session dies at its end, when the issuing office is suspended, or when the office rotates
its signing key; there is no other revocation, which is why the lifetime is short. Every
request's ``(subject, nonce)`` is accepted once, whichever key signed it.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import sqlalchemy as sa
from eth_utils.address import is_checksum_address, is_hex_address

from gateway._service import Gateway
from gateway.domain.identifiers import SubjectId, subject_commitment
from gateway.domain.records import hex0x, parse_hex
from gateway.domain.signing import SESSION_MAX_SECONDS, fast_recover_typed
from gateway.errors import Forbidden, MalformedRequest, ReplayedRequest
from gateway.store import Submission as RequestNonce
from gateway.store import session_scope
from node import GrantsClient

__all__ = ["SESSION_MAX_SECONDS", "SubjectAuthority", "claim_nonce", "subject_digest"]

_FUTURE_SKEW: Final = 30  # as for signed_at: a session may start this far in the gateway's future
SESSION_MEMBERS: Final = frozenset(
    {"issuer", "session_key", "subject_salt", "issued_at", "expires_at", "signature"}
)


def subject_digest(salt: bytes, subject: SubjectId) -> bytes:
    """What a signed request names instead of an identifier: SHA-256(salt ‖ kind ‖ ":" ‖ id),
    so that the signed message is no oracle for the identifier (``docs/formats.md`` §3)."""
    return hashlib.sha256(salt + subject.commitment_input()).digest()


def claim_nonce(gw: Gateway, who: str, nonce: bytes, body: bytes, now: int) -> None:
    """Accept ``(who, nonce)`` once, durably; a second use is :class:`ReplayedRequest`."""
    try:
        with session_scope(gw.engine) as s:
            s.add(
                RequestNonce(
                    org_id=who,
                    nonce=hex0x(nonce),
                    request_digest=hashlib.sha256(body).digest(),
                    received_at=now,
                )
            )
    except sa.exc.IntegrityError:
        raise ReplayedRequest(f"nonce {hex0x(nonce)} was used before") from None


class SubjectAuthority:
    """Decides whether a recovered signer speaks for a subject."""

    def __init__(self, gw: Gateway, grants: GrantsClient) -> None:
        self.gw = gw
        self.grants = grants

    def check(self, subject: SubjectId, signer: str, session: object | None) -> bytes:
        """The subject's commitment, once ``signer`` is shown to speak for it: the key bound
        in ``Grants`` or, with ``session``, the session key a credit office certified."""
        commitment = subject_commitment(self.gw.secrets.pepper, subject)
        if session is None:
            bound = self.grants.subject_key(commitment)
            if bound is None or bound.lower() != signer.lower():
                raise Forbidden("the signature is not the key bound to this subject")
        else:
            key = self.session_key(subject, session)
            if key.lower() != signer.lower():
                raise Forbidden("the request is not signed by the session's key")
        return commitment

    def claim(self, commitment: bytes, nonce: bytes, body: bytes, now: int) -> None:
        """Accept the subject's request nonce once, whichever key signed and whichever
        subject route it came to."""
        claim_nonce(self.gw, f"subject:{commitment.hex()}", nonce, body, now)

    def session_key(self, subject: SubjectId, session: object) -> str:
        """Check a ``SubjectSession`` for ``subject``; the session key it certifies."""
        if not isinstance(session, dict) or set(session) != SESSION_MEMBERS:
            raise MalformedRequest(
                f"a session is an object with exactly {sorted(SESSION_MEMBERS)}",
                pointer="/session",
            )
        issuer = parse_hex(session["issuer"], size=32, prefixed=True, pointer="/session/issuer")
        key = _address(session["session_key"], "/session/session_key")
        salt = parse_hex(
            session["subject_salt"], size=32, prefixed=False, pointer="/session/subject_salt"
        )
        signature = parse_hex(
            session["signature"], size=65, prefixed=True, pointer="/session/signature"
        )
        issued_at, expires_at = _time(session, "issued_at"), _time(session, "expires_at")
        if not 0 < expires_at - issued_at <= SESSION_MAX_SECONDS:
            raise MalformedRequest(
                f"a session lasts more than 0 and at most {SESSION_MAX_SECONDS} s",
                pointer="/session/expires_at",
            )
        now = int(self.gw.clock())
        if issued_at > now + _FUTURE_SKEW:
            raise Forbidden(
                f"the session starts at {issued_at}, after the gateway's time {now}",
                reason="session-not-yet-valid",
            )
        if now >= expires_at:
            raise Forbidden(f"the session ended at {expires_at}", reason="session-expired")
        signer = fast_recover_typed(
            self.gw.domain,
            "SubjectSession",
            {
                "subjectDigest": subject_digest(salt, subject),
                "sessionKey": hex0x(key),
                "issuer": issuer,
                "issuedAt": issued_at,
                "expiresAt": expires_at,
            },
            signature,
        )
        org = self.gw._check_signer(issuer, signer, issued_at)
        if org.kind != "credit_office":
            raise Forbidden(
                f"a {org.kind} may not certify subject sessions", reason="credit-office-required"
            )
        return hex0x(key)


def _address(value: object, pointer: str) -> bytes:
    """A ``0x`` address: 40 hex digits, all lower case, all upper case or EIP-55 checksummed."""
    if not (isinstance(value, str) and value.startswith("0x") and is_hex_address(value)):
        raise MalformedRequest("an address is 0x and 40 hex digits", pointer=pointer)
    digits = value[2:]
    if digits not in (digits.lower(), digits.upper()) and not is_checksum_address(value):
        raise MalformedRequest("a mixed-case address must be EIP-55 checksummed", pointer=pointer)
    return bytes.fromhex(digits)


def _time(session: dict[str, Any], name: str) -> int:
    value = session[name]
    if type(value) is not int or value < 0:
        raise MalformedRequest(f"{name} must be a non-negative integer", pointer=f"/session/{name}")
    return value
