"""`audit reconcile`'s matching (gateway/_reconcile.py) on hand-made logs: both directions,
receipts, failed forwards, the time range, unproven sides."""

from __future__ import annotations

import json
from typing import Any

from gateway._reconcile import Side, reconcile
from gateway.domain.canonical import canonicalize
from gateway.domain.merkle import leaf_hash

A, B = 620100, 610800
GW_A, GW_B = "0x" + "aa" * 32, "0x" + "bb" * 32


def _access(rhash: str, at: int = 100, from_city: int = A) -> bytes:
    return canonicalize(
        {
            "v": 2,
            "kind": "access",
            "requester": "0x" + "01" * 32,
            "decision": "allow",
            "decided_at": at,
            "cross_city": {"from_city": from_city, "request_hash": rhash},
        }
    )


def _forward(
    rhash: str, target: int, receipt: dict[str, Any] | None, outcome: str = "relayed", at: int = 100
) -> bytes:
    return canonicalize(
        {
            "v": 2,
            "kind": "forward",
            "requester": "0x" + "01" * 32,
            "target_city": target,
            "request_hash": rhash,
            "outcome": outcome,
            "partner_receipt": receipt,
            "decided_at": at,
        }
    )


def _receipt(entries: list[bytes], index: int) -> dict[str, Any]:
    return {"log_id": "0x", "index": index, "leaf_hash": leaf_hash(entries[index]).hex()}


def _sides(home: list[bytes], partner: list[bytes]) -> tuple[Side, Side]:
    return (
        Side(A, GW_A, "http://a", home, len(home), True),
        Side(B, GW_B, "http://b", partner, len(partner), True),
    )


def test_clean_both_directions() -> None:
    b = [_access("h1"), _forward("h2", A, None)]
    a = [_forward("h1", B, _receipt(b, 0))]
    a.append(_access("h2", from_city=B))
    b[1] = _forward("h2", A, _receipt(a, 1))
    report = reconcile(*_sides(a, b))
    assert report.ok, [str(f) for f in report.findings]
    assert report.matched == 2
    assert json.loads(json.dumps(report.to_json()))["ok"] is True


def test_each_kind_of_finding() -> None:
    b = [_access("h1"), _access("orphan"), _access("h3")]
    a = [
        _forward("h1", B, _receipt(b, 0)),
        _forward("gone", B, {"log_id": "0x", "index": 9, "leaf_hash": "00"}),
        _forward("h3", B, {"log_id": "0x", "index": 0, "leaf_hash": "00"}),  # wrong leaf
        _forward("never", B, None, outcome="failed"),  # the partner never answered: fine
    ]
    report = reconcile(*_sides(a, b))
    got = sorted((f.check, f.city, f.index, f.request_hash) for f in report.findings)
    assert got == [
        ("missing-at-home", B, 1, "orphan"),
        ("missing-at-partner", A, 1, "gone"),
        ("receipt-mismatch", B, 0, "h3"),
    ]
    assert report.matched == 1


def test_a_timed_out_forward_the_partner_logged_is_matched() -> None:
    b = [_access("h1")]
    a = [_forward("h1", B, None, outcome="failed")]
    report = reconcile(*_sides(a, b))
    assert report.ok
    assert report.matched == 1


def test_time_range_and_unproven_sides() -> None:
    b = [_access("late", at=500)]
    a: list[bytes] = []
    assert not reconcile(*_sides(a, b)).ok
    assert reconcile(*_sides(a, b), start=0, end=400).ok  # outside the range
    home, partner = _sides([], [])
    partner.proven, partner.problem = False, "the served entries do not hash to the root"
    (f,) = reconcile(home, partner).findings
    assert (f.check, f.city) == ("unproven", B)
    assert "do not hash" in str(f)
