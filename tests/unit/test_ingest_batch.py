"""Batch-native ingest (issue 12 item 2): every one-pass builder gives exactly what the
one-record code gives, and the compiled schemas are never looser than the catalog's own
validator."""

from __future__ import annotations

import copy
import dataclasses
import gc
import hashlib
import json
import os
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway._ingest import ReceiptSigner, Retention, gc_paused
from gateway.client import build_submission
from gateway.domain import records as records_module
from gateway.domain.canonical import canonicalize
from gateway.domain.catalog import load_catalog
from gateway.domain.errors import CanonicalizationError, InvalidIdentifier, SchemaViolation
from gateway.domain.identifiers import make_uscc, subject_commitment
from gateway.domain.lifecycle import retain_until
from gateway.domain.merkle import leaf_hash, tree_root
from gateway.domain.records import (
    Submission,
    batch_paths,
    batch_root,
    leaf_bytes,
    leaf_entries,
    make_leaf_entry,
    make_receipt,
    parse_leaf_entry,
    parse_receipt,
    parse_submission,
    receipt_signer,
)
from gateway.domain.signing import fast_typed_signer, signing_domain
from tests.bundle_factory import CHAIN_ID, MEMBERSHIP, PEPPER, account_for
from tests.samples import sample_fields

CATALOG = load_catalog()
DOMAIN = signing_domain(CHAIN_ID, MEMBERSHIP)
ACCOUNT = account_for("ingest department")
ORG = hashlib.sha256(b"ingest org").digest()
SIGN = fast_typed_signer(ACCOUNT, DOMAIN)
CATEGORIES = sorted(CATALOG.categories)


def _submission(n: int, *, signed_at: int = 1_795_660_000, single: bool = False) -> Submission:
    records = []
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        records.append(
            {
                "catalog": CATALOG.version,
                "category": category,
                "org": "0x" + ORG.hex(),
                "subject": {"kind": "uscc", "id": make_uscc(f"91610800MA{i:07d}")},
                "fields": sample_fields(category),
            }
        )
    body = build_submission(
        records,
        [os.urandom(32) for _ in records],
        org_id=ORG,
        signed_at=signed_at,
        nonce=os.urandom(32),
        sign=SIGN,
    )
    sub = parse_submission(json.loads(json.dumps(body)), CATALOG)
    if n == 1 and not single:  # a batch of one (the signature is not checked here)
        sub = dataclasses.replace(sub, type="CreditRecordBatch")
    return sub


# ---------------------------------------------------------------------------------------------
# leaf entries and the batch tree


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 40),
    received_at=st.integers(0, 2**53 - 1),
    signed_at=st.integers(0, 2**53 - 1),
)
def test_leaf_entries_are_the_one_record_builder_s_bytes(
    n: int, received_at: int, signed_at: int
) -> None:
    sub = _submission(n, signed_at=signed_at)
    subjects = [subject_commitment(PEPPER, r.record.subject) for r in sub.records]
    expected = [
        leaf_bytes(
            make_leaf_entry(
                org=sub.org,
                category=r.record.category,
                subject_commitment=subject,
                commitment=r.commitment,
                signature=sig,
                received_at=received_at,
                pepper=PEPPER,
            )
        )
        for r, subject, sig in zip(sub.records, subjects, sub.leaf_signatures(), strict=True)
    ]
    got = leaf_entries(sub, subjects, received_at=received_at, pepper=PEPPER)
    assert got == expected
    for entry, subject in zip(got, subjects, strict=True):  # and each parses back strictly
        parsed = parse_leaf_entry(json.loads(entry))
        assert parsed.canonical() == entry
        assert parsed.names_subject(PEPPER, subject)


def test_leaf_entries_of_a_per_record_signature() -> None:
    sub = _submission(1, single=True)
    assert sub.type == "CreditRecord"
    subject = subject_commitment(PEPPER, sub.records[0].record.subject)
    (sig,) = sub.leaf_signatures()
    expected = make_leaf_entry(
        org=sub.org,
        category=sub.records[0].record.category,
        subject_commitment=subject,
        commitment=sub.records[0].commitment,
        signature=sig,
        received_at=5,
        pepper=PEPPER,
    )
    assert leaf_entries(sub, [subject], received_at=5, pepper=PEPPER) == [leaf_bytes(expected)]


