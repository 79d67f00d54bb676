#!/usr/bin/env python3
"""Consent-gated read latency and throughput over HTTP, and `audit verify` time, against a
real `creditchain serve --dev` process (local anvil, SQLite) — with the bare cost of one
durable SQLite commit measured in the same run as the baseline.

    python scripts/bench_reads.py [--readers 50] [--reads 2000] [--workers 2]
                                  [--audit-entries 1000000] [--json]

Every read is a signed ReadRequest checked against a statutory grant on chain, decided, and
appended durably to the access log before the answer leaves. Bars (issue 4): p99 <= 50 ms at
50 concurrent readers; 10^6 access-log entries verified in <= 30 s. Exits 1 when a bar is
missed. The `audit verify` phase fills the access log with synthetic entries written straight
into the gateway's database (signing 10^6 real reads would measure the clients, not the audit).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import sqlalchemy as sa

from gateway._audit import chain_checkpoints, verify_log
from gateway._devnet import load_consortium
from gateway.client import DepartmentClient, ReaderClient, build_log_request
from gateway.domain.canonical import canonicalize
from gateway.domain.catalog import load_catalog
from gateway.domain.identifiers import make_uscc
from gateway.domain.policy import purpose_id
from gateway.domain.records import log_id
from gateway.domain.signing import fast_typed_signer, signing_domain
from gateway.store import AccessDecision, DbLog, make_engine, session_scope
from node import Deployment, GrantBasis, GrantParams, connect, free_port
from tests.samples import sample_fields

_DECISIONS: sa.Table = AccessDecision.__table__  # type: ignore[attr-defined]
CLI = str(Path(sys.executable).parent / "creditchain")


def _log_signer(deployment: Deployment, auditor: Any) -> Any:
    """The auditor's signed LogRequests for `audit verify` (entries are not public)."""
    sign = fast_typed_signer(
        auditor.account(), signing_domain(deployment.chain_id, deployment.address("Membership"))
    )

    def build(action: str, start: int, end: int) -> dict[str, Any]:
        return build_log_request(
            sign,
            org_id=bytes.fromhex(auditor.org_id[2:]),
            action=action,
            start=start,
            end=end,
            signed_at=int(time.time()),
            nonce=os.urandom(32),
        )

    return build


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def durable_commit_baseline(n: int = 300) -> float:
    """Median seconds of one INSERT + COMMIT with WAL and synchronous=FULL (1 KiB row)."""
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(Path(d) / "b.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        times = []
        for _ in range(n):
            t = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(1024),))
            db.execute("COMMIT")
            times.append(time.perf_counter() - t)
        db.close()
    return statistics.median(times)


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _own_cpu() -> float:
    """CPU seconds of this process (the load generator)."""
    t = os.times()
    return t.user + t.system


def gateway_pids(pid: int) -> list[int]:
    """The gateway's main process and its extra HTTP workers (not its anvil)."""
    pids = [pid]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"gateway._workers" in cmdline:
            pids.append(int(proc.name))
    return pids


def server_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the gateway's processes (its anvil runs in a process of its own)."""
    return sum(_cpu(p) for p in pids)


