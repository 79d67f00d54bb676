"""The gateway service's exceptions. One root, :class:`GatewayError`; each has a stable ``code``
(the slug of its RFC 9457 problem type). HTTP statuses are assigned in one place only:
``gateway/api/_problems.py``."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Root of the gateway service's errors."""

    code = "gateway-error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ConfigurationError(GatewayError):
    """The gateway cannot start: missing or placeholder keys, a manifest for another chain, …"""

    code = "configuration-error"


class MalformedRequest(GatewayError):
    """The request is not the documented shape (docs/formats.md)."""

    code = "malformed-request"


class InvalidJson(GatewayError):
    """The body is not JSON (or has duplicate keys, NaN, …)."""

    code = "invalid-json"


class PayloadTooLarge(GatewayError):
    code = "payload-too-large"


class BatchTooLarge(GatewayError):
    code = "batch-too-large"


class StaleRequest(GatewayError):
    """The signed timestamp is outside the replay window."""

    code = "stale-request"


class ReplayedRequest(GatewayError):
    """The (org, nonce) pair was used before for a different request."""

    code = "replayed-request"


class UnknownOrg(GatewayError):
    code = "unknown-org"


class SignerMismatch(GatewayError):
    """The signature does not recover to the org's signing key valid at the signing time."""

    code = "signer-mismatch"


class OrgSuspended(GatewayError):
    code = "org-suspended"


class CategoryNotAllowed(GatewayError):
    """The org's kind may not submit records of this category."""

    code = "category-not-allowed"


class RecordNotFound(GatewayError):
    code = "record-not-found"


class NotAnchoredYet(GatewayError):
    code = "not-anchored-yet"


class LogOutOfRange(GatewayError):
    code = "log-out-of-range"


class ChainDisagrees(GatewayError):
    """The database and the chain disagree about a log: refuse to run."""

    code = "chain-disagrees"


class Forbidden(GatewayError):
    code = "forbidden"


class StaleVersion(GatewayError):
    """A lifecycle transition signed for another version of the record's status."""

    code = "stale-version"


class RepairNotFound(GatewayError):
    code = "repair-not-found"


class NoOfficeKey(GatewayError):
    """The gateway holds no credit-office key for an automatic lifecycle step."""

    code = "no-office-key"


class KekInUse(ConfigurationError):
    """`keys retire` refused: a serving process may still seal new records with that KEK."""

    code = "kek-in-use"


class ReceiptsBeyondLog(GatewayError):
    """The gateway signed receipts for entries its database no longer holds (start-up check)."""

    code = "receipts-beyond-log"


class UnsupportedMediaType(GatewayError):
    """A request body sent as anything but ``application/json`` (optionally ``; charset=utf-8``)."""

    code = "unsupported-media-type"


class InvalidParameter(GatewayError):
    """A path or query parameter that is repeated, not a canonical decimal integer, or out of
    its type's range."""

    code = "invalid-parameter"


class RecordUnverified(GatewayError):
    """A record's row does not match its records-log leaves or the chain's RecordStatus (an
    edited or incomplete row): nothing is decided on it."""

    code = "record-unverified"


class Unauthenticated(GatewayError):
    """The resource is served only to a signed request (log entries: formats §9.2)."""

    code = "unauthenticated"


class ReceiptUnverified(GatewayError):
    """Client side: a gateway's receipt whose signature is not the gateway org's registered
    signer at ``received_at``, or that names another gateway than the one asked."""

    code = "receipt-unverified"


class NetworkError(GatewayError):
    """`creditchain network`: the local network cannot be started, found or stopped as asked."""

    code = "network-error"


class CrossCityRefused(Forbidden):
    """A cross-city read refused by the partner gateway before any decision on records: the
    forwarding org is not an active gateway, the requester is not a member of the forwarding
    gateway's city, the request names another target city or an encryption key that is not
    the requester's registered one. Logged as an access decision once a signature checked out."""

    code = "cross-city-refused"


class NotAGateway(CrossCityRefused):
    """A forward signed by an organisation that is not of kind Gateway."""

    code = "not-a-gateway"


class RequesterNotOfCity(CrossCityRefused):
    """The requester is not a member of the city of the gateway it came through."""

    code = "requester-not-of-city"


class WrongTargetCity(CrossCityRefused):
    """The request (or its forward) names another city than this gateway's."""

    code = "wrong-target-city"


class EncryptionKeyMismatch(CrossCityRefused):
    """The request's encryption key is not the requester's registered (current) X25519 key."""

    code = "encryption-key-mismatch"


class PartnerUnknown(GatewayError):
    """No active gateway is listed in the on-chain Directory for the target city."""

    code = "partner-unknown"


class PartnerUnavailable(GatewayError):
    """The partner city's gateway did not answer usefully (unreachable, an error, garbage)."""

    code = "partner-unavailable"


class PartnerTimeout(PartnerUnavailable):
    """The partner city's gateway did not answer within the timeout."""

    code = "partner-timeout"
