"""Cross-city reads with real processes: `creditchain network up` (one anvil, three city
gateways on their own ports and databases: Yinchuan's on PostgreSQL when
CREDITCHAIN_TEST_PG_URL names a server, as CI sets it; the others on SQLite), reads both
directions under consent and under statute, a denial, a revocation, a partner stopped mid-run
(502 naming the city) and the network restarted, every receipt checked against the chain,
every payload opened only by its requester, and `audit reconcile` clean, then not clean after
a planted deletion."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from gateway._devnet import DevOrg, load_consortium
from gateway.client import ClientError, DepartmentClient
from gateway.domain.catalog import load_catalog
from gateway.domain.errors import SealedOpenFailed
from gateway.domain.identifiers import make_uscc, parse_subject_id, subject_commitment
from gateway.domain.records import parse_receipt, receipt_signer
from gateway.domain.sealed import open_sealed
from gateway.domain.signing import signing_domain
from gateway.federated_client import CrossCityReader
from gateway.receipts import ReceiptStore, verify_receipts
from node import ChainPaths, Deployment, GrantBasis, GrantParams, connect, purpose_id
from tests.e2e._gateway_proc import fixed_port, pid_running
from tests.e2e.test_cli_chain import run
from tests.e2e.test_network import _processes_of, status

CITIES = {"yulin": 610800, "lanzhou": 620100, "yinchuan": 640100}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "records" / "tax_credit_rating.json"
CATS = ["tax_credit_rating"]
DAY = 86_400


def _x25519(root: Path, city: str, slug: str) -> bytes:
    return bytes.fromhex((root / city / "keys" / "orgs" / f"{slug}.x25519").read_text().strip())


def _org(org: DevOrg) -> bytes:
    return bytes.fromhex(org.org_id[2:])


def test_cross_city_reads_between_real_city_gateways(tmp_path: Path) -> None:
    root = tmp_path / "net"
    base, rpc = fixed_port(), fixed_port()
    up = ["network", "up", "--data-dir", str(root), "--cities", ",".join(CITIES)]
    up += ["--port-base", str(base), "--chain-port", str(rpc), "--max-merge-delay", "3", "--json"]
    pg_url = os.environ.get("CREDITCHAIN_TEST_PG_URL")
    pg_db = f"cc_fed_{os.urandom(6).hex()}_yinchuan"
    if pg_url:  # one city of the three on PostgreSQL (its database created by `network up`)
        from sqlalchemy.engine import make_url

        url = make_url(pg_url).set(database=pg_db).render_as_string(hide_password=False)
        up += ["--database-url", f"yinchuan={url}"]
    try:
        started = run(*up, timeout=400)
        assert started.returncode == 0, started.stderr
        backends = {c: v["database"] for c, v in status(root)[1]["cities"].items()}
        assert backends["yulin"] == backends["lanzhou"] == "sqlite"
        assert backends["yinchuan"] == ("postgresql+psycopg" if pg_url else "sqlite"), backends
        urls = {s: c["url"] for s, c in json.loads(started.stdout)["cities"].items()}
        deployment = Deployment.load(ChainPaths(root).manifest)
        chain_url = status(root)[1]["chain"]["url"]
        chain = connect(chain_url)
        domain = signing_domain(deployment.chain_id, deployment.address("Membership"))
        membership, grants = deployment.membership(chain), deployment.grants(chain)
        catalog = load_catalog()
        mask = catalog.category_mask(CATS)
        orgs = {c: load_consortium(root / c) for c in CITIES}
        pepper = bytes.fromhex((root / "yulin" / "keys" / "pepper").read_text().split()[0])

        # the Directory knows every city's gateway at its URL
        directory = deployment.directory(chain)
        for c, code in CITIES.items():
            assert directory.gateway_of_city(code).url.rstrip("/") == urls[c].rstrip("/")

        def submit(city: str, body: str) -> dict[str, str]:
            record = json.loads(EXAMPLE.read_text())
            record["org"] = orgs[city]["tax"].org_id
            record["subject"]["id"] = make_uscc(body)
            dept = orgs[city]["tax"]
            with DepartmentClient(
                urls[city],
                dept.account(),
                _org(dept),
                chain_id=deployment.chain_id,
                membership=deployment.address("Membership"),
            ) as client:
                client.submit([record])
            return dict(record["subject"])

        def grant(city: str, subject: dict[str, str], grantee: DevOrg, basis: GrantBasis) -> bytes:
            sid = parse_subject_id(subject["id"], kind=subject["kind"])
            now = int(chain.w3.eth.get_block("latest")["timestamp"])
            params = GrantParams(
                subject=subject_commitment(pepper, sid),
                grantee=_org(grantee),
                purpose=purpose_id("loan_approval"),
                categories=mask,
                valid_from=now - DAY,
                valid_until=now + DAY,
                basis=basis,
                evidence_hash=os.urandom(32),
            )
            nonce = os.urandom(32)
            grants.create_grant(orgs[city]["credit-office"].account(), params, nonce)
            return params.grant_id(nonce)

        store = ReceiptStore(tmp_path / "receipts")

        def reader(home: str) -> CrossCityReader:
            bank = orgs[home]["bank"]
            return CrossCityReader(
                urls[home],
                bank.account(),
                _org(bank),
                _x25519(root, home, "bank"),
                chain_id=deployment.chain_id,
                membership=deployment.address("Membership"),
                receipt_store=store,
            )

        def read(home: str, target: str, subject: dict[str, str], gid: bytes | None) -> Any:
            r = reader(home)
            body = r.build(
                target_city=CITIES[target],
                purpose="loan_approval",
                categories=CATS,
                category_mask=mask,
                subject=subject,
                grant_id=gid,
            )
            return body, r.send(body)

        receipts: list[tuple[str, dict[str, Any]]] = []

        # Lanzhou's bank reads a Yulin company under statute; Yulin's bank a Lanzhou company
        # under consent
        yl = submit("yulin", "91610800MA0000201")
        lz = submit("lanzhou", "91620100MA0000202")
        g_yl = grant("yulin", yl, orgs["lanzhou"]["bank"], GrantBasis.STATUTORY)
        g_lz = grant("lanzhou", lz, orgs["yulin"]["bank"], GrantBasis.CONSENT)
        for home, target, subject, gid in (
            ("lanzhou", "yulin", yl, g_yl),
            ("yulin", "lanzhou", lz, g_lz),
        ):
            body, answer = read(home, target, subject, gid)
            assert answer["records"]
            assert answer["records"][0]["category"] == "tax_credit_rating"
            receipts += [(target, answer["access_receipt"]), (home, answer["forward_receipt"])]
            # only the requester opens it: not the home gateway's key, nor another bank's
            from gateway._federation import request_hash

            for city, slug in ((home, "gateway"), ("yinchuan", "bank")):
                with pytest.raises(SealedOpenFailed):
                    open_sealed(_x25519(root, city, slug), answer["sealed"], request_hash(body))

        # a denial: Yinchuan's bank has no grant for the Yulin company
        with pytest.raises(ClientError) as info:
            read("yinchuan", "yulin", yl, None)
        assert info.value.status == 403
        receipts.append(("yulin", info.value.problem["access_receipt"]))

        # a revocation takes effect
        grants.revoke_grant(orgs["yulin"]["credit-office"].account(), g_yl)
        time.sleep(1.5)
        with pytest.raises(ClientError) as info:
            read("lanzhou", "yulin", yl, g_yl)
        assert info.value.status == 403
        assert "sealed" not in info.value.problem

        # the partner stops mid-run: 502 naming the city; the network restarted, reads again
        state = json.loads((root / "network.json").read_text())
        pid = state["cities"]["lanzhou"]["pid"]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while pid_running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with pytest.raises(ClientError) as info:
            read("yulin", "lanzhou", lz, g_lz)
        assert info.value.status == 502
        assert info.value.problem["city"] == CITIES["lanzhou"]
        assert run("network", "down", "--data-dir", str(root)).returncode == 0
        again = run(*up, timeout=400)
        assert again.returncode == 0, again.stderr
        _, answer = read("yulin", "lanzhou", lz, g_lz)
        assert answer["records"]

        # every receipt: signed by its city's gateway key in force at received_at
        for city, raw in receipts:
            rec = parse_receipt(raw)
            gw = json.loads((root / city / "consortium.json").read_text())["gateway"]
            assert rec.gateway == bytes.fromhex(gw[2:])
            expected = membership.keys_at(rec.gateway, rec.received_at).signer
            assert receipt_signer(rec, domain) == expected

        # reconcile, from Lanzhou's side against Yulin: clean once anchored
        time.sleep(5)
        # ... and every kept receipt (the partner's with the partner's URL, the forward's with
        # the home's) is included in its log's checkpoint on chain
        kept = store.load()
        assert len(kept) >= 2 * len(receipts) - 1
        checks = verify_receipts(kept, chain=chain, deployment=deployment)
        assert [c.status for c in checks] == ["ok"] * len(kept), [c.to_json() for c in checks]

        def reconcile() -> tuple[int, dict[str, Any]]:
            r = run(
                "audit", "reconcile", "--city", "yulin", "--url", urls["lanzhou"],
                "--data-dir", str(root / "lanzhou"), "--as", "auditor",
                "--rpc", chain_url, "--json",
            )  # fmt: skip
            return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {"err": r.stderr}

        code, report = reconcile()
        assert code == 0, report
        assert report["matched"] >= 3
        # Yulin's operator deletes the access entry of the first cross-city read
        victim = receipts[0][1]["index"]
        db = root / "yulin" / "gateway.db"
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM log_entry WHERE log_name = 'access' AND idx = ?", (victim,))
        code, report = reconcile()
        assert code == 1, report
        assert {f["check"] for f in report["findings"]} & {"unproven", "missing-at-partner"}
    finally:
        run("network", "down", "--data-dir", str(root))
        for pid in _processes_of(root):
            os.kill(pid, 9)
        if pg_url:
            import sqlalchemy as sa
            from sqlalchemy.pool import NullPool

            admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
            admin.dispose()
