"""The fast EIP-712 path (``fast_typed_signer``, ``fast_recover_typed``,
``fast_typed_data_digest``) equals the eth-account path byte for byte, for every type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.domain.errors import BadSignature
from gateway.domain.signing import (
    SECP256K1_N,
    TYPES,
    SigningDomain,
    fast_recover_typed,
    fast_typed_data_digest,
    fast_typed_signer,
    recover_typed,
    sign_typed,
    signing_domain,
    typed_data_digest,
    typed_signer,
)
from tests.bundle_factory import account_for

ALICE = account_for("alice")
DOMAIN = signing_domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def _member(sol_type: str) -> st.SearchStrategy[Any]:
    """Values of a Solidity member type as TYPES uses them (bytesN, uintN, string, address)."""
    if sol_type == "address":  # checksummed, all lower case or all upper case digits
        return st.binary(min_size=20, max_size=20).flatmap(
            lambda a: st.sampled_from(
                [to_checksum_address(a), "0x" + a.hex(), "0x" + a.hex().upper()]
            )
        )
    if sol_type == "string":
        return st.text(max_size=80)  # any Unicode scalar values (no surrogates)
    if sol_type.startswith("bytes"):
        size = int(sol_type[5:])
        return st.binary(min_size=size, max_size=size)
    if sol_type.startswith("uint"):
        bits = int(sol_type[4:])
        return st.integers(min_value=0, max_value=2**bits - 1) | st.sampled_from([0, 2**bits - 1])
    raise AssertionError(f"no strategy for {sol_type}")


def _message(type_name: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({name: _member(sol) for name, sol in TYPES[type_name]})


typed_messages = st.sampled_from(sorted(TYPES)).flatmap(
    lambda name: st.tuples(st.just(name), _message(name))
)
private_keys = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(
    lambda k: k.to_bytes(32, "big")
)
domains = st.builds(
    signing_domain,
    st.integers(min_value=1, max_value=2**256 - 1),
    st.binary(min_size=20, max_size=20).map(lambda a: to_checksum_address(a)),
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_member_type_has_a_strategy() -> None:
    for fields in TYPES.values():
        for _, sol_type in fields:
            _member(sol_type)


@FAST
@given(domain=domains, typed=typed_messages)
def test_digest_equals_eth_account(
    domain: SigningDomain, typed: tuple[str, dict[str, Any]]
) -> None:
    name, message = typed
    assert fast_typed_data_digest(domain, name, message) == typed_data_digest(domain, name, message)


@FAST
@given(key=private_keys, domain=domains, typed=typed_messages)
def test_signature_and_recovery_equal_eth_account(
    key: bytes, domain: SigningDomain, typed: tuple[str, dict[str, Any]]
) -> None:
    name, message = typed
    address = Account.from_key(key).address
    slow = sign_typed(key, domain, name, message)
    fast = fast_typed_signer(key, domain)(name, message)
    assert fast == slow  # both RFC 6979 deterministic, low-s, v in {27, 28}
    assert fast_recover_typed(domain, name, message, fast) == address
    assert recover_typed(domain, name, message, fast) == address


@FAST
@given(typed=typed_messages, other=typed_messages)
def test_recovery_of_a_signature_over_another_message_agrees(
    typed: tuple[str, dict[str, Any]], other: tuple[str, dict[str, Any]]
) -> None:
    """A valid signature over something else recovers to the same (wrong) address both ways."""
    name, message = typed
    signature = sign_typed(ALICE, DOMAIN, *other)
    fast = fast_recover_typed(DOMAIN, name, message, signature)
    assert fast == recover_typed(DOMAIN, name, message, signature)
    if (name, message) != other:
        assert fast != ALICE.address


@FAST
@given(
    typed=typed_messages,
    raw=st.binary(min_size=65, max_size=65),
    v=st.sampled_from([0, 1, 27, 28, 29]),
)
def test_arbitrary_signature_bytes_are_judged_alike(
    typed: tuple[str, dict[str, Any]], raw: bytes, v: int
) -> None:
    name, message = typed
    signature = raw[:64] + bytes([v])
    try:
        expected: str | type[Exception] = recover_typed(DOMAIN, name, message, signature)
    except BadSignature:
        expected = BadSignature
    if expected is BadSignature:
        with pytest.raises(BadSignature):
            fast_recover_typed(DOMAIN, name, message, signature)
    else:
        assert fast_recover_typed(DOMAIN, name, message, signature) == expected


@pytest.mark.parametrize("key", [ALICE.key, "0x" + ALICE.key.hex(), ALICE])
def test_keys_in_any_form(key: Any) -> None:
    message = {
        "logId": b"\x55" * 32,
        "index": 41,
        "leafHash": b"\x66" * 32,
        "receivedAt": 1_795_660_001,
        "anchorBy": 1_795_660_061,
    }
    assert fast_typed_signer(key, DOMAIN)("Receipt", message) == typed_signer(key, DOMAIN)(
        "Receipt", message
    )


def _bad_messages() -> list[tuple[str, Mapping[str, object]]]:
    good: dict[str, object] = {
        "org": b"\x11" * 32,
        "category": "admin_penalty",
        "commitment": b"\x22" * 32,
        "signedAt": 1_795_660_000,
        "nonce": b"\x33" * 32,
    }
    return [
        ("NoSuchType", {}),
        ("CreditRecord", {k: v for k, v in good.items() if k != "nonce"}),
        ("CreditRecord", {**good, "extra": 1}),
        ("CreditRecord", {**good, "org": b"\x11" * 31}),
        ("CreditRecord", {**good, "org": "0x" + "11" * 32}),
        ("CreditRecord", {**good, "signedAt": -1}),
        ("CreditRecord", {**good, "signedAt": 2**64}),
        ("CreditRecord", {**good, "signedAt": True}),
        ("CreditRecord", {**good, "signedAt": "1795660000"}),
        ("CreditRecord", {**good, "category": b"admin_penalty"}),
    ]


def _bad_sessions() -> list[Mapping[str, object]]:
    good: dict[str, object] = {
        "subjectDigest": b"\x11" * 32,
        "sessionKey": "0x" + "ab" * 20,
        "issuer": b"\x22" * 32,
        "issuedAt": 1_795_660_000,
        "expiresAt": 1_795_660_600,
    }
    return [
        {**good, "sessionKey": b"\xab" * 20},
        {**good, "sessionKey": "ab" * 20},
        {**good, "sessionKey": "0x" + "ab" * 19},
        {**good, "sessionKey": "0xAb" + "ab" * 19},  # mixed case, bad checksum
    ]


@pytest.mark.parametrize("message", _bad_sessions())
def test_malformed_addresses_are_refused_alike(message: Mapping[str, object]) -> None:
    signature = b"\x01" * 64 + b"\x1b"
    for call in (
        lambda: typed_data_digest(DOMAIN, "SubjectSession", message),
        lambda: fast_typed_data_digest(DOMAIN, "SubjectSession", message),
        lambda: fast_recover_typed(DOMAIN, "SubjectSession", message, signature),
    ):
        with pytest.raises(ValueError, match=r"SubjectSession\.sessionKey"):
            call()


@pytest.mark.parametrize(("name", "message"), _bad_messages())
def test_malformed_messages_are_refused_alike(name: str, message: Mapping[str, object]) -> None:
    signature = b"\x01" * 64 + b"\x1b"
    for call in (
        lambda: typed_data_digest(DOMAIN, name, message),
        lambda: fast_typed_data_digest(DOMAIN, name, message),
        lambda: fast_typed_signer(ALICE, DOMAIN)(name, message),
        lambda: fast_recover_typed(DOMAIN, name, message, signature),
    ):
        with pytest.raises(ValueError, match=r"unknown EIP-712 type|CreditRecord"):
            call()


def test_high_s_twin_and_bad_encodings_are_refused() -> None:
    message = {
        "logId": b"\x55" * 32,
        "index": 41,
        "leafHash": b"\x66" * 32,
        "receivedAt": 1_795_660_001,
        "anchorBy": 1_795_660_061,
    }
    good = fast_typed_signer(ALICE, DOMAIN)("Receipt", message)
    s = int.from_bytes(good[32:64], "big")
    twin = good[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - good[64]])
    for bad in (twin, good[:64], good + b"\x00", "0x" + good.hex(), good[:64] + b"\x00"):
        with pytest.raises(BadSignature):
            fast_recover_typed(DOMAIN, "Receipt", message, bad)  # type: ignore[arg-type]
        with pytest.raises(BadSignature):
            recover_typed(DOMAIN, "Receipt", message, bad)  # type: ignore[arg-type]