def test_leaf_entries_refuse_a_mismatched_subject_list() -> None:
    sub = _submission(3)
    with pytest.raises(ValueError, match="one subject commitment per record"):
        leaf_entries(sub, [bytes(32)] * 2, received_at=1, pepper=PEPPER)
    with pytest.raises(ValueError, match="32 bytes"):
        leaf_entries(sub, [bytes(31)] * 3, received_at=1, pepper=PEPPER)


@pytest.mark.parametrize("n", [*range(1, 70), 127, 128, 129, 255, 256, 257, 1000])
def test_the_bottom_up_batch_tree_is_the_rfc9162_tree(n: int) -> None:
    commitments = [hashlib.sha256(b"%d" % i).digest() for i in range(n)]
    leaves = [leaf_hash(c) for c in commitments]
    assert batch_root(commitments) == tree_root(leaves)
    levels = records_module._batch_levels(commitments)
    texts = records_module._path_texts(levels)
    assert [json.loads(t) for t in texts] == [
        [p.hex() for p in path] for path in batch_paths(commitments)
    ]


# ---------------------------------------------------------------------------------------------
# receipts


@settings(max_examples=30, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.integers(0, 2**53 - 1), st.binary(min_size=32, max_size=32)),
        min_size=1,
        max_size=8,
    ),
    received_at=st.integers(0, 2**53 - 1 - 10**6),
    delay=st.integers(0, 10**6),
)
def test_receipts_signed_in_one_pass_are_the_one_receipt_signer_s(
    items: list[tuple[int, bytes]], received_at: int, delay: int
) -> None:
    log = hashlib.sha256(b"log").digest()
    gateway = hashlib.sha256(b"gateway").digest()
    signer = ReceiptSigner(ACCOUNT, DOMAIN, log_id=log, gateway=gateway)
    got = signer.sign(items, received_at=received_at, anchor_by=received_at + delay)
    for (index, leaf), (receipt, text) in zip(items, got, strict=True):
        expected = make_receipt(
            log_id=log,
            index=index,
            leaf_hash=leaf,
            received_at=received_at,
            anchor_by=received_at + delay,
            gateway=gateway,
            sign=SIGN,
        )
        assert receipt == expected.to_json()
        assert text == json.dumps(expected.to_json(), sort_keys=True)  # the stored form
        assert receipt_signer(parse_receipt(json.loads(text)), DOMAIN) == ACCOUNT.address


def test_receipt_signer_refuses_out_of_range_values() -> None:
    signer = ReceiptSigner(ACCOUNT, DOMAIN, log_id=bytes(32), gateway=bytes(32))
    with pytest.raises(ValueError, match="received_at <= anchor_by"):
        signer.sign([(0, bytes(32))], received_at=10, anchor_by=9)
    with pytest.raises(ValueError, match="received_at <= anchor_by"):
        signer.sign([(0, bytes(32))], received_at=1, anchor_by=2**53)
    with pytest.raises(ValueError, match="index out of range"):
        signer.sign([(2**53, bytes(32))], received_at=1, anchor_by=1)
    with pytest.raises(ValueError, match="not 32 bytes"):
        signer.sign([(0, bytes(31))], received_at=1, anchor_by=1)


# ---------------------------------------------------------------------------------------------
# the compiled schemas: never looser than the catalog's validator, same errors


def _reference(category: str, fields: object) -> str | None:
    try:
        CATALOG.category(category).validate_fields(fields)
    except SchemaViolation as exc:
        return str(exc)
    return None


def _compiled(category: str, fields: object) -> str | None:
    try:
        records_module._validate_fields(CATALOG.category(category), fields)  # type: ignore[arg-type]
    except SchemaViolation as exc:
        return str(exc)
    return None


_EDGE_VALUES: list[object] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    0.5,
    -0.0,
    2**53 - 1,
    float("inf"),
    float("nan"),
    "",
    "x",
    "2026-02-10",
    "2026-02-30",
    "2026-2-10",
    "2026-02-10\n",
    "\n2026-02-10",
    "２０２６-02-10",
    "٢٠٢٦-02-10",
    "11610800MB1234567E",
    "11610800MB1234567E\n",
    "11610800mb1234567e",
    "6100123456",
    "6100123456\n",
    "x" * 201,
    "中" * 200,
    "😀" * 100,
    [],
    ["fine"],
    ["fine", "fine"],
    ["fine", "warning"],
    ["nope"],
    [True],
    {},
    {"a": 1},
]


def _json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53) + 1, 2**53 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
        st.sampled_from(_EDGE_VALUES),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=8,
    )


