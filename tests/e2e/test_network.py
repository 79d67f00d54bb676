"""`creditchain network up|status|down` with real processes: one chain, three city gateways
on their own ports, data dirs, keys and consortia (registered under their own city codes),
one network pepper; a local read in a city end to end from the command line; a second `up`
while running refused; `down` ends every process it started; a restart keeps the chain, the
orgs, the ports and the logs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from gateway._network import parse_cities
from gateway.domain.identifiers import make_uscc
from gateway.errors import NetworkError
from node import ChainPaths, Deployment, connect, keystore_address
from tests.e2e._gateway_proc import fixed_port, pid_running
from tests.e2e.test_cli_chain import run

CITIES = {"yulin": 610800, "lanzhou": 620100, "yinchuan": 640100}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "records" / "tax_credit_rating.json"


def status(root: Path) -> tuple[int, dict[str, Any]]:
    r = run("network", "status", "--data-dir", str(root), "--json")
    return r.returncode, json.loads(r.stdout)


def _processes_of(root: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(root) in cmd and pid_running(int(entry)):
                found.append(int(entry))
    return found


def test_a_three_city_network_starts_serves_stops_and_resumes(tmp_path: Path) -> None:
    root = tmp_path / "net"
    base, rpc = fixed_port(), fixed_port()
    where = ("network", "up", "--data-dir", str(root), "--cities", ",".join(CITIES))
    up = (*where, "--port-base", str(base), "--chain-port", str(rpc), "--max-merge-delay", "4")
    up = (*up, "--json")
    try:
        started = run(*up, timeout=400)
        assert started.returncode == 0, started.stderr
        doc = json.loads(started.stdout)
        assert set(doc["cities"]) == set(CITIES)
        urls = {slug: c["url"] for slug, c in doc["cities"].items()}
        assert len(set(urls.values())) == 3

        code, st = status(root)
        assert code == 0, st
        assert st["chain"]["running"]
        assert {s: c["health"] for s, c in st["cities"].items()} == dict.fromkeys(CITIES, "ok")
        assert all(c["rss_kib"] > 0 for c in st["cities"].values())
        # each gateway listed in the on-chain directory with its URL
        assert {s: c["directory_url"] for s, c in st["cities"].items()} == urls

        # one chain, one manifest; each city its own consortium under its own city code
        deployment = Deployment.load(ChainPaths(root).manifest)
        chain = connect(st["chain"]["url"])
        membership = deployment.membership(chain)
        peppers = set()
        gateways = set()
        for slug, city in CITIES.items():
            data = root / slug
            consortium = json.loads((data / "consortium.json").read_text())
            assert consortium["city"] == city
            assert {o["slug"] for o in consortium["orgs"]} >= {
                "gateway", "credit-office", "tax", "bank", "water", "auditor",
            }  # fmt: skip
            for o in consortium["orgs"]:
                assert membership.org(bytes.fromhex(o["org_id"][2:])).city == city
            # registered by the city's own registrar, a registrar of that city alone
            registrar = to_checksum_address(keystore_address(data / "keys" / "registrar.json"))
            assert {c for c in CITIES.values() if membership.is_registrar(registrar, c)} == {city}
            gateway_org = bytes.fromhex(consortium["gateway"][2:])
            assert deployment.directory(chain).gateway_of_city(city).gateway_org == gateway_org
            gateways.add(consortium["gateway"])
            assert st["cities"][slug]["gateway"] == consortium["gateway"]
            peppers.add((data / "keys" / "pepper").read_text().split()[0])
            assert (data / "keys" / "pepper").stat().st_mode & 0o077 == 0
            assert json.loads((data / "chain" / "deployment.json").read_text()) == json.loads(
                ChainPaths(root).manifest.read_text()
            )
        assert len(gateways) == 3
        assert len(peppers) == 1  # one network pepper

        # a local read in Lanzhou, end to end on the command line, with the city's data dir
        lanzhou = ("--data-dir", str(root / "lanzhou"))
        env = {"CREDITCHAIN_URL": urls["lanzhou"]}
        record = json.loads(EXAMPLE.read_text())
        record["subject"]["id"] = make_uscc("91620100MA0000105")  # a Lanzhou company
        lz = tmp_path / "lanzhou-record.json"
        lz.write_text(json.dumps(record, ensure_ascii=False))
        who = f"uscc:{record['subject']['id']}"
        sub = run("submit", str(lz), "--as", "tax", *lanzhou, env=env)
        assert sub.returncode == 0, sub.stderr
        g = run(
            "grant", "create", "--as", "credit-office", "--subject", who, "--grantee", "bank",
            "--purpose", "loan_approval", "--categories", "tax_credit_rating",
            "--evidence", "consent 1", *lanzhou,
        )  # fmt: skip
        assert g.returncode == 0, g.stderr
        read = run(
            "read", "--as", "bank", "--subject", who, "--purpose", "loan_approval",
            "--categories", "tax_credit_rating", "--wait", "--json", *lanzhou, env=env,
        )  # fmt: skip
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout)["receipt_check"]["status"] == "ok"
        deadline = time.monotonic() + 60
        while status(root)[1]["cities"]["lanzhou"]["logs"]["records"]["anchored"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        _, st = status(root)
        assert st["cities"]["lanzhou"]["logs"] == {
            "records": {"size": 1, "anchored": 1},
            "access": {"size": 1, "anchored": 1},
        }
        assert st["cities"]["yulin"]["logs"]["records"] == {"size": 0, "anchored": 0}

        # across cities: Yinchuan's bank reads the Lanzhou subject through Yinchuan's gateway;
        # the answer is opened by the CLI with the bank's X25519 key; both receipts check out
        yinchuan = ("--data-dir", str(root / "yinchuan"))
        cross_grant = run(
            "grant", "create", "--as", "credit-office", "--subject", who, "--grantee",
            "yinchuan:bank", "--purpose", "loan_approval", "--categories", "tax_credit_rating",
            "--evidence", "consent 2", *lanzhou,
        )  # fmt: skip
        assert cross_grant.returncode == 0, cross_grant.stderr
        ask = ("read", "--as", "bank", "--subject", who, "--purpose", "loan_approval", *yinchuan)
        cross = (*ask, "--categories", "tax_credit_rating")
        home = {"CREDITCHAIN_URL": urls["yinchuan"]}
        got = run(*cross, "--city", "lanzhou", "--json", env=home)
        assert got.returncode == 0, got.stderr
        doc = json.loads(got.stdout)
        assert doc["city"] == CITIES["lanzhou"]
        assert doc["records"][0]["fields"]["rating"] == record["fields"]["rating"]
        assert doc["receipt_check"]["status"] == "pending"  # signatures checked; not anchored
        assert doc["forward_receipt_check"]["status"] == "pending"
        assert doc["access_receipt"]["gateway"] == st["cities"]["lanzhou"]["gateway"]
        assert doc["forward_receipt"]["gateway"] == st["cities"]["yinchuan"]["gateway"]
        by_code = run(*cross, "--city", str(CITIES["lanzhou"]), env=home)
        assert by_code.returncode == 0, by_code.stderr
        assert "forward receipt (your home gateway's access log" in by_code.stdout
        other = run(*ask, "--city", "lanzhou", "--categories", "utility_arrears", env=home)
        assert other.returncode == 1  # no grant for that category: denied on Lanzhou's side
        assert "denied: " in other.stdout
        for bad, message in (("atlantis", "6-digit"), ("150100", "no active gateway")):
            r = run(*cross, "--city", bad, env=home)
            assert r.returncode in (1, 2)
            assert message in r.stderr

        again = run(*up)
        assert again.returncode == 1
        assert "is running" in again.stderr
        assert again.stderr.count("\n") == 1

        # down: every process of this network ends (gateways, chain, its anvil)
        pids = _processes_of(root)
        assert len(pids) >= 5  # three gateways, `chain up`, anvil
        stopped = run("network", "down", "--data-dir", str(root), "--json")
        assert stopped.returncode == 0, stopped.stderr
        assert set(json.loads(stopped.stdout)["stopped"].values()) == {"stopped"}
        assert [p for p in pids if pid_running(p)] == []
        code, st = status(root)
        assert code == 1
        assert not st["chain"]["running"]
        assert not any(c["running"] for c in st["cities"].values())

        # restart: same chain, orgs, ports; Lanzhou's logs kept
        resumed = run(*where, "--max-merge-delay", "4", "--json", timeout=400)  # ports kept
        assert resumed.returncode == 0, resumed.stderr
        doc2 = json.loads(resumed.stdout)
        assert {s: c["url"] for s, c in doc2["cities"].items()} == urls
        assert {c["gateway"] for c in doc2["cities"].values()} == gateways
        assert doc2["chain"].endswith(f":{rpc}")
        _, st = status(root)
        assert st["cities"]["lanzhou"]["logs"]["records"] == {"size": 1, "anchored": 1}
        again_read = run(
            "read", "--as", "bank", "--subject", who, "--purpose", "loan_approval",
            "--categories", "tax_credit_rating", *lanzhou, env=env,
        )  # fmt: skip
        assert again_read.returncode == 0, again_read.stderr
    finally:
        run("network", "down", "--data-dir", str(root))
        for pid in _processes_of(root):  # only this test's processes, by their data dir
            os.kill(pid, 9)


def test_cities_are_checked_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="unknown cities atlantis"):
        parse_cities("yulin,atlantis")
    with pytest.raises(NetworkError, match="twice"):
        parse_cities("yulin,Yulin")
    assert [c.code for c in parse_cities("yanan, hohhot,pingliang")] == [610600, 150100, 620800]
    r = run("network", "up", "--data-dir", str(tmp_path / "n"), "--cities", "atlantis")
    assert r.returncode == 1
    assert r.stderr.startswith("error: unknown cities atlantis")
    assert not (tmp_path / "n" / "chain").exists()
    t = run(
        "network", "up", "--data-dir", str(tmp_path / "n"), "--cities", "yulin",
        "--database-url-template", "sqlite:///same.db",
    )  # fmt: skip
    assert t.returncode == 1
    assert "{city}" in t.stderr
    assert not (tmp_path / "n" / "chain").exists()
    for bad, said in (("lanzhou=sqlite:///l.db", "not started: lanzhou"), ("yulin", "CITY=URL")):
        u = run(
            "network", "up", "--data-dir", str(tmp_path / "n"), "--cities", "yulin",
            "--database-url", bad,
        )  # fmt: skip
        assert u.returncode == 1, u.stderr
        assert u.stderr.startswith("error: "), u.stderr
        assert said in u.stderr, u.stderr
        assert not (tmp_path / "n" / "chain").exists()
    s = run("network", "status", "--data-dir", str(tmp_path / "none"))
    assert s.returncode == 1
    assert "no network" in s.stderr


def test_cities_on_postgresql_from_a_url_template(tmp_path: Path) -> None:
    """`--database-url-template` puts each city in its own PostgreSQL database, created on
    first start; a restart finds its rows there."""
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from tests.store.conftest import _postgres_base_url

    base_url = make_url(_postgres_base_url())
    prefix = f"cc_net_{uuid.uuid4().hex[:12]}"
    template = (
        base_url.set(database=prefix + "_CITY")
        .render_as_string(hide_password=False)
        .replace("_CITY", "_{city}")
    )
    root = tmp_path / "net"
    up = (
        "network", "up", "--data-dir", str(root), "--cities", "yulin,lanzhou",
        "--port-base", str(fixed_port()), "--chain-port", str(fixed_port()),
        "--database-url-template", template, "--json",
    )  # fmt: skip
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        started = run(*up, timeout=400)
        assert started.returncode == 0, started.stderr
        urls = {s: c["url"] for s, c in json.loads(started.stdout)["cities"].items()}
        _, st = status(root)
        assert {c["database"] for c in st["cities"].values()} == {base_url.drivername}
        assert (root / "network.json").stat().st_mode & 0o077 == 0  # it holds database URLs
        with admin.connect() as conn:
            names = {r[0] for r in conn.execute(sa.text("SELECT datname FROM pg_database"))}
        assert {f"{prefix}_yulin", f"{prefix}_lanzhou"} <= names
        assert not (root / "yulin" / "gateway.db").exists()
        for c in st["cities"].values():  # the URL (and a password) never on the process list
            assert prefix not in Path(f"/proc/{c['pid']}/cmdline").read_text()
        sub = run(
            "submit", str(EXAMPLE), "--as", "tax", "--data-dir", str(root / "yulin"),
            env={"CREDITCHAIN_URL": urls["yulin"]},
        )  # fmt: skip
        assert sub.returncode == 0, sub.stderr
        assert run("network", "down", "--data-dir", str(root)).returncode == 0
        resumed = run(*up[: up.index("--port-base")], timeout=400)  # the URLs are kept too
        assert resumed.returncode == 0, resumed.stderr
        _, st = status(root)
        assert st["cities"]["yulin"]["logs"]["records"]["size"] == 1
        assert st["cities"]["lanzhou"]["logs"]["records"]["size"] == 0
    finally:
        run("network", "down", "--data-dir", str(root))
        for pid in _processes_of(root):
            os.kill(pid, 9)
        with admin.connect() as conn:
            for city in ("yulin", "lanzhou"):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{prefix}_{city}" WITH (FORCE)')
        admin.dispose()
