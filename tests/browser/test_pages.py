"""The web UI in a real headless Chromium against a real `serve --dev` gateway on anvil.

The verify page must reach the same verdict as `creditchain verify` (the same code path in
Python: ``verify_bundle`` with ``NodeChainView``) for every valid bundle of a 50-record run and
for every corruption of the CLI's tamper matrix, by checking in the browser itself: no request
goes to the gateway while it verifies, and it still decides with the gateway stopped.
"""

from __future__ import annotations

import copy
import functools
import http.server
import json
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.ui import STATIC_DIR
from gateway.verify import NodeChainView, VerificationError, trust_root_from, verify_bundle
from node import Deployment, LocalChain, connect
from tests.browser._browser import Browser, BrowserError
from tests.browser.conftest import CLI, Run
from tests.unit.test_verify_checks import RULES, altered, containers, expected, put, walk

pytestmark = [pytest.mark.slow, pytest.mark.anvil, pytest.mark.xdist_group("browser")]

ALL_CHECKS = [
    "trust-root",
    "record-commitment",
    "department-signature",
    "leaf-hash",
    "inclusion",
    "checkpoint-on-chain",
    "receipt-signature",
    "status",
]


def open_verify_page(b: Browser, url: str, manifest_text: str, rpc: str) -> None:
    b.goto(url + "#verify")
    b.wait_for("#verify-button")
    if b.eval("document.documentElement.lang") != "en":
        b.click("#lang")
    b.fill("#manifest", manifest_text)
    b.fill("#rpc", rpc)


def page_verdict(b: Browser, bundle_text: str) -> tuple[str, str | None]:
    """Paste a bundle, press Verify, wait for the verdict: (valid|invalid|none, failing check)."""
    before = int(b.attr("#verdict", "data-run") or 0)
    b.fill("#bundle", bundle_text)
    b.click("#verify-button")
    try:
        b.call(
            "waitForFunction",
            expr="n => Number(document.querySelector('#verdict').dataset.run || 0) > n",
            arg=before,
        )
    except BrowserError as exc:
        state = b.text("#verdict")
        raise BrowserError(f"{exc}\nverdict: {state}\nconsole: {b.call('messages')}") from None
    return str(b.attr("#verdict", "data-verdict")), b.attr("#verdict", "data-check")


def python_verdict(bundle: object, view: NodeChainView, deployment: Deployment) -> str | None:
    """The check `creditchain verify` fails (None: valid), from the same code the CLI runs."""
    try:
        verify_bundle(bundle, view, trusted=trust_root_from(deployment))
    except VerificationError as exc:
        return exc.check
    return None


@pytest.fixture(scope="module")
def chain_view(run: Run) -> Iterator[tuple[NodeChainView, Deployment]]:
    deployment = Deployment.load(run.manifest)
    chain = connect(run.rpc)
    try:
        deployment.check(chain)
        yield NodeChainView(chain, deployment), deployment
    finally:
        chain.close()


