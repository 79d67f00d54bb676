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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway._devnet import load_consortium
from gateway.client import ClientError, ReaderClient
from gateway.domain.catalog import load_catalog
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
    zeroed = put(single, ("log", "inclusion", 0), "00" * 32)
    assert page_verdict(browser, json.dumps(zeroed, indent=1)) == ("invalid", "inclusion")
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
    assert "Offered by the gateway at" in browser.text("#op-manifest-source")
    browser.screenshot(screenshots / "operator.png")
    # without a chain endpoint nothing is claimed: "not checked", never "agree"
    browser.fill("#op-rpc", "")
    browser.click("#operator-refresh")
    browser.call(
        "waitForFunction",
        expr="() => document.querySelector(\"tr[data-log='records']\")?.dataset.agree"
        " === 'unknown'",
    )
    browser.fill("#op-rpc", run.rpc)
    browser.click("#operator-refresh")
    browser.call(
        "waitForFunction",
        expr="() => document.querySelector(\"tr[data-log='records']\")?.dataset.agree === 'true'",
    )
    browser.call("viewport", width=390, height=844)  # a phone
    try:
        browser.goto(run.url + "#verify")
        browser.wait_for("#verify-button")
        browser.screenshot(screenshots / "verify-phone.png")
        width = browser.eval("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    finally:
        browser.call("viewport", width=1280, height=900)


def test_pages_switch_language_and_keep_working_by_keyboard(
    run: Run, browser: Browser, screenshots: Path
) -> None:
    browser.goto(run.url + "#verify")
    browser.wait_for("#verify-button")
    lang = browser.eval("document.documentElement.lang")
    browser.click("#lang")
    other = browser.eval("document.documentElement.lang")
    assert {lang, other} == {"en", "zh-CN"}
    heading = {"en": "Verify a proof bundle", "zh-CN": "验证证明包"}
    assert browser.text("#verify-h") == heading[other]
    if other != "zh-CN":
        browser.click("#lang")
    assert browser.text("#verify-h") == heading["zh-CN"]
    assert browser.text("#nav-auditor") == "审计"
    browser.screenshot(screenshots / "verify-zh.png")
    browser.click("#lang")
    assert browser.eval("document.documentElement.lang") == "en"
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


def test_verify_page_gives_no_verdict_where_the_cli_gives_none(
    run: Run, browser: Browser, tmp_path: Path
) -> None:
    """A manifest that does not describe the chain (another chain id, a contract whose code is
    not ours, a manifest from before RecordStatus): `creditchain verify` exits 2 (no verdict),
    and the page says no verdict — never valid, never invalid."""
    base = json.loads(run.manifest.read_text())
    swapped = copy.deepcopy(base)
    swapped["contracts"]["CheckpointLog"]["address"] = base["contracts"]["Grants"]["address"]
    other_chain = {**copy.deepcopy(base), "chain_id": base["chain_id"] + 1}
    no_status = copy.deepcopy(base)
    del no_status["contracts"]["RecordStatus"]
    bundle = run.bundles[0]
    bundle_path = tmp_path / "bundle.json"
    bundle_path.write_text(json.dumps(bundle))
    for name, manifest in (
        ("swapped", swapped),
        ("other-chain", other_chain),
        ("no-record-status", no_status),
    ):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(manifest))
        cli = subprocess.run(
            [CLI, "verify", str(bundle_path), "--rpc", run.rpc, "--manifest", str(path), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert cli.returncode == 2, (name, cli.stdout, cli.stderr)
        open_verify_page(browser, run.url, json.dumps(manifest), run.rpc)
        assert page_verdict(browser, json.dumps(bundle))[0] == "none", name


def _reader(run: Run, slug: str) -> ReaderClient:
    orgs = load_consortium(run.data_dir)
    deployment = Deployment.load(run.manifest)
    return ReaderClient(
        run.url,
        orgs[slug].account(),
        bytes.fromhex(orgs[slug].org_id[2:]),
        chain_id=deployment.chain_id,
        membership=deployment.address("Membership"),
    )


def _read(run: Run, slug: str, subject: dict[str, str], purpose: str, category: str) -> str:
    """A read of ``subject``'s records; returns the decision ("allow" or the denial's reason)."""
    mask = load_catalog().category_mask([category])
    reader = _reader(run, slug)
    try:
        reader.read(purpose=purpose, categories=[category], category_mask=mask, subject=subject)
    except ClientError as exc:
        return str(exc.problem.get("reason"))
    finally:
        reader.close()
    return "allow"


def _access_log_anchored(run: Run) -> None:
    deadline = time.monotonic() + 60
    while True:
        cp = httpx.get(run.url + "/v1/logs/access/checkpoint").json()
        if cp["anchored"] and cp["anchored"]["size"] == cp["size"]:
            return
        assert time.monotonic() < deadline, f"the access log was not anchored: {cp}"
        time.sleep(0.5)


def _use_gateway_manifest(b: Browser, prefix: str, rpc: str) -> None:
    b.click(f"#{prefix}-use-gateway")
    b.call(
        "waitForFunction",
        expr=f"() => document.querySelector('#{prefix}-manifest-trust').textContent.length > 0",
    )
    assert "Offered by the gateway at" in b.text(f"#{prefix}-manifest-source")
    b.fill(f"#{prefix}-rpc", rpc)


def test_subject_page_sees_a_read_made_minutes_before_and_files_an_objection(
    run: Run, browser: Browser, screenshots: Path, tmp_path: Path
) -> None:
    market = next(b for b in run.bundles if b["record"]["category"] == "admin_penalty")
    subject = market["record"]["subject"]
    # minutes before: a department reads the subject's public records; a bank tries without
    # a grant and is denied
    assert _read(run, "market", subject, "public_procurement", "admin_penalty") == "allow"
    denied = _read(run, "bank", subject, "loan_approval", "utility_arrears")
    assert denied != "allow"
    _access_log_anchored(run)
    session = tmp_path / "session.json"
    made = subprocess.run(
        [
            *(CLI, "subject", "session", "--as", "credit-office"),
            *("--data-dir", str(run.data_dir), "--out", str(session)),
            *("--subject", f"{subject['kind']}:{subject['id']}"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    orgs = load_consortium(run.data_dir)

    browser.goto(run.url + "#subject")
    browser.wait_for("#sub-unlock")
    if browser.eval("document.documentElement.lang") != "en":
        browser.click("#lang")
    browser.call("setFiles", selector="#sub-session-file", path=str(session))
    browser.click("#sub-unlock")
    browser.call(
        "waitForFunction", expr="() => document.querySelector('#sub-who').dataset.signedIn"
    )
    assert browser.attr("#sub-who", "data-signed-in") == "true", browser.text("#sub-who")
    _use_gateway_manifest(browser, "sub", run.rpc)
    browser.requests()
    browser.click("#sub-accesses")
    browser.call(
        "waitForFunction",
        expr="() => document.querySelector('#sub-out').dataset.loaded === 'accesses' "
        "|| document.querySelector('#sub-error')",
    )
    rows = browser.eval(
        "[...document.querySelectorAll('#sub-access-table tbody tr')].map(r => ["
        "r.children[1].textContent, r.children[2].textContent, r.dataset.decision,"
        " r.children[5].dataset.proof])"
    )
    requesters = {orgs["market"].org_id: "market", orgs["bank"].org_id: "bank"}
    seen = {(requesters.get(r[0]), r[1], r[2]) for r in rows}
    assert ("market", "public_procurement", "allow") in seen, rows
    assert ("bank", "loan_approval", "deny") in seen, rows
    assert {r[3] for r in rows} == {"true"}, rows  # every proof checked in the page
    # the key never left the page: the subject's private key is in no request
    key = json.loads(session.read_text())["session_private_key"][2:]
    assert not [r for r in browser.requests() if key in r["url"]]
    browser.screenshot(screenshots / "subject-accesses.png")

    browser.click("#sub-records")
    browser.call(
        "waitForFunction",
        expr="() => document.querySelector('#sub-out').dataset.loaded === 'records' "
        "|| document.querySelector('#sub-error')",
    )
    record_id = market["status"]["record_id"]
    assert (
        browser.attr(f"#sub-record-table tr[data-record='{record_id}']", "data-status") == "active"
    )
    browser.click(f"#sub-record-table button[data-record='{record_id}']")
    browser.fill("#sub-objection-reason", "the penalty was revoked on appeal")
    evidence = tmp_path / "appeal.txt"
    evidence.write_text("decision on appeal, 2026")
    browser.call("setFiles", selector="#sub-objection-evidence", path=str(evidence))
    browser.click("#sub-objection-send")
    browser.call(
        "waitForFunction", expr="() => document.querySelector('#sub-objection-result').dataset.ok"
    )
    assert browser.attr("#sub-objection-result", "data-ok") == "true", browser.text(
        "#sub-objection-result"
    )
    browser.screenshot(screenshots / "subject-objection.png")
    # the chain now says objected: the verify page reports it (read from RecordStatus)
    open_verify_page(browser, run.url, run.manifest.read_text(), run.rpc)
    deadline = time.monotonic() + 60
    while True:
        assert page_verdict(browser, json.dumps(market)) == ("valid", None)
        if browser.attr("#record-status", "data-status") == "objected":
            break
        assert time.monotonic() < deadline, "the objection never reached RecordStatus"
        time.sleep(1)
    browser.screenshot(screenshots / "verify-objected.png")


def test_auditor_page_finds_a_planted_denial_with_proofs_charts_csv_and_audit_verify(
    run: Run, browser: Browser, screenshots: Path
) -> None:
    water = next(b for b in run.bundles if b["record"]["category"] == "utility_arrears")
    subject = water["record"]["subject"]
    planted = _read(run, "bank", subject, "loan_approval", "utility_arrears")
    assert planted != "allow"
    _access_log_anchored(run)
    orgs = load_consortium(run.data_dir)
    auditor = orgs["auditor"]
    bank = orgs["bank"].org_id

    browser.goto(run.url + "#auditor")
    browser.wait_for("#aud-unlock")
    if browser.eval("document.documentElement.lang") != "en":
        browser.click("#lang")
    browser.call("setFiles", selector="#aud-keystore-file", path=auditor.keystore)
    browser.fill("#aud-password", Path(auditor.password_file).read_text().strip())
    browser.fill("#aud-org", auditor.org_id)
    browser.click("#aud-unlock")
    browser.call(
        "waitForFunction",
        expr="() => document.querySelector('#aud-who').dataset.signedIn",
        timeout=120000,
    )
    assert browser.attr("#aud-who", "data-signed-in") == "true", browser.text("#aud-who")
    _use_gateway_manifest(browser, "aud", run.rpc)
    browser.fill("#aud-f-subject", f"{subject['kind']}:{subject['id']}")
    browser.requests()
    browser.click("#aud-trace")
    browser.call(
        "waitForFunction",
        expr="() => document.querySelector('#aud-out').dataset.count "
        "|| document.querySelector('#aud-error')",
    )
    rows = browser.eval(
        "[...document.querySelectorAll('#aud-table tbody tr')].map(r => ["
        "r.children[1].textContent, r.children[3].textContent, r.dataset.decision,"
        " r.dataset.reason])"
    )
    found = [r for r in rows if r[0].startswith(bank) and r[1] == "loan_approval"]
    assert found, rows
    assert found[-1][2] == "deny"
    assert found[-1][3] == planted
    # charts: the denial is highlighted in both
    assert browser.eval("document.querySelectorAll('#aud-chart-time rect[data-denied]').length")
    assert browser.eval("document.querySelectorAll('#aud-chart-purpose rect[data-denied]').length")
    # every row's proof, checked in the page against the chain
    browser.click("#aud-check-page")
    browser.call(
        "waitForFunction",
        expr="() => [...document.querySelectorAll('#aud-table tbody td[data-proof]')].length"
        " === document.querySelectorAll('#aud-table tbody tr').length",
    )
    proofs = browser.eval(
        "[...document.querySelectorAll('#aud-table tbody td[data-proof]')]"
        ".map(c => c.dataset.proof)"
    )
    assert set(proofs) == {"true"}, proofs
    browser.screenshot(screenshots / "auditor-trace.png")
    csv = browser.call("download", selector="#aud-csv")
    assert csv["name"] == "creditchain-audit-trace.csv"
    lines = csv["text"].strip().splitlines()
    assert lines[0].startswith("log_index,decided_at,requester,requester_kind")
    assert len(lines) == 1 + int(browser.attr("#aud-out", "data-count") or 0)
    assert any(
        bank in line and "financial_institution" in line and ",deny," in line for line in lines
    )
    # the trace was asked of the gateway; no check was
    asked = [r["url"] for r in browser.requests() if r["url"].startswith(run.url)]
    assert asked == [run.url + "/v1/audit/trace"], asked
    # audit verify in the page: every checkpoint on chain, consistency checked here
    browser.click("#aud-verify")
    browser.call(
        "waitForFunction",
        expr="() => document.querySelector('#aud-verify-out').dataset.result",
        timeout=120000,
    )
    assert browser.attr("#aud-verify-out", "data-result") == "ok", browser.text("#aud-verify-out")
    items = browser.eval("[...document.querySelectorAll('#aud-verify-list li')].length")
    assert items >= 4
    browser.screenshot(screenshots / "auditor-verify.png")


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
