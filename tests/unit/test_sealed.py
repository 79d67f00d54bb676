"""The one HPKE recipe of cross-city reads (gateway/domain/sealed.py): it opens only with the
recipient's key and only for the request hash it was sealed to; every failure is one opaque
error."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.domain.sealed import SUITE_NAME, SealedOpenFailed, open_sealed, seal_to


def keypair() -> tuple[bytes, bytes]:
    k = X25519PrivateKey.generate()
    private = k.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, public


def test_round_trip_and_shape() -> None:
    private, public = keypair()
    rhash = os.urandom(32)
    sealed = seal_to(public, b'{"records":[]}', rhash)
    assert sealed["suite"] == SUITE_NAME
    raw = base64.urlsafe_b64decode(sealed["ct"] + "=" * (-len(sealed["ct"]) % 4))
    assert len(raw) == 32 + len(b'{"records":[]}') + 16  # enc || ciphertext || tag
    assert "=" not in sealed["ct"]
    assert open_sealed(private, sealed, rhash) == b'{"records":[]}'
    # fresh encapsulation each time
    assert seal_to(public, b"x", rhash)["ct"] != seal_to(public, b"x", rhash)["ct"]


def _flip(ct: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(ct + "=" * (-len(ct) % 4)))
    raw[at] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "case",
    ["other key", "other hash", "enc byte", "ct byte", "tag byte", "suite", "shape", "not b64"],
)
def test_every_failure_is_one_opaque_error(case: str) -> None:
    private, public = keypair()
    rhash = os.urandom(32)
    sealed = seal_to(public, b"secret fields", rhash)
    key, h, obj = private, rhash, dict(sealed)
    if case == "other key":
        key = keypair()[0]
    elif case == "other hash":
        h = os.urandom(32)
    elif case == "enc byte":
        obj["ct"] = _flip(sealed["ct"], 0)
    elif case == "ct byte":
        obj["ct"] = _flip(sealed["ct"], 33)
    elif case == "tag byte":
        obj["ct"] = _flip(sealed["ct"], -1)
    elif case == "suite":
        obj["suite"] = "hpke-base-x25519-hkdfsha256-aes128gcm"
    elif case == "shape":
        obj["extra"] = 1
    else:
        obj["ct"] = "!!!"
    with pytest.raises(SealedOpenFailed) as info:
        open_sealed(key, obj, h)
    assert str(info.value) == "the sealed payload does not open"
