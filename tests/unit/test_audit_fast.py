"""The auditor's fast paths (issue 12, item 4) say exactly what the slow ones say: the tree
built a page at a time level by level is the tree built leaf by leaf, and the index rows read
from an entry with one regular expression are the rows its JSON says — for the gateway's own
shape and for anything a hostile gateway could store instead."""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway._access_index import entry_rows, index_document, parse_entry
from gateway._audit import (
    _index_findings,
    expected_index_document,
    extend_tree,
    leaf_hashes,
    page_entry_rows,
)
from gateway.domain.canonical import canonicalize
from gateway.domain.merkle import MemoryTree, leaf_hash


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=70), min_size=1, max_size=6))
def test_a_tree_built_page_by_page_is_the_tree_built_leaf_by_leaf(pages: list[int]) -> None:
    one, bulk = MemoryTree(), MemoryTree()
    n = 0
    for size in pages:
        entries = [b"entry %d" % (n + k) for k in range(size)]
        n += size
        one.extend(leaf_hash(e) for e in entries)
        extend_tree(bulk, leaf_hashes(entries))
        assert bulk.levels == one.levels
        assert bulk.size == n
        if n:
            assert bulk.root() == one.root()


def _hex(n: int) -> str:
    return os.urandom(n).hex()


def _decision(allowed: bool, basis: str | None, grant: str | None) -> dict[str, object]:
    return {
        "allowed": allowed,
        "basis": basis,
        "fields": ["rating", "score"] if allowed else [],
        "grant": grant,
        "reason": "allowed" if allowed else "no-grant",
        "record": _hex(32),
    }


def _entry(decisions: list[dict[str, object]], **over: object) -> dict[str, object]:
    grant = "0x" + _hex(32)
    return {
        "block": 17,
        "categories": ["tax_credit_rating"],
        "clock": {"block": 1796684043, "gateway": 1796684044},
        "decided_at": 1796684049,
        "decision": "allow" if decisions else "deny",
        "decisions": decisions,
        "grant": grant,
        "kind": "access",
        "policy": 2,
        "purpose": "loan_approval",
        "reason": "allowed",
        "record": None,
        "requester": "0x" + _hex(32).upper(),
        "sig": {
            "nonce": "0x" + _hex(32),
            "scheme": "eip712-v1",
            "signed_at": 1796684044,
            "type": "ReadRequest",
            "value": "0x" + _hex(65),
        },
        "subject_digest": _hex(32),
        "subject_salt": _hex(16),
        "subject_tag": _hex(32),
        "v": 2,
        **over,
    }


def _truth(index: int, raw: bytes) -> list[tuple[object, ...]]:
    doc = parse_entry(raw)
    return [] if doc is None else entry_rows(index, doc)


def test_the_gateways_own_entries_read_by_the_fast_path_as_the_json_says() -> None:
    grant = "0x" + _hex(32)
    shapes = [
        [_decision(True, "statutory", grant)],
        [_decision(True, "consent", grant), _decision(False, None, None)],
        [_decision(False, None, None), _decision(False, "consent", None)],
        [],  # no records: the request's own row (the slow path)
    ]
    for decisions in shapes:
        raw = canonicalize(_entry(decisions))
        assert page_entry_rows(7, raw) == _truth(7, raw), decisions
        assert page_entry_rows(7, raw) == entry_rows(7, json.loads(raw))


_HOSTILE = st.sampled_from(
    [
        b'"purpose":"',
        b'}],"grant":null,',
        b'"decisions":[',
        b",",
        b'"',
        b"\\",
        b"0",
        b"01",
        b"null",
        b'"basis":"x"',
        b'"record":"' + b"ab" * 32 + b'"',
        b"{}",
        b"]",
        b"\n",
        b'"v":2}',
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), _HOSTILE, st.integers(0, 2), st.data())
def test_a_mangled_entry_reads_by_the_fast_path_as_the_json_says(
    at: int, piece: bytes, how: int, data: st.DataObject
) -> None:
    """Bytes inserted, replaced or removed anywhere in a real-shaped entry: the fast path
    gives the JSON's rows (or none, for what is not an access entry) or raises as the slow
    path would — never rows of its own."""
    grant = "0x" + _hex(32)
    decisions = data.draw(
        st.sampled_from([[_decision(True, "statutory", grant), _decision(False, None, None)], []])
    )
    raw = canonicalize(_entry(decisions))
    i = at % (len(raw) + 1)
    j = min(len(raw), i + data.draw(st.integers(0, 40)))
    mangled = (
        raw[:i] + piece + raw[i:]
        if how == 0
        else raw[:i] + piece + raw[j:]
        if how == 1
        else raw[:i] + raw[j:]
    )
    try:
        want = _truth(3, mangled)
    except (KeyError, TypeError, ValueError, AttributeError):
        want = None
    try:
        got = page_entry_rows(3, mangled)
    except (KeyError, TypeError, ValueError, AttributeError):
        got = None
    assert got == want, mangled


def test_an_entry_of_another_shape_is_an_unreadable_finding_not_a_crash() -> None:
    """A decision that is not an object (a hostile gateway can log anything before it is
    anchored): the auditor names the entry instead of dying on it."""
    raw = canonicalize({**_entry([]), "decisions": ["not an object"]})
    findings = _index_findings("access log", 5, [raw], b'{"rows":[]}')
    assert [str(f) for f in findings] == ["index: access log[5]: unreadable entry"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=8), st.integers(0, 10**6), st.data())
def test_the_expected_index_written_from_bytes_is_the_json_encoders(
    shapes: list[int], start: int, data: st.DataObject
) -> None:
    """Pages of the gateway's own entries (any mix of decisions, and none): the index
    document written from the matched bytes is byte for byte the encoder's over the rows;
    a page with one entry of another shape gets None (the rows are then built one by one)."""
    grant = "0x" + _hex(32)
    pool = [
        [_decision(True, "statutory", grant)],
        [_decision(True, "consent", grant), _decision(False, None, None)],
        [],
        [_decision(False, "consent", None)],
    ]
    entries = []
    for k in shapes:
        over: dict[str, object] = {"decided_at": data.draw(st.integers(0, 2**53 - 1))}
        if not pool[k]:
            over |= data.draw(
                st.sampled_from(
                    [
                        {"decision": "allow", "grant": None},
                        {"decision": "deny", "reason": "no-grant", "record": _hex(32)},
                    ]
                )
            )
        entries.append(canonicalize(_entry(pool[k], **over)))
    rows = [r for i, e in enumerate(entries, start) for r in entry_rows(i, json.loads(e))]
    assert expected_index_document(start, entries) == index_document(rows)
    odd = canonicalize({**_entry([]), "purpose": "odd purpose"})
    at = data.draw(st.integers(0, len(entries)))
    assert expected_index_document(start, [*entries[:at], odd, *entries[at:]]) is None
