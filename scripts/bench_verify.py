#!/usr/bin/env python3
"""Proof-bundle verification speed, the new code against the old in the same run.

    python scripts/bench_verify.py [--requests 300] [--old /work/wt/base-main] [--json]

Starts two real `creditchain serve --dev` gateways (each with its own anvil, SQLite, one
worker): one from this tree, one from the old tree (``--old``, first on PYTHONPATH). Each gets
one record, anchored; its commitment-only bundle is then POSTed to its own ``/v1/verify``:

- p50/p99 latency and bundles/s with 1 client and with 20 concurrent clients (keep-alive
  connections, standard-library HTTP so the load generator leaves the CPU to the gateway);
- one `creditchain verify BUNDLE --rpc … --manifest …` process: wall time (median of
  ``--cli-runs``), the old tree's CLI against the same bundle and chain.

Beside them the floor measured in the same run: one raw ``eth_call`` round trip to the anvil
(keep-alive HTTP, no web3) plus one secp256k1 recovery (coincurve); and a bare Python start.
Bars (issue 12): p99 <= 10 ms at 20 clients; one CLI process <= 0.5 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Gateway:
    """A `serve --dev` process from ``tree`` with one anchored record and its bundle."""

    def __init__(self, tree: Path) -> None:
        from node import free_port

        self.tree = tree
        self.data = Path(tempfile.mkdtemp(prefix="bench-verify-"))
        self.port, self.chain_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rpc = f"http://127.0.0.1:{self.chain_port}"
        self.proc = subprocess.Popen(
            [
                str(BIN / "creditchain"),
                "serve",
                "--dev",
                "--data-dir",
                str(self.data),
                "--port",
                str(self.port),
                "--chain-port",
                str(self.chain_port),
                "--max-merge-delay",
                "2",
                "--workers",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.data / "serve.log", "wb"),  # noqa: SIM115 - lives with the server
            env={**os.environ, "PYTHONPATH": str(tree)},
            cwd=tree,
        )

    def prepare(self) -> None:
        import httpx

        from gateway._devnet import load_consortium
        from gateway.client import DepartmentClient
        from gateway.domain.catalog import load_catalog
        from gateway.domain.identifiers import make_uscc
        from node import Deployment
        from tests.samples import sample_fields

        http = httpx.Client(timeout=60)
        deadline = time.monotonic() + 180
        while True:
            try:
                if http.get(f"{self.url}/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.tree}: no gateway; see {self.data / 'serve.log'}")
            time.sleep(0.2)
        tax = load_consortium(self.data)["tax"]
        deployment = Deployment.load(self.data / "chain" / "deployment.json")
        catalog = load_catalog()
        dept = DepartmentClient(
            self.url,
            tax.account(),
            bytes.fromhex(tax.org_id[2:]),
            chain_id=deployment.chain_id,
            membership=deployment.address("Membership"),
            http=http,
        )
        receipt = dept.submit(
            [
                {
                    "catalog": catalog.version,
                    "category": "tax_credit_rating",
                    "org": tax.org_id,
                    "subject": {"kind": "uscc", "id": make_uscc("91610800MA0000001")},
                    "fields": sample_fields("tax_credit_rating"),
                }
            ]
        )[0]
        while True:
            bundle = dept.proof(receipt["leaf_hash"], opening=False)
            if bundle.get("status") != "pending":
                break
            if time.monotonic() > deadline + 120:
                raise SystemExit(f"{self.tree}: the record was never anchored")
            time.sleep(0.5)
        self.bundle = json.dumps(bundle).encode()
        (self.data / "bundle.json").write_bytes(self.bundle)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.data, ignore_errors=True)


def post_phase(gw: Gateway, clients: int, requests: int) -> dict[str, Any]:
    """``clients`` threads with a keep-alive connection each POST the bundle ``requests``
    times in all; every answer must be 200 and valid."""
    left = [requests]
    lock = threading.Lock()
    latencies: list[float] = []
    bad: list[int] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=120)
        while True:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            t = time.perf_counter()
            conn.request(
                "POST", "/v1/verify", body=gw.bundle, headers={"content-type": "application/json"}
            )
            r = conn.getresponse()
            body = r.read()
            dt = time.perf_counter() - t
            with lock:
                latencies.append(dt)
                if r.status != 200 or not json.loads(body).get("valid"):
                    bad.append(r.status)
        conn.close()

    t = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    if bad:
        raise SystemExit(f"{gw.tree}: {len(bad)} verifications failed: {bad[:5]}")
    return {
        "p50_ms": round(pct(latencies, 0.5) * 1000, 2),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 2),
        "per_s": round(len(latencies) / wall, 1),
    }


def cli_wall(tree: Path, gw: Gateway) -> float:
    t = time.perf_counter()
    out = subprocess.run(
        [
            str(BIN / "creditchain"),
            "verify",
            str(gw.data / "bundle.json"),
            "--rpc",
            gw.rpc,
            "--manifest",
            str(gw.data / "chain" / "deployment.json"),
            "--data-dir",
            str(gw.data),
        ],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - t
    if out.returncode != 0 or not out.stdout.startswith(b"VALID"):
        raise SystemExit(f"{tree}: creditchain verify failed: {out.stdout!r} {out.stderr!r}")
    return wall


def floors(gw: Gateway) -> dict[str, float]:
    """One raw eth_call round trip (keep-alive, no web3), one coincurve recovery, and a
    bare ``python -c pass`` start."""
    import coincurve

    from node import Deployment

    deployment = Deployment.load(gw.data / "chain" / "deployment.json")
    call = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_call",
            "params": [
                {"to": deployment.address("Membership"), "data": "0x" + "00" * 4},
                "latest",
            ],
        }
    ).encode()
    conn = http.client.HTTPConnection("127.0.0.1", gw.chain_port, timeout=30)
    times = []
    for _ in range(200):
        t = time.perf_counter()
        conn.request("POST", "/", body=call, headers={"content-type": "application/json"})
        conn.getresponse().read()
        times.append(time.perf_counter() - t)
    key = coincurve.PrivateKey()
    digest = os.urandom(32)
    sig = key.sign_recoverable(digest, hasher=None)
    t = time.perf_counter()
    for _ in range(1000):
        coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None)
    recover = (time.perf_counter() - t) / 1000
    starts = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([str(BIN / "python"), "-c", "pass"], check=True)
        starts.append(time.perf_counter() - t)
    return {
        "eth_call_ms": round(statistics.median(times) * 1000, 3),
        "recover_ms": round(recover * 1000, 3),
        "floor_ms": round((statistics.median(times) + recover) * 1000, 3),
        "python_start_s": round(statistics.median(starts), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="POSTs per phase")
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--old", type=Path, default=Path("/work/wt/base-main"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    gateways = {"new": Gateway(ROOT), "old": Gateway(args.old)}
    result: dict[str, Any] = {}
    try:
        for gw in gateways.values():
            gw.prepare()
        for gw in gateways.values():
            post_phase(gw, 1, 20)  # warm up
        for clients in (1, 20):
            for name, gw in gateways.items():
                result[f"{name}_{clients}_clients"] = post_phase(gw, clients, args.requests)
        walls: dict[str, list[float]] = {"new": [], "old": []}
        for _ in range(args.cli_runs):
            for name, tree in (("new", ROOT), ("old", args.old)):
                walls[name].append(cli_wall(tree, gateways["new"]))
        for name, w in walls.items():
            result[f"{name}_cli_s"] = round(statistics.median(w), 3)
        result["floor"] = floors(gateways["new"])
    finally:
        for gw in gateways.values():
            gw.stop()
    if args.json:
        print(json.dumps(result))
    else:
        f = result["floor"]
        for clients in (1, 20):
            new, old = result[f"new_{clients}_clients"], result[f"old_{clients}_clients"]
            print(
                f"POST /v1/verify, {clients:>2} client(s): new p50 {new['p50_ms']} ms "
                f"p99 {new['p99_ms']} ms {new['per_s']}/s | old p50 {old['p50_ms']} ms "
                f"p99 {old['p99_ms']} ms {old['per_s']}/s "
                f"| p99 x{old['p99_ms'] / new['p99_ms']:.1f}"
            )
        print(
            f"creditchain verify (one process): new {result['new_cli_s']} s, old "
            f"{result['old_cli_s']} s (x{result['old_cli_s'] / result['new_cli_s']:.1f}); "
            f"bare python start {f['python_start_s']} s"
        )
        print(
            f"floor: raw eth_call {f['eth_call_ms']} ms + one recovery {f['recover_ms']} ms "
            f"= {f['floor_ms']} ms; bars: p99 <= 10 ms at 20 clients, CLI <= 0.5 s"
        )
    ok = result["new_20_clients"]["p99_ms"] <= 10 and result["new_cli_s"] <= 0.5
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
