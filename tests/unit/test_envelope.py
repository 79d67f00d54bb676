"""Envelope encryption: round trip, tamper resistance, rotation and erasure."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from dataclasses import replace

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.envelope import (
    ENVELOPE_VERSION,
    WRAPPED_KEY_BYTES,
    Envelope,
    Kek,
    Keyring,
    new_salt,
    open_,
    record_commitment,
    rewrap,
    seal,
)
from gateway.domain.errors import DomainError, EnvelopeError

RECORD_ID = hashlib.sha256(b"record-1").digest()
OTHER_RECORD_ID = hashlib.sha256(b"record-2").digest()
CATEGORY = "admin_penalty"
PLAINTEXT = b'{"category":"admin_penalty","fields":{"amount_fen":500000}}'


def seeded_rng(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


@pytest.fixture
def kek() -> Kek:
    return Kek.generate("kek-2026-1", seeded_rng(1))


@pytest.fixture
def keyring(kek: Kek) -> Keyring:
    return Keyring([kek])


def _sealed(kek: Kek, plaintext: bytes = PLAINTEXT, seed: int = 7) -> Envelope:
    return seal(
        plaintext, aad_record_id=RECORD_ID, category=CATEGORY, kek=kek, rng=seeded_rng(seed)
    )


def _assert_opaque_failure(action: Callable[[], object]) -> None:
    with pytest.raises(EnvelopeError) as info:
        action()
    error = info.value
    assert str(error) == "envelope could not be opened"
    assert error.args == ("envelope could not be opened",)
    assert error.__cause__ is None
    assert error.__context__ is None  # nothing chained, not even implicitly
    assert error.code == "envelope-error"
    assert isinstance(error, DomainError)


# --- round trip -----------------------------------------------------------------------


def test_round_trip(kek: Kek, keyring: Keyring) -> None:
    envelope = _sealed(kek)
    assert envelope.version == ENVELOPE_VERSION
    assert envelope.kek_id == "kek-2026-1"
    assert len(envelope.wrapped_key) == WRAPPED_KEY_BYTES
    assert len(envelope.nonce) == 12
    assert PLAINTEXT not in envelope.to_bytes()
    assert open_(envelope, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring) == (
        PLAINTEXT
    )


def test_wire_round_trip(kek: Kek, keyring: Keyring) -> None:
    envelope = _sealed(kek)
    wire = envelope.to_bytes()
    assert Envelope.from_bytes(wire) == envelope
    assert wire[0] == 1
    assert wire[1] == len("kek-2026-1")
    assert len(wire) == 2 + 10 + 60 + 12 + len(PLAINTEXT) + 16
    assert open_(wire, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring) == PLAINTEXT


def test_empty_plaintext_round_trip(kek: Kek, keyring: Keyring) -> None:
    envelope = _sealed(kek, b"")
    assert open_(envelope, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring) == b""


@settings(max_examples=50)
@given(st.binary(max_size=2000), st.binary(min_size=1, max_size=64), st.text(min_size=1))
def test_round_trip_property(plaintext: bytes, record_id: bytes, category: str) -> None:
    kek = Kek.generate("k", os.urandom)
    envelope = seal(plaintext, aad_record_id=record_id, category=category, kek=kek, rng=os.urandom)
    wire = envelope.to_bytes()
    opened = open_(wire, aad_record_id=record_id, category=category, keyring=Keyring([kek]))
    assert opened == plaintext


def test_recipe_matches_documented_format(kek: Kek) -> None:
    """Decrypt by hand with the AAD layout the module documents, pinning the format."""

    def lp(part: bytes) -> bytes:
        return len(part).to_bytes(4, "big") + part

    envelope = _sealed(kek)
    wrap_aad = lp(b"creditchain/envelope/v1/wrap") + lp(b"kek-2026-1") + lp(RECORD_ID)
    data_key = AESGCM(kek.key).decrypt(
        envelope.wrapped_key[:12], envelope.wrapped_key[12:], wrap_aad
    )
    assert len(data_key) == 32
    data_aad = lp(b"creditchain/envelope/v1/data") + lp(RECORD_ID) + lp(CATEGORY.encode())
    assert AESGCM(data_key).decrypt(envelope.nonce, envelope.ciphertext, data_aad) == PLAINTEXT


def test_fresh_data_key_and_nonces_per_record(kek: Kek) -> None:
    first = seal(PLAINTEXT, aad_record_id=RECORD_ID, category=CATEGORY, kek=kek, rng=os.urandom)
    second = seal(PLAINTEXT, aad_record_id=RECORD_ID, category=CATEGORY, kek=kek, rng=os.urandom)
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key
    assert first.nonce != second.nonce


def test_seal_is_deterministic_given_rng(kek: Kek) -> None:
    assert _sealed(kek, seed=3) == _sealed(kek, seed=3)
    assert _sealed(kek, seed=3) != _sealed(kek, seed=4)


# --- tampering: every bit and byte of the wire format ---------------------------------


def test_every_flipped_bit_is_rejected(kek: Kek) -> None:
    # A sibling KEK whose id differs in one bit from the real one ('1' ^ 1 == '0'), so
    # flips inside kek_id reach a real key rather than just an unknown id.
    sibling = Kek.generate("kek-2026-0", seeded_rng(2))
    keyring = Keyring([kek, sibling])
    wire = _sealed(kek, b"x").to_bytes()
    assert len(wire) == 2 + 10 + 60 + 12 + 1 + 16
    for position in range(len(wire)):
        for bit in range(8):
            tampered = bytearray(wire)
            tampered[position] ^= 1 << bit
            _assert_opaque_failure(
                lambda t=bytes(tampered): open_(
                    t, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring
                )
            )


def test_every_replaced_byte_is_rejected(kek: Kek, keyring: Keyring) -> None:
    wire = _sealed(kek, b"x").to_bytes()
    for position in range(len(wire)):
        for delta in (0x80, 0xFF):
            tampered = bytearray(wire)
            tampered[position] ^= delta
            _assert_opaque_failure(
                lambda t=bytes(tampered): open_(
                    t, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring
                )
            )


def test_every_truncation_and_extension_is_rejected(kek: Kek, keyring: Keyring) -> None:
    wire = _sealed(kek, b"xy").to_bytes()
    for length in range(len(wire)):
        _assert_opaque_failure(
            lambda t=wire[:length]: open_(
                t, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring
            )
        )
    for extra in (b"\x00", b"\xff" * 17):
        _assert_opaque_failure(
            lambda t=wire + extra: open_(
                t, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring
            )
        )


def test_every_field_tampered_in_the_dataclass_is_rejected(kek: Kek, keyring: Keyring) -> None:
    envelope = _sealed(kek)
    for name in ("wrapped_key", "nonce", "ciphertext"):
        original: bytes = getattr(envelope, name)
        for position in range(len(original)):
            changed = bytearray(original)
            changed[position] ^= 0x01
            tampered = replace(envelope, **{name: bytes(changed)})
            _assert_opaque_failure(
                lambda e=tampered: open_(
                    e, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring
                )
            )


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x01",
        b"\x02" + b"\x01k" + bytes(60 + 12 + 16),  # unknown version
        b"\x00" + b"\x01k" + bytes(60 + 12 + 16),
        b"\x01\x00" + bytes(60 + 12 + 16),  # empty kek id
        b"\x01\x41" + b"k" * 65 + bytes(60 + 12 + 16),  # kek id too long
        b"\x01\x02k " + bytes(60 + 12 + 16),  # space not allowed in kek id
        b"\x01\x02k\xff" + bytes(60 + 12 + 16),  # non-ASCII kek id
        b"\x01\x01k" + bytes(60 + 12 + 15),  # ciphertext shorter than a tag
    ],
)
def test_malformed_wire_is_rejected(wire: bytes, keyring: Keyring) -> None:
    _assert_opaque_failure(lambda: Envelope.from_bytes(wire))
    _assert_opaque_failure(
        lambda: open_(wire, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring)
    )


def test_malformed_dataclass_is_rejected() -> None:
    _assert_opaque_failure(lambda: Envelope(2, "k", bytes(60), bytes(12), bytes(16)))
    _assert_opaque_failure(lambda: Envelope(1, "k", bytes(59), bytes(12), bytes(16)))
    _assert_opaque_failure(lambda: Envelope(1, "k", bytes(60), bytes(11), bytes(16)))
    _assert_opaque_failure(lambda: Envelope(1, "k/1", bytes(60), bytes(12), bytes(16)))


# --- wrong context or key -------------------------------------------------------------


def test_wrong_category_is_rejected(kek: Kek, keyring: Keyring) -> None:
    envelope = _sealed(kek)
    for category in ("admin_licence", "admin_penalty ", "ADMIN_PENALTY", ""):
        _assert_opaque_failure(
            lambda c=category: open_(envelope, aad_record_id=RECORD_ID, category=c, keyring=keyring)
        )


def test_wrong_record_id_is_rejected(kek: Kek, keyring: Keyring) -> None:
    envelope = _sealed(kek)
    for record_id in (OTHER_RECORD_ID, RECORD_ID[:-1], RECORD_ID + b"\x00", b""):
        _assert_opaque_failure(
            lambda r=record_id: open_(envelope, aad_record_id=r, category=CATEGORY, keyring=keyring)
        )


def test_aad_encoding_is_unambiguous(kek: Kek) -> None:
    """Moving bytes between record id and category must not authenticate."""
    envelope = seal(PLAINTEXT, aad_record_id=b"ab", category="c", kek=kek, rng=os.urandom)
    _assert_opaque_failure(
        lambda: open_(envelope, aad_record_id=b"a", category="bc", keyring=Keyring([kek]))
    )


def test_wrong_key_same_id_is_rejected(kek: Kek) -> None:
    envelope = _sealed(kek)
    impostor = Kek.generate(kek.kek_id, seeded_rng(99))
    _assert_opaque_failure(
        lambda: open_(
            envelope, aad_record_id=RECORD_ID, category=CATEGORY, keyring=Keyring([impostor])
        )
    )


def test_unknown_kek_id_is_rejected(kek: Kek) -> None:
    envelope = _sealed(kek)
    other = Kek.generate("kek-other", seeded_rng(5))
    for keyring in (Keyring(), Keyring([other])):
        _assert_opaque_failure(
            lambda k=keyring: open_(envelope, aad_record_id=RECORD_ID, category=CATEGORY, keyring=k)
        )


def test_relabelled_kek_id_is_rejected(kek: Kek) -> None:
    """Same key material filed under another id: the wrap AAD binds the id."""
    envelope = _sealed(kek)
    alias = Kek("kek-alias", kek.key)
    relabelled = replace(envelope, kek_id="kek-alias")
    _assert_opaque_failure(
        lambda: open_(
            relabelled, aad_record_id=RECORD_ID, category=CATEGORY, keyring=Keyring([alias])
        )
    )


def test_wrapped_key_cannot_be_transplanted_between_records(kek: Kek, keyring: Keyring) -> None:
    first = seal(PLAINTEXT, aad_record_id=RECORD_ID, category=CATEGORY, kek=kek, rng=os.urandom)
    second = seal(
        b"other", aad_record_id=OTHER_RECORD_ID, category=CATEGORY, kek=kek, rng=os.urandom
    )
    franken = replace(second, wrapped_key=first.wrapped_key)
    for record_id in (RECORD_ID, OTHER_RECORD_ID):
        _assert_opaque_failure(
            lambda r=record_id: open_(franken, aad_record_id=r, category=CATEGORY, keyring=keyring)
        )


# --- rotation ---------------------------------------------------------------------------


def test_rewrap_keeps_ciphertext_and_drops_old_kek(kek: Kek, keyring: Keyring) -> None:
    envelope = _sealed(kek)
    new_kek = Kek.generate("kek-2026-2", seeded_rng(11))
    rotated = rewrap(
        envelope, record_id=RECORD_ID, old_keyring=keyring, new_kek=new_kek, rng=os.urandom
    )
    assert rotated.ciphertext == envelope.ciphertext
    assert rotated.nonce == envelope.nonce
    assert rotated.kek_id == "kek-2026-2"
    assert rotated.wrapped_key != envelope.wrapped_key
    only_new = Keyring([new_kek])
    assert open_(rotated, aad_record_id=RECORD_ID, category=CATEGORY, keyring=only_new) == (
        PLAINTEXT
    )
    _assert_opaque_failure(
        lambda: open_(rotated, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring)
    )
    # The rotated envelope is still bound to its record and category.
    _assert_opaque_failure(
        lambda: open_(rotated, aad_record_id=OTHER_RECORD_ID, category=CATEGORY, keyring=only_new)
    )
    _assert_opaque_failure(
        lambda: open_(rotated, aad_record_id=RECORD_ID, category="admin_licence", keyring=only_new)
    )


def test_rewrap_requires_the_old_kek_and_record_id(kek: Kek, keyring: Keyring) -> None:
    envelope = _sealed(kek)
    new_kek = Kek.generate("kek-new", seeded_rng(12))
    _assert_opaque_failure(
        lambda: rewrap(
            envelope, record_id=RECORD_ID, old_keyring=Keyring(), new_kek=new_kek, rng=os.urandom
        )
    )
    _assert_opaque_failure(
        lambda: rewrap(
            envelope,
            record_id=OTHER_RECORD_ID,
            old_keyring=keyring,
            new_kek=new_kek,
            rng=os.urandom,
        )
    )


# --- erasure ------------------------------------------------------------------------------


def test_erasure_without_data_key_nothing_opens(kek: Kek, keyring: Keyring) -> None:
    envelope = _sealed(kek)
    # Crypto-shredding: the wrapped data key is destroyed (replaced by noise)...
    shredded = replace(envelope, wrapped_key=os.urandom(WRAPPED_KEY_BYTES))
    _assert_opaque_failure(
        lambda: open_(shredded, aad_record_id=RECORD_ID, category=CATEGORY, keyring=keyring)
    )
    # ... and no KEK can re-wrap what it no longer has.
    _assert_opaque_failure(
        lambda: rewrap(
            shredded,
            record_id=RECORD_ID,
            old_keyring=keyring,
            new_kek=Kek.generate("kek-x", os.urandom),
            rng=os.urandom,
        )
    )
    # Destroying the KEK instead shreds every record it wraps.
    _assert_opaque_failure(
        lambda: open_(envelope, aad_record_id=RECORD_ID, category=CATEGORY, keyring=Keyring())
    )


def test_ciphertext_alone_does_not_open_under_the_kek(kek: Kek) -> None:
    """The KEK is not the data key: even with the right AAD it cannot decrypt the record."""

    def lp(part: bytes) -> bytes:
        return len(part).to_bytes(4, "big") + part

    envelope = _sealed(kek)
    data_aad = lp(b"creditchain/envelope/v1/data") + lp(RECORD_ID) + lp(CATEGORY.encode())
    with pytest.raises(InvalidTag):
        AESGCM(kek.key).decrypt(envelope.nonce, envelope.ciphertext, data_aad)


# --- keys ----------------------------------------------------------------------------------


def test_kek_validation_and_repr() -> None:
    kek = Kek.generate("kek-1", seeded_rng(1))
    assert kek.key.hex() not in repr(kek)
    with pytest.raises(ValueError, match="32 bytes"):
        Kek("kek-1", bytes(16))
    for bad_id in ("", "k" * 65, "kek 1", "kék"):
        with pytest.raises(ValueError, match="kek_id"):
            Kek(bad_id, bytes(32))


def test_keyring_is_a_mapping_without_duplicates() -> None:
    a = Kek.generate("a", seeded_rng(1))
    b = Kek.generate("b", seeded_rng(2))
    ring = Keyring([a, b])
    assert ring["a"] is a
    assert sorted(ring) == ["a", "b"]
    assert len(ring) == 2
    assert "c" not in ring
    with pytest.raises(ValueError, match="duplicate"):
        Keyring([a, Kek.generate("a", seeded_rng(3))])
    assert a.key.hex() not in repr(ring)


def test_misbehaving_rng_is_refused(kek: Kek) -> None:
    with pytest.raises(ValueError, match="rng"):
        seal(PLAINTEXT, aad_record_id=RECORD_ID, category=CATEGORY, kek=kek, rng=lambda n: b"")


@pytest.mark.parametrize(("record_id", "category"), [(b"", CATEGORY), (RECORD_ID, "")])
def test_seal_requires_context(kek: Kek, record_id: bytes, category: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        seal(PLAINTEXT, aad_record_id=record_id, category=category, kek=kek, rng=os.urandom)


# --- record commitment ------------------------------------------------------------------


def test_record_commitment() -> None:
    salt = bytes(range(32))
    canonical = b'{"a":1}'
    assert record_commitment(salt, canonical) == hashlib.sha256(salt + canonical).digest()
    assert record_commitment(salt, canonical) != record_commitment(bytes(32), canonical)
    assert record_commitment(salt, canonical) != record_commitment(salt, b'{"a":2}')
    assert len(new_salt(os.urandom)) == 32


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_record_commitment_requires_a_32_byte_salt(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        record_commitment(bytes(size), b"{}")
