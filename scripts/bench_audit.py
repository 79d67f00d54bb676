#!/usr/bin/env python3
"""`audit verify` over a large access log, the new code against the old in the same run.

    python scripts/bench_audit.py [--entries 1000000] [--runs 3] [--old /work/wt/base-main]
                                  [--no-index] [--json]

Starts a real `creditchain serve --dev` (local anvil, SQLite, 2 workers) from this tree, makes
one real consent-gated read (its access entry and index rows are the template), fills the access
log with synthetic copies written straight into the gateway's database (signing 10^6 reads would
measure the clients, not the audit), waits until the chain anchors all of it, then runs the
auditor's check — `gateway._audit.verify_log` with the access-index comparison, the way
`creditchain audit verify --log access` does — alternately from the old tree (``--old``, put
first on PYTHONPATH) and from this one, each in a fresh process against the same gateway.
Prints each run, the medians, their ratio, and the floor: SHA-256 leaf hashes plus the tree
over the same bytes in one process. Bar (issue 12): <= 5 s for 10^6 entries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The verifying process: run with ``--child``; imports whichever gateway PYTHONPATH names.
CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import httpx
from gateway._audit import chain_checkpoints, verify_log
from gateway.client import build_log_request
from gateway.domain.records import log_id
from gateway.domain.signing import fast_typed_signer, signing_domain
from gateway._devnet import load_consortium
from node import Deployment, connect
from pathlib import Path
data, url, rpc, index = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
auditor = load_consortium(data)["auditor"]
deployment = Deployment.load(data / "chain" / "deployment.json")
chain = connect(rpc)
sign = fast_typed_signer(
    auditor.account(), signing_domain(deployment.chain_id, deployment.address("Membership"))
)
org = bytes.fromhex(auditor.org_id[2:])
def build(action, start, end):
    return build_log_request(sign, org_id=org, action=action, start=start, end=end,
                             signed_at=int(time.time()), nonce=os.urandom(32))
http = httpx.Client(timeout=120)
gateway = bytes.fromhex(http.get(f"{url}/v1/health").json()["gateway"][2:])
t1 = time.perf_counter()
cps = chain_checkpoints(deployment.checkpoint_log(chain), log_id(gateway, "access"))
report = verify_log(http, url, "access", cps, sign=build, index=index)
t2 = time.perf_counter()
print(json.dumps({"ok": report.ok, "entries": report.entries, "checkpoints": report.checkpoints,
                  "findings": [str(f) for f in report.findings][:3],
                  "setup_s": t1 - t0, "verify_s": t2 - t1, "cpu_s": sum(os.times()[:2])}))
"""


def child_run(pythonpath: Path, data: Path, url: str, rpc: str, index: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), url, rpc, "1" if index else "0"],
        env=env,
        cwd=pythonpath,
        capture_output=True,
        check=True,
        timeout=900,
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


