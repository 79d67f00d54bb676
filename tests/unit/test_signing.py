"""EIP-712 typed-data signing (formats.md §3): domain, types, canonical signatures."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak

from gateway.domain.errors import BadSignature, DomainError
from gateway.domain.signing import (
    SECP256K1_N,
    TYPES,
    SigningDomain,
    check_signature_encoding,
    recover_typed,
    sign_typed,
    signing_domain,
    typed_data_digest,
    typed_signer,
)
from tests.bundle_factory import account_for

FORMATS = Path(__file__).resolve().parents[2] / "docs" / "formats.md"
MEMBERSHIP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = signing_domain(31337, MEMBERSHIP)
ALICE = account_for("alice")

MESSAGES: dict[str, dict[str, object]] = {
    "CreditRecord": {
        "org": b"\x11" * 32,
        "category": "admin_penalty",
        "commitment": b"\x22" * 32,
        "signedAt": 1_795_660_000,
        "nonce": b"\x33" * 32,
    },
    "CreditRecordBatch": {
        "org": b"\x11" * 32,
        "root": b"\x44" * 32,
        "count": 100,
        "signedAt": 1_795_660_000,
        "nonce": b"\x33" * 32,
    },
    "Receipt": {
        "logId": b"\x55" * 32,
        "index": 41,
        "leafHash": b"\x66" * 32,
        "receivedAt": 1_795_660_001,
        "anchorBy": 1_795_660_061,
    },
    "RemoteReadRequest": {
        "requester": b"\x11" * 32,
        "targetCity": 610800,
        "subjectDigest": b"\x22" * 32,
        "recordId": b"\x00" * 32,
        "purpose": b"\x44" * 32,
        "categories": 5,
        "grantId": b"\x55" * 32,
        "encryptionKey": b"\x66" * 32,
        "signedAt": 1_795_660_000,
        "nonce": b"\x33" * 32,
    },
    "ForwardedRead": {
        "fromGateway": b"\x11" * 32,
        "toCity": 620100,
        "requestHash": b"\x77" * 32,
        "forwardedAt": 1_795_660_000,
        "nonce": b"\x33" * 32,
    },
}


def _type_string(name: str) -> str:
    return f"{name}({','.join(f'{t} {n}' for n, t in TYPES[name])})"


def _independent_digest(domain: SigningDomain, name: str, message: dict[str, object]) -> bytes:
    """EIP-712 computed from the spec by hand, without eth-account."""
    domain_type = (
        b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    separator = keccak(
        keccak(domain_type)
        + keccak(b"creditchain")
        + keccak(b"1")
        + abi_encode(["uint256", "address"], [domain.chain_id, domain.verifying_contract])
    )
    encoded = keccak(_type_string(name).encode())
    for member, sol_type in TYPES[name]:
        value: Any = message[member]
        if sol_type == "string":
            encoded += keccak(value.encode())
        else:
            encoded += abi_encode([sol_type], [value])
    return keccak(b"\x19\x01" + separator + keccak(encoded))


def test_types_are_exactly_the_ones_formats_md_documents() -> None:
    text = FORMATS.read_text("utf-8")
    documented = dict(re.findall(r"^(\w+)\((.*)\)$", text, flags=re.MULTILINE))
    assert set(TYPES) <= set(documented)
    for name in TYPES:
        assert _type_string(name) == f"{name}({documented[name]})"


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_digest_matches_an_independent_eip712_implementation(name: str) -> None:
    assert typed_data_digest(DOMAIN, name, MESSAGES[name]) == _independent_digest(
        DOMAIN, name, MESSAGES[name]
    )


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_sign_then_recover_gives_the_signer(name: str) -> None:
    signature = sign_typed(ALICE, DOMAIN, name, MESSAGES[name])
    assert len(signature) == 65
    assert signature[64] in (27, 28)
    assert recover_typed(DOMAIN, name, MESSAGES[name], signature) == ALICE.address
    # the signature is over the digest: a raw ecrecover of the digest agrees
    digest = typed_data_digest(DOMAIN, name, MESSAGES[name])
    assert Account._recover_hash(digest, signature=signature) == ALICE.address


@pytest.mark.parametrize("key", [ALICE.key, "0x" + ALICE.key.hex(), ALICE])
def test_keys_in_any_form(key: Any) -> None:
    signature = sign_typed(key, DOMAIN, "Receipt", MESSAGES["Receipt"])
    assert signature == sign_typed(ALICE, DOMAIN, "Receipt", MESSAGES["Receipt"])  # RFC 6979
    signer = typed_signer(key, DOMAIN)
    assert signer("Receipt", MESSAGES["Receipt"]) == signature


@pytest.mark.parametrize(
    "other",
    [
        signing_domain(31338, MEMBERSHIP),
        signing_domain(31337, "0x" + "00" * 19 + "01"),
    ],
    ids=["chain-id", "verifying-contract"],
)
def test_signature_is_bound_to_the_domain(other: SigningDomain) -> None:
    signature = sign_typed(ALICE, DOMAIN, "CreditRecord", MESSAGES["CreditRecord"])
    assert recover_typed(other, "CreditRecord", MESSAGES["CreditRecord"], signature) != (
        ALICE.address
    )


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_member_is_signed(name: str) -> None:
    signature = sign_typed(ALICE, DOMAIN, name, MESSAGES[name])
    for member, value in MESSAGES[name].items():
        changed = dict(MESSAGES[name])
        if isinstance(value, bytes):
            changed[member] = bytes([value[0] ^ 1]) + value[1:]
        elif isinstance(value, int):
            changed[member] = value + 1
        else:
            changed[member] = str(value) + "x"
        assert recover_typed(DOMAIN, name, changed, signature) != ALICE.address, member


def test_type_name_is_signed() -> None:
    """The same field values under another type name do not verify."""
    message = MESSAGES["CreditRecordBatch"]
    signature = sign_typed(ALICE, DOMAIN, "CreditRecordBatch", message)
    assert typed_data_digest(DOMAIN, "CreditRecordBatch", message) != typed_data_digest(
        DOMAIN, "CreditRecord", MESSAGES["CreditRecord"]
    )
    assert recover_typed(DOMAIN, "CreditRecordBatch", message, signature) == ALICE.address


def _with(
    signature: bytes, *, r: int | None = None, s: int | None = None, v: int | None = None
) -> bytes:
    rr = int.from_bytes(signature[:32], "big") if r is None else r
    ss = int.from_bytes(signature[32:64], "big") if s is None else s
    vv = signature[64] if v is None else v
    return rr.to_bytes(32, "big") + ss.to_bytes(32, "big") + bytes([vv])


def test_malformed_signatures_are_refused_with_bad_signature() -> None:
    good = sign_typed(ALICE, DOMAIN, "Receipt", MESSAGES["Receipt"])
    s = int.from_bytes(good[32:64], "big")
    twin = _with(good, s=SECP256K1_N - s, v=55 - good[64])  # the malleated twin (high s)
    assert (
        Account._recover_hash(  # it is a valid ECDSA signature of the same digest...
            typed_data_digest(DOMAIN, "Receipt", MESSAGES["Receipt"]), signature=twin
        )
        == ALICE.address
    )
    bad: dict[str, object] = {
        "short": good[:64],
        "long": good + b"\x00",
        "v=0": _with(good, v=0),
        "v=1": _with(good, v=1),
        "v=29": _with(good, v=29),
        "r=0": _with(good, r=0),
        "r=n": _with(good, r=SECP256K1_N),
        "s=0": _with(good, s=0),
        "high-s": twin,  # ...but not the canonical one
        "hex-string": "0x" + good.hex(),
    }
    for label, signature in bad.items():
        with pytest.raises(BadSignature):
            recover_typed(DOMAIN, "Receipt", MESSAGES["Receipt"], signature)  # type: ignore[arg-type]
        with pytest.raises(BadSignature):
            check_signature_encoding(signature)
        assert label


def test_signature_not_on_the_curve_is_bad_signature() -> None:
    # r = 5 has no point with that x coordinate on secp256k1 (x^3 + 7 is not a square)
    no_point = _with(sign_typed(ALICE, DOMAIN, "Receipt", MESSAGES["Receipt"]), r=5)
    with pytest.raises(BadSignature):
        recover_typed(DOMAIN, "Receipt", MESSAGES["Receipt"], no_point)


def test_bad_signature_is_a_domain_error_with_a_stable_code() -> None:
    assert issubclass(BadSignature, DomainError)
    assert BadSignature.code == "bad-signature"


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("missing", None),
        ("extra", 1),
        ("short-bytes", b"\x11" * 31),
        ("long-bytes", b"\x11" * 33),
        ("str-for-bytes", "0x" + "11" * 32),
        ("negative", -1),
        ("too-big", 2**64),
        ("bool", True),
        ("numeric-string", "1795660000"),
    ],
)
def test_messages_must_match_their_type_exactly(change: str, value: object) -> None:
    message = dict(MESSAGES["CreditRecord"])
    if change == "missing":
        del message["nonce"]
    elif change == "extra":
        message["extra"] = value
    elif change in ("short-bytes", "long-bytes", "str-for-bytes"):
        message["org"] = value
    else:
        message["signedAt"] = value
    with pytest.raises(ValueError, match="CreditRecord"):
        sign_typed(ALICE, DOMAIN, "CreditRecord", message)
    with pytest.raises(ValueError, match="CreditRecord"):
        recover_typed(DOMAIN, "CreditRecord", message, b"\x00" * 64 + b"\x1b")


def test_uint32_count_is_range_checked() -> None:
    message = dict(MESSAGES["CreditRecordBatch"], count=2**32)
    with pytest.raises(ValueError, match="uint32"):
        sign_typed(ALICE, DOMAIN, "CreditRecordBatch", message)


def test_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown EIP-712 type"):
        sign_typed(ALICE, DOMAIN, "GossipRequest", {})


def test_domain_normalises_and_validates() -> None:
    assert signing_domain(1, MEMBERSHIP.lower()).verifying_contract == MEMBERSHIP
    assert DOMAIN.as_eip712() == {
        "name": "creditchain",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": MEMBERSHIP,
    }
    for chain_id, address in [
        (0, MEMBERSHIP),
        (True, MEMBERSHIP),
        (1, "0x1234"),
        (1, MEMBERSHIP.replace("F", "f", 1)),  # broken EIP-55 checksum
    ]:
        with pytest.raises(ValueError, match=r"chain id|not an address"):
            signing_domain(chain_id, address)
