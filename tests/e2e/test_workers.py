"""`creditchain serve --workers 2`: two processes serve one port and share one database.

Concurrent submissions and reads over many connections land in both processes; both logs
stay gap-free and consistent (every receipt's index distinct, `audit verify` passes against
the chain); the extra worker goes away when the main process is killed.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from gateway._devnet import load_consortium
from gateway.cli import app
from gateway.client import ClientError, DepartmentClient, ReaderClient
from gateway.domain.catalog import load_catalog
from gateway.domain.identifiers import make_uscc
from gateway.domain.policy import purpose_id
from node import Deployment, GrantBasis, GrantParams, connect
from tests.e2e._gateway_proc import GatewayProcess, _children, _cmdline, fixed_port, pid_running
from tests.samples import sample_fields

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def test_two_workers_share_the_port_the_database_and_the_logs(tmp_path: Path) -> None:
    gw = GatewayProcess(
        tmp_path / "data",
        fixed_port(),
        fixed_port(),
        extra_args=("--workers", "2", "--max-merge-delay", "4"),
        log_path=tmp_path / "serve.log",
    )
    gw.spawn()
    try:
        gw.wait_healthy()
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while not workers:
            workers = [c for c in _children(gw.pid) if "gateway._workers" in _cmdline(c)]
            assert time.monotonic() < deadline, gw.log_tail()
            time.sleep(0.2)
        (worker,) = workers
        # the worker builds its runtime before it accepts: wait until it answers a connection
        answered: set[int] = set()
        while worker not in answered:
            answered.add(httpx.get(f"{gw.url}/v1/health").json()["process"])
            assert time.monotonic() < deadline + 60, (answered, gw.log_tail())
            time.sleep(0.1)
        assert answered <= {gw.pid, worker}

        data = gw.data_dir
        orgs = load_consortium(data)
        deployment = Deployment.load(data / "chain" / "deployment.json")
        chain = connect(f"http://127.0.0.1:{gw.chain_port}")
        catalog = load_catalog()
        chain_id, membership = deployment.chain_id, deployment.address("Membership")
        now = int(time.time())
        params = GrantParams(
            subject=b"\x00" * 32,
            grantee=bytes.fromhex(orgs["bank"].org_id[2:]),
            purpose=purpose_id("loan_approval"),
            categories=catalog.category_mask(["tax_credit_rating"]),
            valid_from=now - 86_400,
            valid_until=now + 86_400,
            basis=GrantBasis.STATUTORY,
            evidence_hash=os.urandom(32),
        )
        nonce = os.urandom(32)
        deployment.grants(chain).create_grant(orgs["credit-office"].account(), params, nonce)
        grant_id = params.grant_id(nonce)
        subjects = [{"kind": "uscc", "id": make_uscc(f"91610800MB{i:07d}")} for i in range(40)]
        worker_cpu = _cpu(worker)

        def submit(i: int) -> list[dict[str, Any]]:
            tax = orgs["tax"]
            # a fresh connection per request: the kernel spreads them over both processes
            org = bytes.fromhex(tax.org_id[2:])
            with DepartmentClient(
                gw.url, tax.account(), org, chain_id=chain_id, membership=membership
            ) as c:
                return c.submit(
                    [
                        {
                            "catalog": catalog.version,
                            "category": "tax_credit_rating",
                            "org": tax.org_id,
                            "subject": subjects[i],
                            "fields": sample_fields("tax_credit_rating"),
                        }
                    ]
                )

        def read(i: int) -> int:
            bank = orgs["bank"]
            with httpx.Client(timeout=60) as http:
                rc = ReaderClient(
                    gw.url,
                    bank.account(),
                    bytes.fromhex(bank.org_id[2:]),
                    http=http,
                    chain_id=chain_id,
                    membership=membership,
                )
                try:
                    rc.read(
                        purpose="loan_approval",
                        categories=["tax_credit_rating"],
                        category_mask=catalog.category_mask(["tax_credit_rating"]),
                        subject=subjects[i % len(subjects)],
                        grant_id=grant_id,
                    )
                    return 200
                except ClientError as exc:
                    return exc.status

        with ThreadPoolExecutor(8) as pool:
            receipts = [r for rs in pool.map(submit, range(len(subjects))) for r in rs]
            statuses = list(pool.map(read, range(200)))
        assert sorted(r["index"] for r in receipts) == list(range(len(subjects)))
        assert statuses == [200] * 200
        assert _cpu(worker) - worker_cpu > 0.2, "the extra worker served nothing"

        # both logs anchored by the main process; the auditor finds them complete
        deadline = time.monotonic() + 60
        while True:
            cps = [
                httpx.get(f"{gw.url}/v1/logs/{name}/checkpoint").json()
                for name in ("records", "access")
            ]
            if all(cp["anchored"] and cp["anchored"]["size"] == cp["size"] for cp in cps):
                break
            assert time.monotonic() < deadline, cps
            time.sleep(0.5)
        assert [cp["size"] for cp in cps] == [len(subjects), 200]
        audited = CliRunner().invoke(
            app,
            [
                "audit",
                "verify",
                "--url",
                gw.url,
                "--data-dir",
                str(data),
                "--as",
                "auditor",
                "--json",
            ],
        )
        assert audited.exit_code == 0, audited.output

        # the worker does not outlive its main process
        os.kill(gw.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while pid_running(worker):
            assert time.monotonic() < deadline, "the worker outlived the main process"
            time.sleep(0.2)
    finally:
        gw.close()
