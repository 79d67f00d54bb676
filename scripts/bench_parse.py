#!/usr/bin/env python3
"""What the strict JSON reader costs on a 1,000-record submission body, and how much of it is
the nesting-depth pre-scan (issue 9, finding 1).

    PYTHONPATH=. .venv/bin/python scripts/bench_parse.py [--records 1000] [--runs 200]

Builds a realistic signed batch body (the sample fields of ``admin_penalty``, a dummy
signature), then times ``parse_json`` on it and, when present, ``_depth_within`` alone, and
prints the best of ``--runs`` runs in µs. Run it with another checkout first on ``PYTHONPATH``
for the figure before a change.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

from gateway.client import build_submission
from gateway.domain import canonical
from gateway.domain.identifiers import make_uscc
from tests.samples import sample_fields


def batch(n: int) -> bytes:
    org = os.urandom(32)
    records = []
    for i in range(n):
        fields = sample_fields("admin_penalty")
        fields["fine_amount_fen"] = i
        records.append(
            {
                "catalog": "2026.1",
                "category": "admin_penalty",
                "org": "0x" + org.hex(),
                "subject": {"kind": "uscc", "id": make_uscc(f"9161080{i % 10}MA{i:07d}")},
                "fields": fields,
            }
        )
    body = build_submission(
        records,
        [os.urandom(32) for _ in records],
        org_id=org,
        signed_at=1,
        nonce=os.urandom(32),
        sign=lambda *_: b"\x01" * 65,
    )
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def best_us(f: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    body = batch(args.records)
    print(f"body: {args.records} records, {len(body):,} bytes")
    print(f"parse_json: {best_us(lambda: canonical.parse_json(body), args.runs):,.0f} µs")
    scan = getattr(canonical, "_depth_within", None)
    if scan is not None:
        prescan = best_us(lambda: scan(body, canonical.MAX_DEPTH), args.runs)
        print(f"  of which the depth pre-scan: {prescan:,.0f} µs")


if __name__ == "__main__":
    main()
