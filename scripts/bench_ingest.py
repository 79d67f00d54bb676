#!/usr/bin/env python3
"""Ingest throughput of a real gateway process, against the raw per-record floor and the old
code, both measured in the same run, with the gas each record costs on chain.

    .venv/bin/python scripts/bench_ingest.py [--reps 3] [--workers 2] [--baseline DIR] [--json]

(a) End to end over HTTP against `creditchain serve --dev --workers N` (its own anvil, default
    anchoring policy): records are signed by three departments, and the gateway verifies the
    signature, validates schema and identifiers, encrypts, stores, appends to the Merkle log
    and signs one receipt per record, durably (SQLite synchronous=FULL) before answering.
    Request bodies are built and signed before the clock starts (each within the replay
    window); client threads then send them over keep-alive connections. Measured for one
    record per request and for batches (default 100 and 1,000 records per request).
    The same is measured, interleaved, for the old code: a second server run from the
    checkout ``--baseline`` (default /work/wt/base-main, the main branch at the start of this
    work) on PYTHONPATH; "new / old" is the ratio of the medians.
(b) The raw per-record floor, in-process, no HTTP: one secp256k1 public-key recovery
    (libsecp256k1 via coincurve, plus the keccak to an address), one envelope seal
    (AES-256-GCM with a fresh wrapped data key), one SHA-256 leaf hash, one SQLite row insert
    (WAL, synchronous=FULL, 1,000 rows per transaction, unique index).
(c) The ratio between them.
(d) Gas per record at the default checkpoint policy: after the run, every anchoring
    transaction of the records log (from its CheckpointAnchored events) is looked up on chain
    and its gasUsed summed, divided by the records anchored.
(e) Where the time goes: µs of CPU per record by step, in-process, for batches of 1,000
    (scripts/_ingest_split.py), for this checkout and the baseline.

The machine may be shared: the 1-minute load average is printed at the start and the end, and
the ratios (new / old, e2e / floor) are the figures to compare across runs. Figures are medians
over --reps repetitions (configurations and code versions interleaved). Exits 1 if a bar is
missed: ≥ 10,000 records/s end to end (best batch size; stretch 20,000) and ≤ 50 gas per
record (issue 12).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's client code

import coincurve
import httpx

from gateway.client import build_submission
from gateway.domain.canonical import canonicalize
from gateway.domain.envelope import Kek, seal
from gateway.domain.identifiers import make_uscc
from gateway.domain.signing import fast_typed_signer, signing_domain
from node import Deployment, connect, free_port
from tests.samples import sample_fields

BAR_RECORDS_PER_S = 10_000.0
STRETCH_RECORDS_PER_S = 20_000.0
BAR_GAS_PER_RECORD = 50.0
CLI = str(Path(sys.executable).parent / "creditchain")
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = Path("/work/wt/base-main")
DEPARTMENTS = (
    ("tax", "tax_credit_rating"),
    ("market", "admin_penalty"),
    ("water", "utility_arrears"),
)
TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# (b) the floor


def _canonical_records(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        fields = sample_fields("admin_penalty")
        fields["fine_amount_fen"] = i
        record = {
            "catalog": "2026.1",
            "category": "admin_penalty",
            "org": "0x" + "11" * 32,
            "subject": {"kind": "uscc", "id": make_uscc(f"91610800MA{i:07d}")},
            "fields": fields,
        }
        out.append(canonicalize({"record": record, "salt": os.urandom(32).hex()}))
    return out


def _keccak() -> Callable[[bytes], bytes]:
    """The fastest keccak-256 at hand (the address step of an Ethereum signature recovery)."""
    try:
        import sha3  # type: ignore[import-untyped,import-not-found,unused-ignore]

        return lambda data: bytes(sha3.keccak_256(data).digest())
    except ImportError:
        from eth_utils.crypto import keccak

        return lambda data: bytes(keccak(data))


def measure_floor(records: int, reps: int, tmp: Path) -> dict[str, Any]:
    """Records/s of recover + seal + SHA-256 + SQLite insert, done directly in Python."""
    plaintexts = _canonical_records(min(records, 1000))
    keys = [coincurve.PrivateKey() for _ in range(8)]
    digests = [hashlib.sha256(b"%d" % i).digest() for i in range(len(plaintexts))]
    signatures = [
        keys[i % len(keys)].sign_recoverable(d, hasher=None) for i, d in enumerate(digests)
    ]
    kek = Kek("bench-kek", os.urandom(32))
    keccak = _keccak()
    rates: list[float] = []
    parts: dict[str, list[float]] = {"recover": [], "seal": [], "sha256": [], "sqlite": []}
    for rep in range(reps):
        path = tmp / f"floor-{rep}.db"
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE r (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL UNIQUE, env BLOB)")
        spent = dict.fromkeys(parts, 0.0)
        started = time.perf_counter()
        done = 0
        while done < records:
            rows = []
            for j in range(min(1000, records - done)):
                i = (done + j) % len(plaintexts)
                t0 = time.perf_counter()
                public = coincurve.PublicKey.from_signature_and_message(
                    signatures[i], digests[i], hasher=None
                )
                keccak(public.format(compressed=False)[1:])
                t1 = time.perf_counter()
                leaf = hashlib.sha256(
                    b"\x00" + (done + j).to_bytes(8, "big") + plaintexts[i]
                ).digest()
                t2 = time.perf_counter()
                env = seal(
                    plaintexts[i],
                    aad_record_id=leaf,
                    category="admin_penalty",
                    kek=kek,
                    rng=os.urandom,
                ).to_bytes()
                t3 = time.perf_counter()
                rows.append((done + j, leaf, env))
                spent["recover"] += t1 - t0
                spent["sha256"] += t2 - t1
                spent["seal"] += t3 - t2
            t4 = time.perf_counter()
            db.execute("BEGIN")
            db.executemany("INSERT INTO r VALUES (?, ?, ?)", rows)
            db.execute("COMMIT")
            spent["sqlite"] += time.perf_counter() - t4
            done += len(rows)
        rates.append(records / (time.perf_counter() - started))
        for name, seconds in spent.items():
            parts[name].append(seconds / records * 1e6)
        db.close()
    return {
        "records_per_s": statistics.median(rates),
        "runs": rates,
        "records_per_run": records,
        "us_per_record": {name: statistics.median(v) for name, v in parts.items()},
    }


# ---------------------------------------------------------------------------------------------
# the gateway process


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    rpc: str
    data_dir: Path
    label: str
    idle_cpu_per_s: float = 0.0
    """CPU seconds per second the gateway processes spend with no request in flight
    (anchoring worker, relays, key polling), measured before the run."""

    def measure_idle(self, seconds: float) -> None:
        c0, t0 = self.cpu_seconds(), time.perf_counter()
        time.sleep(seconds)
        self.idle_cpu_per_s = (self.cpu_seconds() - c0) / (time.perf_counter() - t0)

    def cpu_seconds(self) -> float:
        """utime + stime of the gateway process and its worker processes (every descendant
        but anvil, which runs the chain)."""
        return _tree_cpu(self.proc.pid, exclude=("anvil",))


def _tree_cpu(root: int, exclude: tuple[str, ...]) -> float:
    kids: dict[int, list[int]] = {}
    cpu: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        pid = int(entry)
        names[pid] = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        kids.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = int(fields[11]) + int(fields[12])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid != root and names.get(pid, "") in exclude:
            continue
        total += cpu.get(pid, 0)
        todo.extend(kids.get(pid, []))
    return total / TICKS


@contextmanager
def serve(data_dir: Path, *, code: Path, workers: int, label: str) -> Iterator[Server]:
    """`creditchain serve --dev` of the checkout ``code`` (first on PYTHONPATH)."""
    port, chain_port = free_port(), free_port()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log = (data_dir.parent / f"serve-{label}.log").open("wb")
    command = [
        CLI,
        "serve",
        "--dev",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--chain-port",
        str(chain_port),
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = Server(
        proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{chain_port}", data_dir, label
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the gateway exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(server.url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the gateway did not come up; see {log.name}")
            time.sleep(0.25)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


# ---------------------------------------------------------------------------------------------
# (a) end to end


class Departments:
    """The dev consortium's departments, signing request bodies ahead of time."""

    def __init__(self, data_dir: Path) -> None:
        from gateway._devnet import load_consortium

        orgs = load_consortium(data_dir)
        deployment = Deployment.load(data_dir / "chain" / "deployment.json")
        domain = signing_domain(deployment.chain_id, deployment.address("Membership"))
        self.signers: list[tuple[str, bytes, Callable[..., bytes]]] = []
        for slug, category in DEPARTMENTS:
            org = orgs[slug]
            self.signers.append(
                (category, bytes.fromhex(org.org_id[2:]), fast_typed_signer(org.account(), domain))
            )
        self.counter = 0

    def bodies(self, requests: int, per_request: int) -> list[bytes]:
        out = []
        now = int(time.time())
        for r in range(requests):
            category, org_id, sign = self.signers[r % len(self.signers)]
            records = []
            for _ in range(per_request):
                self.counter += 1
                n = self.counter
                fields = sample_fields(category)
                if category == "tax_credit_rating":
                    fields["score"] = n % 100
                elif category == "admin_penalty":
                    fields["fine_amount_fen"] = n
                else:
                    fields["arrears_amount_fen"] = n
                records.append(
                    {
                        "catalog": "2026.1",
                        "category": category,
                        "org": "0x" + org_id.hex(),
                        "subject": {"kind": "uscc", "id": make_uscc(f"9161080{n % 10}MA{n:07d}")},
                        "fields": fields,
                    }
                )
            body = build_submission(
                records,
                [os.urandom(32) for _ in records],
                org_id=org_id,
                signed_at=now,
                nonce=os.urandom(32),
                sign=sign,
            )
            out.append(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
        return out


def send_all(server: Server, bodies: list[bytes], per_request: int, threads: int) -> dict[str, Any]:
    """POST every body with ``threads`` keep-alive clients; records/s from first send to
    last answer."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)

    def worker(mine: list[bytes]) -> None:
        with httpx.Client(timeout=300.0, headers={"content-type": "application/json"}) as http:
            http.get(server.url + "/v1/health")  # connect before the clock starts
            start.wait()
            for body in mine:
                t0 = time.perf_counter()
                response = http.post(server.url + "/v1/records", content=body)
                dt = time.perf_counter() - t0
                ok = response.status_code == 201 and len(response.json()["receipts"]) == per_request
                with lock:
                    latencies.append(dt)
                    if not ok:
                        errors.append(f"{response.status_code} {response.text[:300]}")

    pool = [threading.Thread(target=worker, args=(bodies[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    cpu0, client0 = server.cpu_seconds(), time.process_time()
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu1, client1 = server.cpu_seconds(), time.process_time()
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    records = len(bodies) * per_request
    latencies.sort()
    return {
        "records_per_s": records / elapsed,
        "requests_per_s": len(bodies) / elapsed,
        "records": records,
        "seconds": elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
        "server_cpu_us_per_record": (cpu1 - cpu0) / records * 1e6,
        "server_net_cpu_us_per_record": max(0.0, cpu1 - cpu0 - server.idle_cpu_per_s * elapsed)
        / records
        * 1e6,
        "client_cpu_us_per_record": (client1 - client0) / records * 1e6,
    }


@dataclass(frozen=True)
class Config:
    name: str
    per_request: int
    requests: int
    threads: int


def wait_anchored(server: Server, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        cp: dict[str, Any] = httpx.get(server.url + "/v1/logs/records/checkpoint").json()
        if cp["anchored"] and cp["anchored"]["size"] == cp["size"]:
            return cp
        if time.monotonic() > deadline:
            raise SystemExit(f"not everything anchored after {timeout:.0f} s: {cp}")
        time.sleep(0.5)


def measure_gas(server: Server, checkpoint: dict[str, Any]) -> dict[str, Any]:
    deployment = Deployment.load(server.data_dir / "chain" / "deployment.json")
    chain = connect(server.rpc)
    try:
        log = deployment.checkpoint_log(chain)
        log_id = bytes.fromhex(checkpoint["log_id"][2:])
        events = log.contract.events.CheckpointAnchored().get_logs(
            from_block=0, to_block="latest", argument_filters={"logId": log_id}
        )
        anchors = []
        for ev in events:
            receipt = chain.w3.eth.get_transaction_receipt(ev["transactionHash"])
            anchors.append((int(ev["args"]["size"]), int(receipt["gasUsed"])))
    finally:
        chain.close()
    anchors.sort()
    sizes = [s for s, _ in anchors]
    total_gas = sum(g for _, g in anchors)
    anchored = sizes[-1] if sizes else 0
    steps = [b - a for a, b in zip([0, *sizes], sizes, strict=False)]
    return {
        "gas_per_record": total_gas / anchored if anchored else float("inf"),
        "anchors": len(anchors),
        "records_anchored": anchored,
        "total_gas": total_gas,
        "gas_per_anchor_median": statistics.median(g for _, g in anchors) if anchors else 0,
        "records_per_anchor_median": statistics.median(steps) if steps else 0,
        "records_per_anchor_min": min(steps) if steps else 0,
    }


# ---------------------------------------------------------------------------------------------


def _summary(rs: list[dict[str, Any]], threads: int) -> dict[str, Any]:
    return {
        "records_per_s": statistics.median(r["records_per_s"] for r in rs),
        "runs_records_per_s": [round(r["records_per_s"], 1) for r in rs],
        **{
            k: statistics.median(r[k] for r in rs)
            for k in (
                "requests_per_s",
                "p50_ms",
                "p99_ms",
                "server_cpu_us_per_record",
                "server_net_cpu_us_per_record",
                "client_cpu_us_per_record",
            )
        },
        "server_cpu_bound_records_per_s": 1e6
        / statistics.median(r["server_cpu_us_per_record"] for r in rs),
        "records_per_run": rs[0]["records"],
        "threads": threads,
    }


def _split(code: Path, batches: int) -> dict[str, Any]:
    """scripts/_ingest_split.py run on ``code`` in a child process (its own imports)."""
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "_ingest_split.py"),
            "--batches",
            str(batches),
            "--json",
        ],
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions (medians are printed)")
    parser.add_argument(
        "--single-requests", type=int, default=300, help="one-record requests per repetition"
    )
    parser.add_argument("--batch-sizes", default="100,1000", help="records per batch request")
    parser.add_argument(
        "--batch-records", type=int, default=6000, help="records per repetition for each batch size"
    )
    parser.add_argument("--single-threads", type=int, default=4)
    parser.add_argument("--batch-threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    parser.add_argument("--floor-records", type=int, default=20_000)
    parser.add_argument(
        "--idle-seconds", type=float, default=5.0, help="how long to measure idle server CPU"
    )
    parser.add_argument(
        "--split-batches", type=int, default=4, help="1,000-record batches for (e); 0: skip"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=DEFAULT_BASELINE if DEFAULT_BASELINE.is_dir() else None,
        help="checkout of the old code to measure in the same run (default: /work/wt/base-main)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="measure this checkout only")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    say: Callable[[str], None] = (
        (lambda _: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    )
    configs = []
    if args.single_requests > 0:
        configs.append(Config("single", 1, args.single_requests, args.single_threads))
    for size in (int(x) for x in args.batch_sizes.split(",") if x):
        configs.append(
            Config(f"batch{size}", size, max(1, args.batch_records // size), args.batch_threads)
        )
    if not configs:
        parser.error("nothing to measure: no single requests and no batch sizes")
    codes: dict[str, Path] = {"new": ROOT}
    if args.baseline is not None and not args.no_baseline:
        codes["old"] = args.baseline.resolve()

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        say(f"floor: {args.floor_records} records x {args.reps} (recover+seal+sha256+sqlite)")
        floor = measure_floor(args.floor_records, args.reps, tmp)
        servers: dict[str, Server] = {}
        departments: dict[str, Departments] = {}
        for label, code in codes.items():
            say(f"starting `creditchain serve --dev --workers {args.workers}` ({label}: {code})")
            servers[label] = stack.enter_context(
                serve(tmp / label / "data", code=code, workers=args.workers, label=label)
            )
            departments[label] = Departments(servers[label].data_dir)
            # warm-up: first requests pay imports, the org cache, SQLite page cache
            send_all(servers[label], departments[label].bodies(8, 1), 1, 1)
            send_all(servers[label], departments[label].bodies(4, 100), 100, 2)
            time.sleep(2)  # the warm-up's anchoring settles
            servers[label].measure_idle(args.idle_seconds)
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            label: {c.name: [] for c in configs} for label in codes
        }
        for rep in range(args.reps):
            for c in configs:
                for label in codes:
                    bodies = departments[label].bodies(c.requests, c.per_request)
                    result = send_all(servers[label], bodies, c.per_request, c.threads)
                    runs[label][c.name].append(result)
                    say(
                        f"  rep {rep + 1} {label} {c.name:>10}: "
                        f"{result['records_per_s']:8.0f} records/s  (server CPU "
                        f"{result['server_cpu_us_per_record']:.0f} µs/record)"
                    )
        gas: dict[str, dict[str, Any]] = {}
        for label, server in servers.items():
            say(f"waiting for every record to be anchored ({label}, default policy)")
            gas[label] = measure_gas(server, wait_anchored(server, timeout=180))
    splits: dict[str, dict[str, Any]] = {}
    if args.split_batches > 0:
        for label, code in codes.items():
            say(f"in-process split ({label}): {args.split_batches} batches of 1,000")
            splits[label] = _split(code, args.split_batches)

    threads = {c.name: c.threads for c in configs}
    e2e = {
        label: {name: _summary(rs, threads[name]) for name, rs in per.items()}
        for label, per in runs.items()
    }
    new = e2e["new"]
    best_name = max(
        (n for n in new if n != "single"), key=lambda n: new[n]["records_per_s"], default="single"
    )
    best = new[best_name]["records_per_s"]
    vs_old = (
        {name: new[name]["records_per_s"] / e2e["old"][name]["records_per_s"] for name in new}
        if "old" in e2e
        else {}
    )
    cpu_vs_old = (
        {
            name: e2e["old"][name]["server_cpu_us_per_record"]
            / new[name]["server_cpu_us_per_record"]
            for name in new
        }
        if "old" in e2e
        else {}
    )
    net_vs_old = (
        {
            name: e2e["old"][name]["server_net_cpu_us_per_record"]
            / max(new[name]["server_net_cpu_us_per_record"], 1e-9)
            for name in new
        }
        if "old" in e2e
        else {}
    )
    ratio = {name: v["records_per_s"] / floor["records_per_s"] for name, v in new.items()}
    bars = {
        "e2e_records_per_s": {
            "bar": BAR_RECORDS_PER_S,
            "stretch": STRETCH_RECORDS_PER_S,
            "value": best,
            "config": best_name,
            "ok": best >= BAR_RECORDS_PER_S,
        },
        "gas_per_record": {
            "bar": BAR_GAS_PER_RECORD,
            "value": gas["new"]["gas_per_record"],
            "ok": gas["new"]["gas_per_record"] <= BAR_GAS_PER_RECORD,
        },
    }
    ok = all(b["ok"] for b in bars.values())
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1m_start": load_start,
            "load_avg_1m_end": os.getloadavg()[0],
        },
        "reps": args.reps,
        "workers": args.workers,
        "codes": {label: str(code) for label, code in codes.items()},
        "idle_cpu_ms_per_s": {label: sv.idle_cpu_per_s * 1e3 for label, sv in servers.items()},
        "e2e": e2e,
        "new_over_old": vs_old,
        "old_cpu_over_new_cpu": cpu_vs_old,
        "old_net_cpu_over_new_net_cpu": net_vs_old,
        "floor": floor,
        "e2e_over_floor": ratio,
        "gas": gas,
        "split": splits,
        "bars": bars,
        "ok": ok,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0 if ok else 1


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(
        f"ingest benchmark — {m['cpus']} CPUs, 1-min load average {m['load_avg_1m_start']:.2f}"
        f" at the start, {m['load_avg_1m_end']:.2f} at the end (a shared machine: compare the"
        f" ratios); medians of {r['reps']} repetitions; {r['workers']} gateway worker(s)"
    )
    print(
        "\n(a) end to end over HTTP (creditchain serve --dev: verify, validate, encrypt, store,"
        " log, sign receipts)"
    )
    for label, per in r["e2e"].items():
        print(
            f"  {label}: {r['codes'][label]} (idle: {r['idle_cpu_ms_per_s'][label]:.0f} ms of CPU"
            " per second with no request in flight)"
        )
        print(
            f"    {'request':<11}{'records/s':>10}{'requests/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'server µs/rec':>14}{'(net of idle)':>14}{'(1 core: rec/s)':>16}"
            f"{'client µs/rec':>14}  runs (records/s)"
        )
        for name, v in per.items():
            print(
                f"    {name:<11}{v['records_per_s']:>10.0f}{v['requests_per_s']:>11.1f}"
                f"{v['p50_ms']:>9.1f}{v['p99_ms']:>9.1f}{v['server_cpu_us_per_record']:>14.0f}"
                f"{v['server_net_cpu_us_per_record']:>14.0f}"
                f"{v['server_cpu_bound_records_per_s']:>16.0f}"
                f"{v['client_cpu_us_per_record']:>14.0f}"
                f"  {v['runs_records_per_s']} ({v['records_per_run']} records,"
                f" {v['threads']} client threads)"
            )
    print(
        "  server µs/rec: the gateway processes' CPU time per record (every worker, anchoring"
        " included; not anvil);\n  (net of idle): less the idle rate times the run's duration;"
        " (1 core: rec/s) = 1e6 / server µs/rec: the rate one uncontended core would sustain"
    )
    if r["new_over_old"]:
        print("\n  new / old (same run, same machine):")
        for name, x in r["new_over_old"].items():
            print(
                f"    {name:<11}{x:>7.2f}x records/s, "
                f"{r['old_cpu_over_new_cpu'][name]:.2f}x less server CPU per record"
                f" ({r['old_net_cpu_over_new_net_cpu'][name]:.2f}x net of idle)"
            )
    f = r["floor"]
    parts = ", ".join(f"{k} {v:.1f}" for k, v in f["us_per_record"].items())
    print(
        "\n(b) raw per-record floor, in-process (recover + seal + SHA-256 + SQLite FULL, 1000/tx)"
    )
    print(f"  {f['records_per_s']:.0f} records/s   (µs/record: {parts})")
    print("\n(c) end to end (new) / floor")
    for name, x in r["e2e_over_floor"].items():
        print(f"  {name:<11}{x:>8.1%}   (floor is {1 / x:.1f}x faster)")
    print(
        "\n(d) gas per record at the default checkpoint policy (anchor every 1000 entries or 30 s)"
    )
    for label, g in r["gas"].items():
        print(
            f"  {label}: {g['gas_per_record']:.1f} gas/record: {g['total_gas']} gas in"
            f" {g['anchors']} anchoring transactions for {g['records_anchored']} records (median"
            f" {g['gas_per_anchor_median']:.0f} gas and {g['records_per_anchor_median']:.0f}"
            " records per anchor)"
        )
    if r["split"]:
        print("\n(e) in-process, batches of 1,000: µs of CPU per record by step")
        labels = list(r["split"])
        steps = list(r["split"][labels[0]]["us_per_record"])
        print(f"    {'step':<30}" + "".join(f"{label:>10}" for label in labels))
        for step in steps:
            print(
                f"    {step:<30}"
                + "".join(
                    f"{r['split'][lb]['us_per_record'].get(step, 0.0):>10.1f}" for lb in labels
                )
            )
        print(
            f"    {'total CPU (submitting thread)':<30}"
            + "".join(f"{r['split'][lb]['thread_cpu_us_per_record']:>10.1f}" for lb in labels)
        )
        print(
            f"    {'wall (fsync waits included)':<30}"
            + "".join(f"{r['split'][lb]['wall_us_per_record']:>10.1f}" for lb in labels)
        )
        print("    (a step the old code does not have as a function shows 0: it is in another row)")
    print("\nbars (issue 12)")
    for name, b in r["bars"].items():
        extra = f" ({b['config']})" if "config" in b else ""
        op = "≥" if name == "e2e_records_per_s" else "≤"
        stretch = f", stretch {b['stretch']:.0f}" if "stretch" in b else ""
        print(
            f"  {name:<20} {b['value']:>10.1f}{extra} {op} {b['bar']:.0f}{stretch}: "
            f"{'ok' if b['ok'] else 'MISSED'}"
        )


if __name__ == "__main__":
    sys.exit(main())
