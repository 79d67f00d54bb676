"""Record logic (formats.md §1-§6): ids, record validation, batches, leaf entries,
receipts and submissions."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.client import build_submission
from gateway.domain.canonical import canonicalize
from gateway.domain.catalog import load_catalog
from gateway.domain.errors import (
    BadSignature,
    CanonicalizationError,
    CatalogVersionMismatch,
    DomainError,
    InvalidIdentifier,
    MalformedObject,
    SchemaViolation,
    UnknownCategory,
)
from gateway.domain.identifiers import make_resident_id
from gateway.domain.merkle import leaf_hash, tree_root
from gateway.domain.records import (
    BatchPosition,
    DepartmentSignature,
    Receipt,
    Record,
    batch_path,
    batch_paths,
    batch_root,
    commitment,
    department_message,
    department_signer,
    leaf_bytes,
    log_id,
    make_leaf_entry,
    make_receipt,
    org_id_for,
    parse_hex,
    parse_leaf_entry,
    parse_receipt,
    parse_record,
    parse_submission,
    receipt_message,
    receipt_signer,
    record_id,
    subject_tag,
    verify_batch_path,
)
from gateway.domain.signing import sign_typed, signing_domain, typed_signer
from tests.bundle_factory import (
    DEPT_USCC,
    GATEWAY_USCC,
    SUBJECT_USCC,
    account_for,
    sample_record,
)
from tests.samples import sample_fields

CATALOG = load_catalog()
DOMAIN = signing_domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
DEPT = account_for("department")
GATEWAY = account_for("gateway")
ORG = org_id_for(DEPT_USCC)
GATEWAY_ORG = org_id_for(GATEWAY_USCC)
SALT = bytes(range(32))
NONCE = b"\x42" * 32
PEPPER = b"\x17" * 32
T = 1_795_660_000


# ---------------------------------------------------------------------------------------
# §1 identifiers


def test_org_id_is_the_documented_hash_of_the_normalised_uscc() -> None:
    expected = hashlib.sha256(b"creditchain/org/v1:" + DEPT_USCC.encode()).digest()
    assert org_id_for(DEPT_USCC) == expected
    assert org_id_for(" " + DEPT_USCC.lower()) == expected  # normalised first
    bad = DEPT_USCC[:-1] + ("0" if DEPT_USCC[-1] != "0" else "1")
    with pytest.raises(InvalidIdentifier) as info:
        org_id_for(bad)
    assert info.value.check == "check-character"


def test_log_id_is_the_documented_hash() -> None:
    for name in ("records", "access"):
        message = f"creditchain/log/v1:{GATEWAY_ORG.hex()}:{name}".encode()
        assert log_id(GATEWAY_ORG, name) == hashlib.sha256(message).digest()
    assert log_id(GATEWAY_ORG, "records") != log_id(GATEWAY_ORG, "access")
    with pytest.raises(ValueError, match="log name"):
        log_id(GATEWAY_ORG, "other")
    with pytest.raises(ValueError, match="32 bytes"):
        log_id(GATEWAY_ORG[:31], "records")


# ---------------------------------------------------------------------------------------
# §2 records


@pytest.mark.parametrize("category", ["admin_penalty", "tax_credit_rating"])
def test_a_valid_record_round_trips(category: str) -> None:
    raw = sample_record(ORG, category=category)
    record = parse_record(copy.deepcopy(raw), CATALOG)
    assert record.to_json() == raw
    assert record.canonical() == canonicalize(raw)
    assert (record.org, record.category, record.subject.value) == (ORG, category, SUBJECT_USCC)
    assert record.fields == raw["fields"]
    record.fields["rating"] = "mutated"  # a copy: the record itself is immutable
    assert record.fields == raw["fields"]
    assert "fields_jcs" not in repr(record)
    assert SUBJECT_USCC not in repr(record)


@given(
    st.sampled_from(
        ["admin_penalty", "tax_credit_rating", "utility_arrears", "judgment_defaulter"]
    ),
    st.booleans(),
    st.text(min_size=1, max_size=40),
)
def test_canonical_bytes_equal_jcs_of_the_record(category: str, person: bool, text: str) -> None:
    raw = sample_record(ORG)
    raw["category"], raw["fields"] = category, sample_fields(category)
    if person:
        raw["subject"] = {"kind": "resident_id", "id": make_resident_id("11010519491231002")}
    record = parse_record(raw, CATALOG)
    assert record.canonical() == canonicalize(record.to_json()) == canonicalize(raw)
    # a catalog string with escapes and non-ASCII text goes through the same encoder
    odd = Record(text, record.category, record.org, record.subject, record.fields_jcs)
    assert odd.canonical() == canonicalize(odd.to_json())


def test_resident_subjects_are_accepted() -> None:
    raw = sample_record(ORG)
    raw["subject"] = {"kind": "resident_id", "id": make_resident_id("11010519491231002")}
    assert parse_record(raw, CATALOG).subject.kind == "resident_id"


def _broken(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    raw = sample_record(ORG)
    target: Any = raw
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "error", "detail"),
    [
        (("catalog",), "2025.9", CatalogVersionMismatch, "2025.9"),
        (("catalog",), 2026, MalformedObject, "/catalog"),
        (("category",), "no_such_category", UnknownCategory, "no_such_category"),
        (("org",), "0x" + "AB" * 32, MalformedObject, "/org"),
        (("org",), "ab" * 32, MalformedObject, "/org"),
        (("org",), "0x" + "ab" * 31, MalformedObject, "/org"),
        (("org",), _DELETE, MalformedObject, "/org"),
        (("extra",), 1, MalformedObject, "/extra"),
        (("subject", "kind"), "passport", InvalidIdentifier, "kind"),
        (("subject", "id"), SUBJECT_USCC.lower(), InvalidIdentifier, "normalised"),
        (("subject", "id"), " " + SUBJECT_USCC, InvalidIdentifier, "normalised"),
        (("subject", "id"), SUBJECT_USCC[:-1] + "0", InvalidIdentifier, "check character"),
        (("subject", "id"), 12, MalformedObject, "/subject/id"),
        (("subject", "extra"), 1, MalformedObject, "/subject/extra"),
        (("fields",), [], MalformedObject, "/fields"),
        (("fields", "fine_amount_fen"), -1, SchemaViolation, "/fine_amount_fen"),
        (("fields", "decision_no"), _DELETE, SchemaViolation, "/decision_no"),
        (
            ("fields", "authority_uscc"),
            DEPT_USCC[:-1] + "0",
            InvalidIdentifier,
            "fields/authority_uscc",
        ),
        (("fields", "penalty_content"), "\ud800", CanonicalizationError, "surrogate"),
    ],
)
def test_invalid_records_are_refused_with_the_right_error(
    path: tuple[str, ...], value: Any, error: type[DomainError], detail: str
) -> None:
    with pytest.raises(error, match=detail.replace("(", r"\(")):
        parse_record(_broken(path, value), CATALOG)


def test_non_object_record() -> None:
    with pytest.raises(MalformedObject, match="JSON object"):
        parse_record(["not", "a", "record"], CATALOG)


def test_commitment_is_sha256_of_salt_and_canonical_record() -> None:
    raw = sample_record(ORG)
    expected = hashlib.sha256(SALT + canonicalize(raw)).digest()
    assert commitment(raw, SALT) == expected
    assert commitment(parse_record(raw, CATALOG), SALT) == expected
    assert commitment(raw, bytes(32)) != expected
    with pytest.raises(ValueError, match="salt"):
        commitment(raw, SALT[:31])


# ---------------------------------------------------------------------------------------
# §3 batches


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_batch_root_and_paths(n: int) -> None:
    commitments = [hashlib.sha256(b"c%d" % i).digest() for i in range(n)]
    root = batch_root(commitments)
    assert root == tree_root([leaf_hash(c) for c in commitments])
    paths = batch_paths(commitments)
    for i, c in enumerate(commitments):
        assert paths[i] == batch_path(commitments, i)
        assert verify_batch_path(c, i, n, paths[i], root)
        assert not verify_batch_path(c, i, n, paths[i], hashlib.sha256(root).digest())
        assert not verify_batch_path(hashlib.sha256(c).digest(), i, n, paths[i], root)
        if n > 1:
            assert not verify_batch_path(c, (i + 1) % n, n, paths[i], root)
            broken = [bytes([paths[i][0][0] ^ 1]) + paths[i][0][1:], *paths[i][1:]]
            assert not verify_batch_path(c, i, n, broken, root)


def test_batch_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        batch_root([])
    with pytest.raises(ValueError, match="32 bytes"):
        batch_root([b"short"])
    with pytest.raises(ValueError, match="outside"):
        batch_path([bytes(32)], 1)
    assert not verify_batch_path(b"short", 0, 1, [], bytes(32))


# ---------------------------------------------------------------------------------------
# §3-§5 department signatures and leaf entries


def _single_signature(raw: dict[str, Any]) -> DepartmentSignature:
    c = commitment(raw, SALT)
    value = sign_typed(
        DEPT,
        DOMAIN,
        "CreditRecord",
        {
            "org": ORG,
            "category": raw["category"],
            "commitment": c,
            "signedAt": T,
            "nonce": NONCE,
        },
    )
    return DepartmentSignature("CreditRecord", T, NONCE, value)


def _batch_signatures(raws: list[dict[str, Any]]) -> tuple[list[bytes], list[DepartmentSignature]]:
    commitments = [commitment(r, SALT) for r in raws]
    root = batch_root(commitments)
    value = sign_typed(
        DEPT,
        DOMAIN,
        "CreditRecordBatch",
        {
            "org": ORG,
            "root": root,
            "count": len(raws),
            "signedAt": T,
            "nonce": NONCE,
        },
    )
    return commitments, [
        DepartmentSignature(
            "CreditRecordBatch", T, NONCE, value, BatchPosition(root, len(raws), i, tuple(p))
        )
        for i, p in enumerate(batch_paths(commitments))
    ]


def test_department_signer_single_and_batch() -> None:
    raw = sample_record(ORG)
    sig = _single_signature(raw)
    c = commitment(raw, SALT)
    assert department_signer(DOMAIN, sig, org=ORG, category="admin_penalty", commitment=c) == (
        DEPT.address
    )
    assert (
        department_signer(DOMAIN, sig, org=ORG, category="tax_credit_rating", commitment=c)
        != DEPT.address
    )
    raws = [sample_record(ORG, n) for n in range(5)]
    commitments, sigs = _batch_signatures(raws)
    for c, s in zip(commitments, sigs, strict=True):
        assert department_signer(DOMAIN, s, org=ORG, category="x", commitment=c) == DEPT.address
        assert department_message(s, org=ORG, category="x", commitment=c)["count"] == 5
    with pytest.raises(BadSignature, match="batch path"):
        department_signer(DOMAIN, sigs[0], org=ORG, category="x", commitment=commitments[1])


def test_leaf_entry_shape_and_record_id() -> None:
    raw = sample_record(ORG)
    sig = _single_signature(raw)
    subject = hashlib.sha256(b"subject").digest()
    entry = make_leaf_entry(
        org=ORG,
        category="admin_penalty",
        subject_commitment=subject,
        commitment=commitment(raw, SALT),
        signature=sig,
        received_at=T + 1,
        pepper=PEPPER,
    )
    tag = subject_tag(PEPPER, commitment(raw, SALT), subject)
    assert entry == {
        "v": 2,
        "kind": "record",
        "org": "0x" + ORG.hex(),
        "category": "admin_penalty",
        "subject_tag": tag.hex(),
        "commitment": commitment(raw, SALT).hex(),
        "sig": {
            "scheme": "eip712-v1",
            "type": "CreditRecord",
            "signed_at": T,
            "nonce": "0x" + NONCE.hex(),
            "value": "0x" + sig.value.hex(),
        },
        "received_at": T + 1,
    }
    data = leaf_bytes(entry)
    assert data == canonicalize(entry)
    assert record_id(data) == hashlib.sha256(b"\x00" + data).hexdigest()
    parsed = parse_leaf_entry(copy.deepcopy(entry))
    assert parsed.to_json() == entry
    assert parsed.leaf_hash.hex() == record_id(data)
    assert SUBJECT_USCC not in data.decode()
    assert subject.hex() not in data.decode()
    assert parsed.names_subject(PEPPER, subject)
    assert not parsed.names_subject(PEPPER, hashlib.sha256(b"other").digest())
    assert not parsed.names_subject(b"another pepper", subject)


def test_leaf_subject_tags_do_not_link_records_of_one_subject() -> None:
    subject = hashlib.sha256(b"subject").digest()
    tags = {
        subject_tag(PEPPER, commitment(sample_record(ORG), salt), subject)
        for salt in (b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)
    }
    assert len(tags) == 3


def test_version_1_leaf_entries_still_parse_and_name_their_subject() -> None:
    """Logs are append-only: entries written before the subject tag keep verifying."""
    v2 = _leaf()
    subject = bytes(32)
    v1 = {k: v for k, v in v2.items() if k != "subject_tag"} | {"v": 1, "subject": subject.hex()}
    parsed = parse_leaf_entry(copy.deepcopy(v1))
    assert parsed.v == 1
    assert parsed.to_json() == v1
    assert parsed.leaf_hash == leaf_hash(canonicalize(v1))
    assert parsed.names_subject(PEPPER, subject)
    with pytest.raises(MalformedObject) as info:
        parse_leaf_entry(v1 | {"v": 2})
    assert info.value.pointer == "/subject"


def test_batch_leaf_entry_round_trips() -> None:
    raws = [sample_record(ORG, n) for n in range(3)]
    commitments, sigs = _batch_signatures(raws)
    entry = make_leaf_entry(
        org=ORG,
        category="admin_penalty",
        subject_commitment=bytes(32),
        commitment=commitments[1],
        signature=sigs[1],
        received_at=T,
        pepper=PEPPER,
    )
    assert entry["sig"]["batch"] == {
        "root": sigs[1].batch.root.hex() if sigs[1].batch else None,
        "count": 3,
        "index": 1,
        "path": [p.hex() for p in batch_path(commitments, 1)],
    }
    assert parse_leaf_entry(entry).to_json() == entry


def _leaf() -> dict[str, Any]:
    raws = [sample_record(ORG, n) for n in range(3)]
    commitments, sigs = _batch_signatures(raws)
    return make_leaf_entry(
        org=ORG,
        category="admin_penalty",
        subject_commitment=bytes(32),
        commitment=commitments[0],
        signature=sigs[0],
        received_at=T,
        pepper=PEPPER,
    )


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda e: e.update(v=3), "/v"),
        (lambda e: e.update(v=True), "/v"),
        (lambda e: e.update(kind="access"), "/kind"),
        (lambda e: e.update(org=e["org"].upper()), "/org"),
        (lambda e: e.update(subject_tag="0x" + e["subject_tag"]), "/subject_tag"),
        (lambda e: e.update(commitment=e["commitment"][:-2]), "/commitment"),
        (lambda e: e.update(received_at=-1), "/received_at"),
        (lambda e: e.update(received_at=1.5), "/received_at"),
        (lambda e: e.update(received_at=2**53), "/received_at"),
        (lambda e: e.update(extra=1), "/extra"),
        (lambda e: e.pop("category"), "/category"),
        (lambda e: e["sig"].update(scheme="eip191"), "/sig/scheme"),
        (lambda e: e["sig"].update(type="Other"), "/sig/type"),
        (lambda e: e["sig"].update(type="CreditRecord"), "/sig/batch"),
        (lambda e: e["sig"].pop("batch"), "/sig/batch"),
        (lambda e: e["sig"]["batch"].update(index=3), "/sig/batch/index"),
        (lambda e: e["sig"]["batch"].update(count=0), "/sig/batch/count"),
        (lambda e: e["sig"]["batch"].update(path="00"), "/sig/batch/path"),
        (lambda e: e["sig"]["batch"]["path"].append("zz"), "/sig/batch/path/2"),
        (lambda e: e["sig"].update(nonce=e["sig"]["nonce"][2:]), "/sig/nonce"),
    ],
)
def test_leaf_entries_are_parsed_strictly(mutate: Any, pointer: str) -> None:
    entry = _leaf()
    mutate(entry)
    with pytest.raises(MalformedObject) as info:
        parse_leaf_entry(entry)
    assert info.value.pointer == pointer


def test_parse_hex() -> None:
    assert parse_hex("0x0aff", size=2, prefixed=True) == b"\x0a\xff"
    assert parse_hex("", size=0, prefixed=False) == b""
    for value, prefixed in [
        ("0x0AFF", True),
        ("0aff", True),
        ("0x0aff", False),
        ("0af", False),
        (10, False),
        ("0x0g", True),
    ]:
        with pytest.raises(MalformedObject):
            parse_hex(value, size=None, prefixed=prefixed)
    with pytest.raises(MalformedObject, match="exactly 3 bytes"):
        parse_hex("0aff", size=3, prefixed=False)


# ---------------------------------------------------------------------------------------
# §6 receipts


def _receipt(**overrides: Any) -> Receipt:
    args: dict[str, Any] = {
        "log_id": log_id(GATEWAY_ORG, "records"),
        "index": 41,
        "leaf_hash": b"\x07" * 32,
        "received_at": T,
        "anchor_by": T + 60,
        "gateway": GATEWAY_ORG,
        "sign": typed_signer(GATEWAY, DOMAIN),
    }
    args.update(overrides)
    return make_receipt(**args)


def test_receipt_signs_the_documented_message() -> None:
    receipt = _receipt()
    assert receipt.message() == receipt_message(
        log_id=receipt.log_id, index=41, leaf_hash=b"\x07" * 32, received_at=T, anchor_by=T + 60
    )
    assert receipt_signer(receipt, DOMAIN) == GATEWAY.address
    doc = receipt.to_json()
    assert set(doc) == {
        "log_id",
        "index",
        "leaf_hash",
        "received_at",
        "anchor_by",
        "gateway",
        "signature",
    }
    assert doc["leaf_hash"] == "07" * 32
    assert doc["log_id"].startswith("0x")
    assert parse_receipt(doc) == receipt


@pytest.mark.parametrize("member", ["index", "received_at", "anchor_by"])
def test_a_receipt_with_an_altered_member_recovers_to_someone_else(member: str) -> None:
    doc = _receipt().to_json()
    doc[member] += 1
    assert receipt_signer(parse_receipt(doc), DOMAIN) != GATEWAY.address


def test_receipt_errors() -> None:
    with pytest.raises(ValueError, match="anchor_by"):
        _receipt(anchor_by=T - 1)
    with pytest.raises(ValueError, match="leaf hash"):
        _receipt(leaf_hash=b"\x07")
    doc = _receipt().to_json()
    doc["signature"] = doc["signature"][:-2]
    with pytest.raises(BadSignature):
        receipt_signer(parse_receipt(doc), DOMAIN)
    with pytest.raises(MalformedObject, match="/gateway"):
        parse_receipt({**_receipt().to_json(), "gateway": "0x12"})


# ---------------------------------------------------------------------------------------
# §4 submissions (built by the client SDK, parsed by the gateway)


def _submission(n: int) -> dict[str, Any]:
    raws = [sample_record(ORG, i) for i in range(n)]
    salts = [hashlib.sha256(b"s%d" % i).digest() for i in range(n)]
    return build_submission(
        raws, salts, org_id=ORG, signed_at=T, nonce=NONCE, sign=typed_signer(DEPT, DOMAIN)
    )


@pytest.mark.parametrize("n", [1, 2, 7])
def test_submission_round_trip(n: int) -> None:
    body = _submission(n)
    sub = parse_submission(copy.deepcopy(body), CATALOG)
    assert sub.type == ("CreditRecord" if n == 1 else "CreditRecordBatch")
    assert sub.signer(DOMAIN) == DEPT.address
    assert len(sub.records) == n
    for item, parsed in zip(body["records"], sub.records, strict=True):
        assert parsed.record.to_json() == item["record"]
        assert parsed.commitment == commitment(item["record"], bytes.fromhex(item["salt"]))
    for parsed, sig in zip(sub.records, sub.leaf_signatures(), strict=True):
        assert (
            department_signer(
                DOMAIN, sig, org=ORG, category=parsed.record.category, commitment=parsed.commitment
            )
            == DEPT.address
        )


def test_a_batch_of_one_is_allowed() -> None:
    body = _submission(2)
    del body["records"][1]
    # re-sign as a batch of one
    c = commitment(body["records"][0]["record"], bytes.fromhex(body["records"][0]["salt"]))
    body["signature"]["value"] = (
        "0x"
        + sign_typed(
            DEPT,
            DOMAIN,
            "CreditRecordBatch",
            {
                "org": ORG,
                "root": batch_root([c]),
                "count": 1,
                "signedAt": T,
                "nonce": NONCE,
            },
        ).hex()
    )
    assert parse_submission(body, CATALOG).signer(DOMAIN) == DEPT.address


def test_submission_errors() -> None:
    body = _submission(2)
    body["signature"]["type"] = "CreditRecord"
    with pytest.raises(MalformedObject, match="exactly one"):
        parse_submission(body, CATALOG)
    with pytest.raises(MalformedObject, match="at most 1 records"):
        parse_submission(_submission(2), CATALOG, max_records=1)
    body = _submission(2)
    body["records"][1]["record"]["org"] = "0x" + "ab" * 32
    with pytest.raises(MalformedObject) as info:
        parse_submission(body, CATALOG)
    assert info.value.pointer == "/records/1/record/org"
    body = _submission(2)
    body["records"][0]["record"]["org"] = "0xAB"
    with pytest.raises(MalformedObject) as info:
        parse_submission(body, CATALOG)
    assert info.value.pointer == "/records/0/record/org"
    body = _submission(1)
    body["records"][0]["record"]["fields"]["fine_amount_fen"] = "many"
    with pytest.raises(SchemaViolation):
        parse_submission(body, CATALOG)
    body = _submission(1)
    value = bytes.fromhex(body["signature"]["value"][2:])
    body["signature"]["value"] = "0x" + (value[:64] + b"\x00").hex()
    with pytest.raises(BadSignature):
        parse_submission(body, CATALOG)
    with pytest.raises(MalformedObject, match="non-empty"):
        parse_submission({"records": [], "signature": _submission(1)["signature"]}, CATALOG)


def test_submission_signature_covers_every_record() -> None:
    body = _submission(3)
    body["records"][2]["record"]["fields"]["fine_amount_fen"] += 1
    assert parse_submission(body, CATALOG).signer(DOMAIN) != DEPT.address


def test_new_error_codes_are_stable() -> None:
    assert MalformedObject.code == "malformed-object"
    assert CatalogVersionMismatch.code == "catalog-version-mismatch"
    assert BadSignature.code == "bad-signature"
    err = MalformedObject("/a", "bad")
    assert (err.pointer, err.reason, str(err)) == ("/a", "bad", "/a: bad")
