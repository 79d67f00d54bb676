"""The one authentication step of every signed request (issue 12 item 1).

A request parsed by its declaration (:mod:`gateway.domain.requests`) is authenticated here,
in this order, the same for every route:

1. the replay window: ``signed_at`` within ``[now - replay_window, now + FUTURE_SKEW]``
   (:class:`~gateway.errors.StaleRequest`);
2. the signature: one canonical encoding (low-s, ``v`` in {27, 28}:
   :func:`~gateway.domain.signing.check_signature_encoding`), recovered over the type's
   EIP-712 message (:class:`~gateway.domain.errors.BadSignature`);
3. for an organisation's request: the signer is the org's key in force at ``signed_at`` and
   the org is active (:class:`~gateway.errors.SignerMismatch`,
   :class:`~gateway.errors.OrgSuspended`); the route's own rule on the org (``authorize``,
   e.g. "credit offices only") runs next, before anything is spent;
4. the nonce: ``(who, nonce)`` accepted once, durably (:class:`~gateway.errors.ReplayedRequest`).

A subject's request has no org: its signer is checked against the subject's bound key or
session (:class:`gateway._subjects.SubjectAuthority`), and its nonce claimed with
:func:`claim_nonce` once the route knows the subject.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from gateway.domain.records import hex0x
from gateway.domain.requests import RequestType
from gateway.domain.signing import fast_recover_typed
from gateway.errors import ReplayedRequest
from gateway.store import Submission as RequestNonce
from gateway.store import session_scope

if TYPE_CHECKING:
    from gateway._service import Gateway, OrgInfo

__all__ = ["Authenticated", "authenticate", "claim_nonce"]


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Who signed an authenticated request: the recovered address, the org's standing (for
    an org's request) and the gateway's time when the window was checked."""

    signer: str
    org: OrgInfo | None
    now: int


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


def authenticate(
    gw: Gateway,
    rtype: type[RequestType],
    values: Mapping[str, Any],
    body: bytes,
    *,
    org_member: str | None,
    bound: Mapping[str, Any],
    authorize: Callable[[OrgInfo], None] | None = None,
    claim: bool = True,
) -> Authenticated:
    """Authenticate parsed ``values`` of ``rtype`` (window, signature, signer at time and
    standing of the org named by ``org_member``, ``authorize``, nonce) in that order.

    ``bound`` are the values the route binds into the signed message (action, target,
    record id…). With ``org_member`` ``None`` (a subject's request) steps 3 and 4 are the
    caller's (``claim`` must then be false).
    """
    signed_at = values["signed_at"]
    now = gw._check_window(signed_at)
    signer = fast_recover_typed(
        gw.domain,
        rtype.primary_type,
        rtype.message(values, **bound),
        values[rtype.signature_member],
    )
    if org_member is None:
        if claim:
            raise ValueError("a request without an org claims its nonce itself")
        return Authenticated(signer, None, now)
    org_id: bytes = values[org_member]
    info = gw._check_signer(org_id, signer, signed_at)
    if authorize is not None:
        authorize(info)
    if claim:
        claim_nonce(gw, hex0x(org_id), values["nonce"], body, now)
    return Authenticated(signer, info, now)