def run_phase(port: int, bodies: list[bytes], readers: int, think: float) -> dict[str, object]:
    """``readers`` threads, each with its own keep-alive connection, share ``bodies``; before
    each read a reader waits an exponential think time of mean ``think`` seconds (0: closed
    loop, the next read as soon as the last answer arrives). The load generator uses the
    standard library's http.client to leave the CPU to the gateway."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    rng = random.Random(7)

    def reader() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        with lock:
            delays = [rng.expovariate(1 / think) if think else 0.0 for _ in range(len(bodies))]
        k = 0
        while True:
            time.sleep(delays[k % len(delays)])
            k += 1
            with lock:
                if not queue:
                    break
                body = queue.pop()
            t = time.perf_counter()
            conn.request("POST", "/v1/reads", body=body, headers=_JSON)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=reader) for _ in range(readers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - started
    return {
        "readers": readers,
        "requests": len(latencies),
        "statuses": statuses,
        "p50_ms": round(pct(latencies, 0.5) * 1000, 2),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "throughput_per_s": round(len(latencies) / wall, 1),
    }


_JSON = {"content-type": "application/json"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--reads", type=int, default=2000, help="reads per phase")
    parser.add_argument(
        "--rate",
        type=float,
        default=100.0,
        help="offered reads/s in the paced phase (each reader thinks readers/rate s on average)",
    )
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument(
        "--workers", type=int, default=2, help="gateway HTTP worker processes (serve --workers)"
    )
    parser.add_argument("--audit-entries", type=int, default=1_000_000)
    parser.add_argument(
        "--audit-no-index",
        action="store_true",
        help="audit verify without comparing the access index with the log",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    port, chain_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [
            CLI,
            "serve",
            "--dev",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--chain-port",
            str(chain_port),
            "--max-merge-delay",
            "20",
            "--anchor-every",
            "50000",
            "--workers",
            str(args.workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(data / "serve.log", "wb"),  # noqa: SIM115 - lives as long as the server
    )
    result: dict[str, object] = {}
    try:
        http = httpx.Client(timeout=60)
        deadline = time.monotonic() + 120
        while True:
            try:
                if http.get(f"{url}/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the gateway did not start; see " + str(data / "serve.log"))
            time.sleep(0.2)
        orgs = load_consortium(data)
        deployment = Deployment.load(data / "chain" / "deployment.json")
        chain = connect(f"http://127.0.0.1:{chain_port}")
        catalog = load_catalog()

        # records for the subjects, and one statutory grant to the bank
        tax = orgs["tax"]
        dept = DepartmentClient(
            url,
            tax.account(),
            bytes.fromhex(tax.org_id[2:]),
            chain_id=deployment.chain_id,
            membership=deployment.address("Membership"),
            http=http,
        )
        subjects = [
            {"kind": "uscc", "id": make_uscc(f"91610800MA{i:07d}")} for i in range(args.subjects)
        ]
        for start in range(0, len(subjects), 100):
            dept.submit(
                [
                    {
                        "catalog": catalog.version,
                        "category": "tax_credit_rating",
                        "org": tax.org_id,
                        "subject": s,
                        "fields": sample_fields("tax_credit_rating"),
                    }
                    for s in subjects[start : start + 100]
                ]
            )
        now = int(time.time())
        params = GrantParams(
            subject=b"\x00" * 32,
            grantee=bytes.fromhex(orgs["bank"].org_id[2:]),
            purpose=purpose_id("loan_approval"),
            categories=catalog.category_mask(["tax_credit_rating"]),
            valid_from=now - 86_400,
            valid_until=now + 30 * 86_400,
            basis=GrantBasis.STATUTORY,
            evidence_hash=os.urandom(32),
        )
        nonce = os.urandom(32)
        deployment.grants(chain).create_grant(orgs["credit-office"].account(), params, nonce)
        grant_id = params.grant_id(nonce)
        time.sleep(1.0)

        bank = orgs["bank"]
        rc = ReaderClient(
            url,
            bank.account(),
            bytes.fromhex(bank.org_id[2:]),
            chain_id=deployment.chain_id,
            membership=deployment.address("Membership"),
        )
        mask = catalog.category_mask(["tax_credit_rating"])

        def signed_bodies(n: int) -> list[bytes]:
            return [
                json.dumps(
                    rc.build(
                        purpose="loan_approval",
                        categories=["tax_credit_rating"],
                        category_mask=mask,
                        subject=subjects[i % len(subjects)],
                        grant_id=grant_id,
                    )
                ).encode()
                for i in range(n)
            ]

        baseline = durable_commit_baseline()
        pids = gateway_pids(serve.pid)
        if len(pids) != args.workers:
            raise SystemExit(f"expected {args.workers} gateway processes, found {len(pids)}")
        # every worker has built its runtime once it has answered a connection of its own
        answered: set[int] = set()
        while answered != set(pids):
            answered.add(httpx.get(f"{url}/v1/health").json()["process"])
            if time.monotonic() > deadline + 120:
                raise SystemExit(f"gateway processes {set(pids) - answered} never answered")
        run_phase(port, signed_bodies(20), 1, 0.0)  # warm up
        phases: dict[str, dict[str, object]] = {}
        for name, think in (
            ("paced", args.readers / args.rate),
            ("saturated", 0.0),
        ):
            bodies = signed_bodies(args.reads)
            cpu0, client0 = server_cpu_seconds(pids), _own_cpu()
            phase = run_phase(port, bodies, args.readers, think)
            cpu = server_cpu_seconds(pids) - cpu0
            phase["server_cpu_ms_per_read"] = round(cpu / len(bodies) * 1000, 2)
            phase["client_cpu_ms_per_read"] = round((_own_cpu() - client0) / len(bodies) * 1000, 2)
            phase["durable_commit_ms"] = round(baseline * 1000, 3)
            phase["p50_over_commit"] = round(float(phase["p50_ms"]) / (baseline * 1000), 1)  # type: ignore[arg-type]
            phase["think_s"] = think
            phases[name] = phase
        result["reads"] = phases

        # audit verify over a large access log
        if args.audit_entries:
            engine = make_engine(f"sqlite:///{data / 'gateway.db'}")
            with session_scope(engine, read_only=True) as s:
                have = DbLog(s, "access").size()
                template = json.loads(DbLog(s, "access").entry(0))
                template_rows = [
                    dict(r._mapping)
                    for r in s.connection().execute(
                        sa.select(_DECISIONS).where(_DECISIONS.c.log_index == 0)
                    )
                ]
            t_fill = time.perf_counter()
            while have < args.audit_entries:
                n = min(10_000, args.audit_entries - have)
                batch = [
                    canonicalize(
                        {
                            **template,
                            "decided_at": template["decided_at"] + have + k,
                        }
                    )
                    for k in range(n)
                ]
                with session_scope(engine) as s:  # each entry with its index rows
                    indices = DbLog(s, "access").append(batch)
                    s.connection().execute(
                        _DECISIONS.insert(),
                        [
                            {
                                **{k: v for k, v in row.items() if k != "id"},
                                "log_index": i,
                                "decided_at": template["decided_at"] + i - indices[0] + have,
                            }
                            for i in indices
                            for row in template_rows
                        ],
                    )
                have += n
            fill_s = time.perf_counter() - t_fill
            gateway_org = bytes.fromhex(http.get(f"{url}/v1/health").json()["gateway"][2:])
            client = deployment.checkpoint_log(chain)
            lid = log_id(gateway_org, "access")
            deadline = time.monotonic() + 600
            while True:
                cp = client.latest(lid)
                if cp is not None and cp.size >= have:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("the access log was not anchored in time")
                time.sleep(1)
            t = time.perf_counter()
            report = verify_log(
                http,
                url,
                "access",
                chain_checkpoints(client, lid),
                sign=_log_signer(deployment, orgs["auditor"]),
                index=not args.audit_no_index,
            )
            verify_s = time.perf_counter() - t
            result["audit_verify"] = {
                "entries": report.entries,
                "checkpoints": report.checkpoints,
                "ok": report.ok,
                "seconds": round(verify_s, 2),
                "fill_seconds": round(fill_s, 1),
            }
    finally:
        serve.terminate()
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            serve.kill()

    reads = result["reads"]
    assert isinstance(reads, dict)
    paced, saturated = reads["paced"], reads["saturated"]
    ok = paced["p99_ms"] <= 50 and all(set(p["statuses"]) == {200} for p in reads.values())
    audit = result.get("audit_verify")
    if isinstance(audit, dict):
        ok = ok and audit["ok"] and audit["seconds"] <= 30
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"reads: signed ReadRequests over HTTP to a gateway of {args.workers} HTTP worker "
            f"process(es), {paced['readers']} concurrent readers "
            f"(keep-alive connections), statutory grant checked on chain, access log durable "
            f"before each answer"
        )
        for name, p in reads.items():
            how = (
                f"each reader thinks {p['think_s']:.2f} s on average between reads "
                f"(offered {args.rate:g} reads/s)"
                if p["think_s"]
                else "closed loop, no think time (saturation)"
            )
            print(f"  {name:9s} {how}")
            print(
                f"            {p['requests']} reads, statuses {p['statuses']}: "
                f"p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms, max {p['max_ms']} ms, "
                f"{p['throughput_per_s']} reads/s, "
                f"gateway CPU {p['server_cpu_ms_per_read']} ms/read, "
                f"load generator CPU {p['client_cpu_ms_per_read']} ms/read"
            )
        print(
            f"  baseline: one durable SQLite commit (WAL, synchronous=FULL) "
            f"{paced['durable_commit_ms']} ms median; paced read p50 = "
            f"{paced['p50_over_commit']}x that"
        )
        print(
            f"  bar: p99 <= 50 ms at {paced['readers']} concurrent readers (paced): "
            f"{paced['p99_ms']} ms {'ok' if paced['p99_ms'] <= 50 else 'MISSED'}; "
            f"saturation throughput {saturated['throughput_per_s']} reads/s "
            f"(Little's law: a closed loop of {saturated['readers']} readers waits "
            f"{saturated['readers']}/{saturated['throughput_per_s']} s per read)"
        )
        if isinstance(audit, dict):
            print(
                f"audit verify: {audit['entries']:,} access-log entries, {audit['checkpoints']} "
                f"checkpoints, ok={audit['ok']}, {audit['seconds']} s (bar: <= 30 s); "
                f"filled in {audit['fill_seconds']} s"
            )
        print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