@settings(max_examples=400, deadline=None)
@given(
    category=st.sampled_from(CATEGORIES),
    data=st.data(),
)
def test_compiled_schema_agrees_with_the_catalog_validator(category: str, data: Any) -> None:
    fields: dict[str, Any] = sample_fields(category)
    names = sorted(CATALOG.category(category).schema["properties"])
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["set", "edge", "drop", "extra"]))
        name = data.draw(st.sampled_from(names))
        if action == "set":
            fields[name] = data.draw(_json_values())
        elif action == "edge":
            fields[name] = copy.deepcopy(data.draw(st.sampled_from(_EDGE_VALUES)))
        elif action == "drop":
            fields.pop(name, None)
        else:
            fields[data.draw(st.text(min_size=1, max_size=8))] = data.draw(_json_values())
    assert _compiled(category, fields) == _reference(category, fields)


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("value", _EDGE_VALUES, ids=repr)
def test_compiled_schema_agrees_on_every_edge_value_in_every_member(
    category: str, value: object
) -> None:
    for name in sorted(CATALOG.category(category).schema["properties"]):
        fields = sample_fields(category)
        fields[name] = copy.deepcopy(value)
        assert _compiled(category, fields) == _reference(category, fields), name


# ---------------------------------------------------------------------------------------------
# identifier-typed fields located once per schema


@pytest.mark.parametrize("category", CATEGORIES)
def test_identifier_fields_checked_as_the_schema_walk_checks_them(category: str) -> None:
    cat = CATALOG.category(category)
    schema = records_module._schema_of(cat.schema_json)
    defs = schema.get("$defs", {})

    def walk(fields: dict[str, Any]) -> str | None:
        try:
            records_module._walk_identifiers(schema, defs, fields, ())
        except InvalidIdentifier as exc:
            return f"{exc.check}: {exc}"
        return None

    def planned(fields: dict[str, Any]) -> str | None:
        try:
            records_module._check_identifier_fields(cat, fields)
        except InvalidIdentifier as exc:
            return f"{exc.check}: {exc}"
        return None

    base = sample_fields(category)
    assert planned(base) is None
    assert walk(base) is None
    for name in sorted(cat.schema["properties"]):
        for bad in ("11610800MB1234567X", "11610800mb1234567e", "１1610800MB1234567E", 7):
            fields = sample_fields(category)
            fields[name] = bad
            assert planned(fields) == walk(fields), name


# ---------------------------------------------------------------------------------------------
# canonical text of a string


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_a_string_s_canonical_text_is_canonicalize_s(text: str) -> None:
    try:
        expected: bytes | None = canonicalize(text)
    except CanonicalizationError:
        expected = None
    try:
        got: bytes | None = records_module._jcs_text(text)
    except CanonicalizationError:
        got = None
    assert got == expected


def test_a_lone_surrogate_is_refused_as_canonicalize_refuses_it() -> None:
    with pytest.raises(CanonicalizationError):
        records_module._jcs_text("a\ud800b")


# ---------------------------------------------------------------------------------------------
# retention dates memoised per (category, anchor date); the collector paused per batch


@pytest.mark.parametrize("category", CATEGORIES)
def test_retention_per_anchor_date_is_retain_until_of_the_whole_record(category: str) -> None:
    cat = CATALOG.category(category)
    retention = Retention(CATALOG)
    dates = ["2026-02-10", "2024-02-29", "1999-12-31", "2026-02-30", "", "x", None, 7]
    for name in sorted(cat.schema["properties"]):
        for value in dates:
            fields = sample_fields(category)
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
            for _ in range(2):  # computed, then remembered
                assert retention.until(category, fields) == retain_until(cat, fields), name


def test_the_collector_comes_back_after_the_last_batch_and_only_if_it_was_on() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # a second batch in flight
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off: left off
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_batches_in_threads_leave_the_collector_on() -> None:
    barrier = threading.Barrier(4)

    def batch() -> None:
        with gc_paused():
            barrier.wait(5)

    threads = [threading.Thread(target=batch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert gc.isenabled()


def test_overlapping_batches_still_collect_now_and_then(monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway._ingest as ingest

    collected: list[int] = []
    monkeypatch.setattr(ingest.gc, "collect", lambda *a: collected.append(1) or 0)
    monkeypatch.setattr(ingest, "GC_MAX_PAUSE", 0.0)
    with gc_paused():  # always one batch in flight while others end
        for _ in range(3):
            with gc_paused():
                pass
        assert not gc.isenabled()
    assert len(collected) == 3
    assert gc.isenabled()