def corruptions(bundle: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The CLI's tamper matrix (tests/unit/test_verify_checks.py) applied to a real bundle:
    every scalar altered, every member removed, one member added to every object."""
    for path, value in walk(bundle):
        yield "altered:" + "/".join(map(str, path)), put(bundle, path, altered(value))
    for path, node in containers(bundle):
        for key in node:
            removed = copy.deepcopy(bundle)
            target: Any = removed
            for k in path:
                target = target[k]
            del target[key]
            yield "removed:" + "/".join(map(str, (*path, key))), removed
        added = put(bundle, (*path, "zz_extra"), 1) if path else {**bundle, "zz_extra": 1}
        yield "added:" + "/".join(map(str, path)), added


# JSON texts that the CLI's strict reader refuses (malformed) although a lax JSON.parse would
# take them: the page must refuse them too.
TEXT_CASES: dict[str, Callable[[str], str]] = {
    "duplicate-member": lambda t: t.replace('"v": 1,', '"v": 1, "v": 1,', 1),
    "float-index": lambda t: re.sub(r'("index": )([0-9]+)', r"\g<1>\g<2>.0", t, count=1),
    "not-json": lambda t: t[:-2],
    "nan": lambda t: t.replace('"v": 1,', '"v": NaN,', 1),
    "big-integer": lambda t: t.replace('"v": 1,', '"v": 9007199254740993,', 1),
}


def test_verify_page_accepts_every_bundle_of_a_50_record_run(
    run: Run, browser: Browser, screenshots: Path
) -> None:
    manifest = run.manifest.read_text()
    open_verify_page(browser, run.url, manifest, run.rpc)
    browser.call("block", pattern="**/v1/verify")
    browser.requests()
    assert len(run.bundles) == 50
    for bundle in run.bundles + run.public:
        verdict, check = page_verdict(browser, json.dumps(bundle, ensure_ascii=False, indent=1))
        assert (verdict, check) == ("valid", None), bundle["status"]["record_id"]
        rows = browser.eval(
            "[...document.querySelectorAll('#checks tr')]"
            ".map(r => [r.dataset.check, r.dataset.outcome])"
        )
        opened = "record" in bundle
        assert [c for c, o in rows if o == "pass"] == [
            c for c in ALL_CHECKS if opened or c != "record-commitment"
        ]
        assert [c for c, o in rows if o == "skip"] == ([] if opened else ["record-commitment"])
        # every row is shown (a skipped one too)
        shown = "[...document.querySelectorAll('#checks tr')].every(r => r.offsetWidth)"
        assert browser.eval(shown)
        assert browser.attr("#record-status", "data-status") == "active"
    browser.screenshot(screenshots / "verify-valid.png")
    # the page asked the chain, never the gateway: no /v1 request at all while verifying
    seen = browser.requests()
    assert not [r for r in seen if "/v1/" in r["url"]], seen
    assert any(r["url"].startswith(run.rpc) for r in seen)
    # the batch bundles and the single ones were both there
    kinds = {b["leaf"]["sig"]["type"] for b in run.bundles}
    assert kinds == {"CreditRecord", "CreditRecordBatch"}


def test_verify_page_fails_wherever_the_cli_fails(
    run: Run,
    browser: Browser,
    screenshots: Path,
    chain_view: tuple[NodeChainView, Deployment],
    tmp_path: Path,
) -> None:
    view, deployment = chain_view
    open_verify_page(browser, run.url, run.manifest.read_text(), run.rpc)
    single = next(b for b in run.bundles if b["leaf"]["sig"]["type"] == "CreditRecord")
    batch = next(b for b in run.bundles if b["leaf"]["sig"]["type"] == "CreditRecordBatch")
    cases: list[tuple[str, Any]] = []
    for name, bundle in (("single", single), ("batch", batch)):
        cases += [(f"{name}:{label}", c) for label, c in corruptions(bundle)]
    # the e2e's own two (a schema-valid field change, a zeroed inclusion node)
    tampered = copy.deepcopy(batch)
    first_int = next(k for k, v in tampered["record"]["fields"].items() if type(v) is int)
    tampered["record"]["fields"][first_int] += 1
    cases.append(("tampered-record", tampered))
    cases.append(("tampered-inclusion", put(single, ("log", "inclusion", 0), "00" * 32)))
    cases.append(("foreign-trust-root", put(single, ("chain", "chain_id"), 1)))
    assert len(cases) > 200
    mismatches = []
    caught: dict[str, int] = {}
    for label, bundle in cases:
        want = python_verdict(bundle, view, deployment)
        assert want is not None, f"{label}: the CLI's verifier accepts it"
        verdict, got = page_verdict(browser, json.dumps(bundle, ensure_ascii=False))
        if (verdict, got) != ("invalid", want):
            mismatches.append((label, want, verdict, got))
        caught[want] = caught.get(want, 0) + 1
        if label.startswith("single:altered:") and "path" not in label:
            # every altered scalar is caught by the check the tamper matrix expects
            path = tuple(int(p) if p.isdigit() else p for p in label.split(":", 2)[2].split("/"))
            assert want in expected(path, RULES), label
    assert not mismatches, mismatches[:20]
    assert set(caught) >= set(ALL_CHECKS) | {"malformed"}, caught
    browser.screenshot(screenshots / "verify-invalid.png")

    # texts the CLI's strict JSON reader refuses: the page refuses them too, as malformed
    text = json.dumps(single, indent=1)
    procs = {}
    for name, mutate in TEXT_CASES.items():
        bad = mutate(text)
        assert bad != text, name
        assert page_verdict(browser, bad) == ("invalid", "malformed"), name
        path = tmp_path / f"{name}.json"
        path.write_text(bad)
        procs[name] = subprocess.Popen(
            [CLI, "verify", str(path), "--rpc", run.rpc, "--manifest", str(run.manifest), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, (name, out, err)
        assert json.loads(out)["check"] == "malformed", (name, out)


def test_operator_page_shows_both_logs_and_checks_the_anchor_on_chain(
    run: Run, browser: Browser, screenshots: Path
) -> None:
    browser.goto(run.url + "#operator")
    browser.call(
        "waitForFunction",
        expr="() => document.querySelectorAll('#operator-logs tbody tr').length === 2",
    )
    assert browser.attr("#operator-health dd", "data-health") == "ok"
    assert browser.attr("tr[data-log='records'] td", "data-size") == "50"
    assert browser.attr("tr[data-log='records']", "data-agree") == "true"
    assert browser.attr("tr[data-log='records'] td[data-lag]", "data-lag") == "0"
    browser.screenshot(screenshots / "operator.png")
    browser.call("viewport", width=390, height=844)  # a phone
    try:
        browser.goto(run.url + "#verify")
        browser.wait_for("#verify-button")
        browser.screenshot(screenshots / "verify-phone.png")
        width = browser.eval("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    finally:
        browser.call("viewport", width=1280, height=900)


def test_pages_switch_language_and_keep_working_by_keyboard(run: Run, browser: Browser) -> None:
    browser.goto(run.url + "#verify")
    browser.wait_for("#verify-button")
    lang = browser.eval("document.documentElement.lang")
    browser.click("#lang")
    other = browser.eval("document.documentElement.lang")
    assert {lang, other} == {"en", "zh-CN"}
    heading = {"en": "Verify a proof bundle", "zh-CN": "验证证明包"}
    assert browser.text("#verify-h") == heading[other]
    # every form control has a label
    unlabelled = browser.eval(
        "[...document.querySelectorAll('textarea, input')]"
        ".filter(e => !e.labels || !e.labels.length).map(e => e.id)"
    )
    assert unlabelled == []
    # by keyboard: from the top, Tab reaches the skip link, then the pages; Enter opens one
    browser.goto("about:blank")
    browser.goto(run.url + "#verify")
    browser.wait_for("#verify-button")
    browser.call("press", key="Tab")
    assert browser.eval("document.activeElement.className") == "skip-link"
    browser.call("press", key="Tab")
    assert browser.eval("document.activeElement.id") == "nav-verify"
    browser.call("press", key="Tab")
    assert browser.eval("document.activeElement.id") == "nav-operator"
    browser.call("press", key="Enter")
    browser.wait_for("#operator-h")
    assert browser.eval("location.hash") == "#operator"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_verify_page_reaches_a_verdict_with_the_gateway_stopped(
    run: Run, browser: Browser, screenshots: Path
) -> None:
    """The gateway is stopped; its chain is brought back alone (anvil with the saved state);
    the page is served by a plain static server on another port. Only the chain answers."""
    manifest = run.manifest.read_text()
    bundle = next(b for b in run.bundles if b["leaf"]["sig"]["type"] == "CreditRecordBatch")
    run.stop()
    chain = LocalChain(run.data_dir, port=run.chain_port).start()
    handler = functools.partial(_QuietHandler, directory=str(STATIC_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        static = f"http://127.0.0.1:{server.server_address[1]}/"
        open_verify_page(browser, static, manifest, run.rpc)
        browser.requests()
        assert page_verdict(browser, json.dumps(bundle)) == ("valid", None)
        tampered = put(bundle, ("log", "inclusion", 0), "00" * 32)
        assert page_verdict(browser, json.dumps(tampered)) == ("invalid", "inclusion")
        browser.screenshot(screenshots / "verify-gateway-stopped.png")
        seen = browser.requests()
        assert {r["url"].rsplit(":", 1)[0] for r in seen} <= {"http://127.0.0.1"}
        assert all(r["url"].startswith(run.rpc) for r in seen), seen
        # and with the chain gone too: no verdict, never "valid"
        chain.stop()
        verdict, _ = page_verdict(browser, json.dumps(bundle))
        assert verdict == "none"
    finally:
        server.shutdown()
        chain.stop()
