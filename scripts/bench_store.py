"""Benchmark the gateway's Merkle log store (gateway.store.DbLog).

Appends N leaves (default 10^6) in batches of 1000, one committed transaction per batch, and
prints the median append rate over batches; then times random inclusion and consistency proofs
against the final tree (each checked with the RFC 9162 verifiers) and prints the median time
and the number of SQL statements per proof.

Wall-clock rates depend on whatever else the machine is doing, so the append rate is also
reported per CPU-second of this process, together with the load average.

    .venv/bin/python scripts/bench_store.py                       # SQLite in a temp dir
    .venv/bin/python scripts/bench_store.py --leaves 100000 --url postgresql+psycopg://…/db

The database must be empty (or new); SQLite files are created in a temporary directory unless
--url is given.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from gateway.domain.merkle import leaf_hash, verify_consistency, verify_inclusion
from gateway.store import DbLog, make_engine, read_only, session_scope, upgrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--entry-bytes", type=int, default=400, help="size of each leaf entry")
    parser.add_argument("--url", help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--seed", type=int, default=9162)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'gateway.db'}"
        run(url, args.leaves, args.batch, args.proofs, args.entry_bytes, random.Random(args.seed))


def run(
    url: str, leaves: int, batch: int, proofs: int, entry_bytes: int, rng: random.Random
) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        DbLog(session, "records").ensure()
        if DbLog(session, "records").size():
            raise SystemExit("the records log is not empty")

    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    print(f"appending {leaves} leaves in batches of {batch} ({entry_bytes}-byte entries)")
    pad = os.urandom(entry_bytes)
    per_batch: list[float] = []
    per_cpu: list[float] = []
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for b in range(0, leaves, batch):
        n = min(batch, leaves - b)
        entries = [
            b'{"i":%d,"pad":"' % (b + j) + pad[: max(0, entry_bytes - 24)] + b'"}' for j in range(n)
        ]
        t0, c0 = time.perf_counter(), time.process_time()
        with session_scope(engine) as session:
            DbLog(session, "records").append(entries)
        per_batch.append(n / (time.perf_counter() - t0))
        per_cpu.append(n / max(time.process_time() - c0, 1e-9))
        if (b // batch) % 100 == 99:
            print(
                f"  {b + n:>9} leaves, last-100-batch median "
                f"{statistics.median(per_batch[-100:]):,.0f} leaves/s",
                flush=True,
            )
    total = time.perf_counter() - started
    print(
        f"append: median {statistics.median(per_batch):,.0f} leaves/s over {len(per_batch)} "
        f"batches (p10 {quantile(per_batch, 0.1):,.0f}, p90 {quantile(per_batch, 0.9):,.0f}); "
        f"overall {leaves / total:,.0f} leaves/s in {total:.1f} s"
    )
    where = (
        "SQLite runs in-process"
        if engine.dialect.name == "sqlite"
        else "the database server's CPU is not counted"
    )
    print(
        f"append per CPU-second of this process ({where}; excludes waiting for "
        f"the CPU or the disk): median {statistics.median(per_cpu):,.0f} leaves/s; "
        f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        f"({os.cpu_count()} CPUs)"
    )

    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)
    reader = read_only(engine)
    with session_scope(reader) as session:
        log = DbLog(session, "records")
        size = log.size()
        root = log.root(size)
        roots: dict[int, bytes] = {}

        times: list[float] = []
        counts: list[int] = []
        for _ in range(proofs):
            index = rng.randrange(size)
            entry = log.entry(index)
            before = statements
            t0 = time.perf_counter()
            proof = log.inclusion_proof(index, size)
            times.append(time.perf_counter() - t0)
            counts.append(statements - before)
            if not verify_inclusion(leaf_hash(entry), index, size, proof, root):
                raise SystemExit(f"inclusion proof for {index} does not verify")
        print(
            f"inclusion proof (size {size}): median {statistics.median(times) * 1e6:,.0f} µs, "
            f"p90 {quantile(times, 0.9) * 1e6:,.0f} µs, "
            f"{statistics.median(counts):.0f} SQL statements (max {max(counts)})"
        )

        times.clear()
        counts.clear()
        for _ in range(proofs):
            old = rng.randrange(1, size)
            if old not in roots:
                roots[old] = log.root(old)
            before = statements
            t0 = time.perf_counter()
            proof = log.consistency_proof(old, size)
            times.append(time.perf_counter() - t0)
            counts.append(statements - before)
            if not verify_consistency(old, size, roots[old], root, proof):
                raise SystemExit(f"consistency proof {old} -> {size} does not verify")
        print(
            f"consistency proof (-> {size}): median {statistics.median(times) * 1e6:,.0f} µs, "
            f"p90 {quantile(times, 0.9) * 1e6:,.0f} µs, "
            f"{statistics.median(counts):.0f} SQL statements (max {max(counts)})"
        )
    engine.dispose()


def quantile(values: list[float], q: float) -> float:
    """The q-quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


if __name__ == "__main__":
    main()
