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

from typing import Final

from gateway._auth import claim_nonce
from gateway._service import Gateway
from gateway.domain.identifiers import SubjectId, subject_commitment
from gateway.domain.records import hex0x
from gateway.domain.requests import SESSION_MAX_SECONDS, SubjectSession, subject_digest
from gateway.domain.signing import fast_recover_typed
from gateway.errors import Forbidden
from node import GrantsClient

__all__ = ["SESSION_MAX_SECONDS", "SubjectAuthority", "claim_nonce", "subject_digest"]

_FUTURE_SKEW: Final = 30  # as for signed_at: a session may start this far in the gateway's future


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
        """Check a ``SubjectSession`` for ``subject`` (its wire form as declared in
        :class:`gateway.domain.requests.SubjectSession`); the session key it certifies."""
        values = SubjectSession.parse(session, "/session")
        issued_at, expires_at = values["issued_at"], values["expires_at"]
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
            SubjectSession.primary_type,
            SubjectSession.message(values, subject=subject),
            values["signature"],
        )
        org = self.gw._check_signer(values["issuer"], signer, issued_at)
        if org.kind != "credit_office":
            raise Forbidden(
                f"a {org.kind} may not certify subject sessions", reason="credit-office-required"
            )
        return hex0x(values["session_key"])
