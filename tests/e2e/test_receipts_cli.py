"""Finding 4 end to end, as a user meets it: `creditchain submit` keeps every receipt; the
insider drops the unanchored tail from the database; the gateway refuses to restart on its
receipts' mark; with the mark files gone too, it re-issues the indices to another department
and anchors them — and `creditchain receipts verify` names the contradicted receipt."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from gateway._devnet import load_consortium
from gateway._receipt_mark import MARK_DIR
from node import Deployment, connect
from node._local import ChainPaths, running_node
from tests.e2e._gateway_proc import GatewayDied, GatewayProcess, fixed_port
from tests.e2e.test_cli_chain import run
from tests.e2e.test_crash import make_record


def submit(gw: GatewayProcess, tmp: Path, slug: str, n: int) -> list[dict[str, Any]]:
    org = load_consortium(gw.data_dir)[slug].org_id
    f = tmp / f"{slug}-{n}.json"
    f.write_text(json.dumps([make_record(n, slug, org, random.Random(n))]))
    r = run(
        "submit", str(f), "--as", slug, "--data-dir", str(gw.data_dir), "--url", gw.url, "--json"
    )
    assert r.returncode == 0, r.stderr
    out: list[dict[str, Any]] = json.loads(r.stdout)["receipts"]
    return out


def anchored(gw: GatewayProcess) -> int:
    info = running_node(ChainPaths(gw.data_dir))
    assert info is not None
    chain = connect(str(info["url"]))
    d = Deployment.load(ChainPaths(gw.data_dir).manifest)
    org = bytes.fromhex(load_consortium(gw.data_dir)["gateway"].org_id[2:])
    from gateway.domain.records import log_id

    cp = d.checkpoint_log(chain).latest(log_id(org, "records"))
    return cp.size if cp else 0


def wait_anchored(gw: GatewayProcess, size: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while anchored(gw) < size:
        assert time.monotonic() < deadline, "not anchored in time"
        time.sleep(0.3)


def drop_tail(data_dir: Path, size: int) -> None:
    with sqlite3.connect(data_dir / "gateway.db") as c:
        c.execute("DELETE FROM log_entry WHERE log_name = 'records' AND idx >= ?", (size,))
        c.execute(
            "DELETE FROM log_node WHERE log_name = 'records' AND ((idx + 1) << level) > ?", (size,)
        )
        c.execute("UPDATE log_head SET size = ? WHERE log_name = 'records'", (size,))
        c.execute("DELETE FROM record WHERE log_index >= ?", (size,))


def test_dropped_tail_refused_at_restart_and_named_by_receipts_verify(tmp_path: Path) -> None:
    data = tmp_path / "gw"
    gw = GatewayProcess(
        data,
        fixed_port(),
        fixed_port(),
        ("--max-merge-delay", "10", "--anchor-every", "1000"),
        log_path=tmp_path / "serve.log",
    )
    try:
        gw.spawn()
        gw.wait_healthy()
        a = submit(gw, tmp_path, "tax", 1)
        wait_anchored(gw, a[0]["index"] + 1)
        b = submit(gw, tmp_path, "tax", 2)  # acknowledged, not anchored yet (5 s)
        gw.kill()
        drop_tail(data, b[0]["index"])

        gw.spawn()
        with pytest.raises(GatewayDied) as refused:
            gw.wait_healthy()
        assert "refusing to start" in str(refused.value)
        assert f"up to index {b[0]['index']} of the records log" in str(refused.value)

        shutil.rmtree(data / MARK_DIR)  # the insider has the file system too
        gw.spawn()
        gw.wait_healthy()
        c = submit(gw, tmp_path, "market", 3)
        assert c[0]["index"] == b[0]["index"]  # the index is handed out again
        wait_anchored(gw, c[0]["index"] + 1)
        time.sleep(max(0.0, b[0]["anchor_by"] - time.time() + 1))
        r = run("receipts", "verify", "--data-dir", str(data), "--json")
        assert r.returncode == 1, r.stderr
        got = {(x["index"], x["leaf_hash"]): x["status"] for x in json.loads(r.stdout)["receipts"]}
        assert got.pop((a[0]["index"], a[0]["leaf_hash"])) == "ok"
        assert got.pop((b[0]["index"], b[0]["leaf_hash"])) == "contradicted"
        # the new holder of that index: fine (pending while its anchor_by is ahead)
        assert got.pop((c[0]["index"], c[0]["leaf_hash"])) in ("ok", "pending")
        assert got == {}
        human = run("receipts", "verify", "--data-dir", str(data))
        assert human.returncode == 1
        assert f"contradicted records #{b[0]['index']}" in human.stdout
    finally:
        gw.close()
