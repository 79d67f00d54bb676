"""The operator page's network section against a real two-city network (`creditchain network
up`: one anvil, one gateway process per city): every city the on-chain Directory lists, with
its name, gateway org, URL, health, log sizes and anchored checkpoints read from the chain; a
city whose gateway is stopped is shown down. The gateways answer other origins' public reads
(health, checkpoints) and nothing else."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from gateway.domain.identifiers import make_uscc
from tests.browser._browser import Browser
from tests.e2e._gateway_proc import fixed_port, pid_running
from tests.e2e.test_cli_chain import run

CITIES = {"yulin": 610800, "lanzhou": 620100}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "records" / "tax_credit_rating.json"
LANZHOU = "#network-cities tr[data-city='620100']"


def _wait(browser: Browser, expr: str) -> None:
    try:
        browser.call("waitForFunction", expr=expr, timeout=60000)
    except AssertionError as exc:
        shown = browser.text("#page-operator") or browser.text("body")
        raise AssertionError(f"{exc}\npage: {shown}\nconsole: {browser.call('messages')}") from exc


def _refresh(browser: Browser) -> None:
    """Click Refresh and wait until the network section has loaded again."""
    before = int(browser.attr("#network-out", "data-loads") or 0)
    browser.click("#operator-refresh")
    _wait(browser, f"() => Number(document.getElementById('network-out').dataset.loads) > {before}")


def test_operator_page_lists_every_city_and_marks_a_stopped_one_down(
    tmp_path: Path, browser: Browser, screenshots: Path
) -> None:
    import httpx

    root = tmp_path / "net"
    base, rpc = fixed_port(), fixed_port()
    up = ("network", "up", "--data-dir", str(root), "--cities", ",".join(CITIES))
    up = (*up, "--port-base", str(base), "--chain-port", str(rpc))
    up = (*up, "--max-merge-delay", "2", "--json")
    try:
        started = run(*up, timeout=400)
        assert started.returncode == 0, started.stderr
        doc = json.loads(started.stdout)
        urls = {slug: c["url"] for slug, c in doc["cities"].items()}
        orgs = {slug: c["gateway"].lower() for slug, c in doc["cities"].items()}

        # cross-origin: the public reads only, never the other routes
        other = {"origin": "http://elsewhere.example"}
        for path in ("/v1/health", "/v1/logs/records/checkpoint", "/v1/logs/access/checkpoint"):
            got = httpx.get(urls["lanzhou"] + path, headers=other)
            assert got.status_code == 200, path
            assert got.headers["access-control-allow-origin"] == "*", path
        for path in ("/v1/logs/records/consistency?first=1&second=2", "/ui/offer.json", "/"):
            got = httpx.get(urls["lanzhou"] + path, headers=other)
            assert "access-control-allow-origin" not in got.headers, path

        # one record in Lanzhou, so its records log has an entry to anchor
        record = json.loads(EXAMPLE.read_text())
        record["subject"]["id"] = make_uscc("91620100MA0000105")  # a Lanzhou company
        lz = tmp_path / "lanzhou-record.json"
        lz.write_text(json.dumps(record, ensure_ascii=False))
        sub = run(
            "submit", str(lz), "--as", "tax", "--data-dir", str(root / "lanzhou"),
            env={"CREDITCHAIN_URL": urls["lanzhou"]},
        )  # fmt: skip
        assert sub.returncode == 0, sub.stderr

        browser.goto(urls["yulin"] + "#operator")
        _wait(browser, "() => document.querySelectorAll('#network-cities tbody tr').length === 2")
        for slug, code in CITIES.items():
            row = f"#network-cities tr[data-city='{code}']"
            assert browser.attr(row, "data-health") == "ok", browser.text("#network")
            text = browser.text(row)
            assert urls[slug] in text
            assert orgs[slug] in text.lower()
        names = browser.text("#network-cities tbody")
        zh, en = ("榆林市", "兰州市"), ("Yulin", "Lanzhou")
        assert all(n in names for n in zh) or all(n in names for n in en), names
        assert "✓" in browser.text("#network-cities tr[data-city='620100'] td[data-col='health']")
        # Lanzhou's records log: one entry, anchored on chain (read there), lag 0 once anchored
        for _ in range(30):
            if not browser.text(LANZHOU + " td[data-col='anchored']").startswith(("none", "暂无")):
                break
            time.sleep(2)
            _refresh(browser)
        assert browser.text(LANZHOU + " td[data-col='sizes']") == "1 / 0"
        assert browser.text(LANZHOU + " td[data-col='anchored']").startswith("1 @ ")
        assert browser.text(LANZHOU + " td[data-col='lag']") == "0 / 0"
        browser.screenshot(screenshots / "operator-network.png")

        # stop Lanzhou's gateway (the process `network up` started for this test)
        state = json.loads((root / "network.json").read_text())
        pid = int(state["cities"]["lanzhou"]["pid"])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while pid_running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pid_running(pid)

        _refresh(browser)
        _wait(
            browser,
            "() => document.querySelector(\"#network-cities tr[data-city='620100']\")"
            "?.dataset.health === 'down'",
        )
        assert browser.attr("#network-cities tr[data-city='610800']", "data-health") == "ok"
        down = browser.text("#network-cities tr[data-city='620100'] td[data-col='health']")
        assert "✗" in down
        # the chain still answers for the stopped city: its anchored checkpoints are shown
        assert urls["lanzhou"] in browser.text(LANZHOU)
        assert browser.text(LANZHOU + " td[data-col='anchored']").startswith("1 @ ")
        assert browser.text(LANZHOU + " td[data-col='sizes']") == "—"
        browser.screenshot(screenshots / "operator-network-down.png")

        # the other language: the city names and labels from the one catalog
        lang = browser.eval("document.documentElement.lang")
        browser.click("#lang")
        try:
            names = browser.text("#network-cities tbody")
            header = browser.text("#network-cities thead")
            zh = ("榆林市 (610800)", "兰州市 (620100)", "不可达", "城市")
            en = ("Yulin (610800)", "Lanzhou (620100)", "down", "City")
            for want in zh if lang == "en" else en:
                assert want in names + header, (want, header, names)
        finally:
            browser.click("#lang")
    finally:
        run("network", "down", "--data-dir", str(root))
