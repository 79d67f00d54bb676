"""The one HPKE recipe of cross-city reads (RFC 9180; DESIGN §5 flow 7).

The partner gateway seals the released fields to the requester's registered X25519 key
(Membership's current key epoch, ``encryptionKey``), bound to the request it answers, so the
requester's home gateway relays ciphertext it cannot open.

* Suite, pinned: mode_base, DHKEM(X25519, HKDF-SHA256) ``0x0020``, HKDF-SHA256 ``0x0001``,
  ChaCha20-Poly1305 ``0x0003``.
* Binding: ``info = "creditchain/cross-city-read/v1" || 0x00 || request_hash`` (32 bytes).
  cryptography 51's public single-shot API takes ``info`` but no AAD; ``info`` enters the key
  schedule, so a ciphertext sealed for one request hash opens for no other — the binding the
  AAD would give.
* Wire: ``enc (32 bytes) || ciphertext || tag (16 bytes)``, base64url without padding, in
  ``{"suite": SUITE_NAME, "ct": …}``.

Failures to open are one opaque :class:`SealedOpenFailed`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from gateway.domain.errors import SealedOpenFailed

SUITE_NAME = "hpke-base-x25519-hkdfsha256-chacha20poly1305"
INFO_LABEL = b"creditchain/cross-city-read/v1"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

__all__ = ["INFO_LABEL", "SUITE_NAME", "SealedOpenFailed", "open_sealed", "seal_to"]


def _info(request_hash: bytes) -> bytes:
    if len(request_hash) != 32:
        raise ValueError("the request hash is 32 bytes")
    return INFO_LABEL + b"\x00" + request_hash


def seal_to(public_key: bytes, plaintext: bytes, request_hash: bytes) -> dict[str, Any]:
    """``plaintext`` sealed to the raw 32-byte X25519 ``public_key`` for ``request_hash``."""
    key = X25519PublicKey.from_public_bytes(public_key)
    ct = _SUITE.encrypt(plaintext, key, info=_info(request_hash))
    return {"suite": SUITE_NAME, "ct": base64.urlsafe_b64encode(ct).rstrip(b"=").decode()}


def open_sealed(private_key: bytes, sealed: object, request_hash: bytes) -> bytes:
    """The plaintext of ``sealed`` (as :func:`seal_to` made it) with the raw 32-byte X25519
    ``private_key``; SealedOpenFailed for anything else."""
    try:
        if not isinstance(sealed, dict) or set(sealed) != {"suite", "ct"}:
            raise ValueError("not a sealed payload")
        if sealed["suite"] != SUITE_NAME or not isinstance(sealed["ct"], str):
            raise ValueError("unknown suite")
        text = sealed["ct"]
        ct = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = X25519PrivateKey.from_private_bytes(private_key)
        return _SUITE.decrypt(ct, key, info=_info(request_hash))
    except (InvalidTag, ValueError, TypeError, binascii.Error) as exc:
        raise SealedOpenFailed("the sealed payload does not open") from exc