def hashing_floor(entries: list[bytes]) -> float:
    """Seconds to leaf-hash ``entries`` and fold them into one RFC 9162 tree: SHA-256 through
    hashlib, level by level (the least any auditor must do)."""
    sha = hashlib.sha256
    t = time.perf_counter()
    level = [sha(b"\x00" + e).digest() for e in entries]
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--old", type=Path, default=Path("/work/wt/base-main"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-index", action="store_true", help="skip the access-index check")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--hold", action="store_true", help="after filling, print data dir, URL, RPC and wait"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    import httpx
    import sqlalchemy as sa

    from gateway._devnet import load_consortium
    from gateway.client import DepartmentClient, ReaderClient
    from gateway.domain.canonical import canonicalize
    from gateway.domain.catalog import load_catalog
    from gateway.domain.identifiers import make_uscc
    from gateway.domain.policy import purpose_id
    from gateway.domain.records import log_id
    from gateway.store import AccessDecision, DbLog, make_engine, session_scope
    from node import Deployment, GrantBasis, GrantParams, connect, free_port
    from tests.samples import sample_fields

    decisions: sa.Table = AccessDecision.__table__  # type: ignore[attr-defined]
    cli = str(Path(sys.executable).parent / "creditchain")
    data = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    port, chain_port = free_port(), free_port()
    url, rpc = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{chain_port}"
    serve = subprocess.Popen(
        [
            cli,
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
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    result: dict[str, Any] = {"entries": args.entries, "index": not args.no_index}
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
        chain = connect(rpc)
        catalog = load_catalog()
        tax, bank = orgs["tax"], orgs["bank"]
        subject = {"kind": "uscc", "id": make_uscc("91610800MA0000001")}
        DepartmentClient(
            url,
            tax.account(),
            bytes.fromhex(tax.org_id[2:]),
            chain_id=deployment.chain_id,
            membership=deployment.address("Membership"),
            http=http,
        ).submit(
            [
                {
                    "catalog": catalog.version,
                    "category": "tax_credit_rating",
                    "org": tax.org_id,
                    "subject": subject,
                    "fields": sample_fields("tax_credit_rating"),
                }
            ]
        )
        now = int(time.time())
        params = GrantParams(
            subject=b"\x00" * 32,
            grantee=bytes.fromhex(bank.org_id[2:]),
            purpose=purpose_id("loan_approval"),
            categories=catalog.category_mask(["tax_credit_rating"]),
            valid_from=now - 86_400,
            valid_until=now + 30 * 86_400,
            basis=GrantBasis.STATUTORY,
            evidence_hash=os.urandom(32),
        )
        nonce = os.urandom(32)
        deployment.grants(chain).create_grant(orgs["credit-office"].account(), params, nonce)
        time.sleep(1.0)
        ReaderClient(
            url,
            bank.account(),
            bytes.fromhex(bank.org_id[2:]),
            chain_id=deployment.chain_id,
            membership=deployment.address("Membership"),
        ).read(
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            category_mask=catalog.category_mask(["tax_credit_rating"]),
            subject=subject,
            grant_id=params.grant_id(nonce),
        )

        # fill: copies of the template entry, each with its index rows
        engine = make_engine(f"sqlite:///{data / 'gateway.db'}")
        with session_scope(engine, read_only=True) as s:
            have = DbLog(s, "access").size()
            template = json.loads(DbLog(s, "access").entry(0))
            rows = [
                dict(r._mapping)
                for r in s.connection().execute(
                    sa.select(decisions).where(decisions.c.log_index == 0)
                )
            ]
        t = time.perf_counter()
        sample: list[bytes] = []
        while have < args.entries:
            n = min(10_000, args.entries - have)
            batch = [
                canonicalize({**template, "decided_at": template["decided_at"] + have + k})
                for k in range(n)
            ]
            sample += batch
            with session_scope(engine) as s:
                indices = DbLog(s, "access").append(batch)
                s.connection().execute(
                    decisions.insert(),
                    [
                        {
                            **{k: v for k, v in row.items() if k != "id"},
                            "log_index": i,
                            "decided_at": template["decided_at"] + i,
                        }
                        for i in indices
                        for row in rows
                    ],
                )
            have += n
        result["fill_s"] = round(time.perf_counter() - t, 1)
        gateway = bytes.fromhex(http.get(f"{url}/v1/health").json()["gateway"][2:])
        client, lid = deployment.checkpoint_log(chain), log_id(gateway, "access")
        deadline = time.monotonic() + 900
        while (cp := client.latest(lid)) is None or cp.size < have:
            if time.monotonic() > deadline:
                raise SystemExit("the access log was not anchored in time")
            time.sleep(1)

        if args.hold:
            print(data, url, rpc, flush=True)
            serve.wait()
        old: list[float] = []
        new: list[float] = []
        for k in range(args.runs):
            for tree, out in ((args.old, old), (ROOT, new)):
                run = child_run(tree, data, url, rpc, not args.no_index)
                if not run["ok"] or run["entries"] != have:
                    raise SystemExit(f"{tree}: audit verify failed: {run}")
                out.append(run["verify_s"])
                if not args.json:
                    print(f"run {k + 1} {'old' if tree == args.old else 'new'}: {run}")
        floor = statistics.median(hashing_floor(sample) for _ in range(3))
        result |= {
            "old_s": [round(x, 2) for x in old],
            "new_s": [round(x, 2) for x in new],
            "old_median_s": round(statistics.median(old), 2),
            "new_median_s": round(statistics.median(new), 2),
            "speedup": round(statistics.median(old) / statistics.median(new), 2),
            "hashing_floor_s": round(floor, 2),
            "entry_bytes": len(sample[0]) if sample else 0,
        }
    finally:
        serve.terminate()
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            serve.kill()
        shutil.rmtree(data, ignore_errors=True)  # ~5 GB at 10^6 entries
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"audit verify of {have:,} access entries (index check: {result['index']}): "
            f"old {result['old_median_s']} s, new {result['new_median_s']} s "
            f"(x{result['speedup']}); floor (leaf + tree hashing, one process) "
            f"{result['hashing_floor_s']} s; bar <= 5 s; filled in {result['fill_s']} s"
        )
    return 0 if result["new_median_s"] <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
