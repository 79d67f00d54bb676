"""End to end over HTTP, as a city runs it: `creditchain serve --dev` (a real gateway process with
its own anvil), three departments submit 1,000 records (single and batch submissions, in
parallel), the worker anchors them, and every record's bundle verifies offline with nothing but
the chain's RPC endpoint and the deployment manifest — no gateway — in Python and with the
`creditchain verify` command.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest

from gateway._devnet import load_consortium
from gateway.client import DepartmentClient
from gateway.domain.identifiers import make_resident_id, make_uscc
from gateway.verify import (
    Anchor,
    ChainView,
    NodeChainView,
    RecordLifecycle,
    VerificationResult,
    trust_root_from,
    verify_bundle,
)
from node import Deployment, connect, free_port
from tests.samples import sample_fields

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

T = TypeVar("T")

CLI = str(Path(sys.executable).parent / "creditchain")
CATALOG = "2026.1"
ALL_CHECKS = (
    "trust-root",
    "record-commitment",
    "department-signature",
    "leaf-hash",
    "inclusion",
    "checkpoint-on-chain",
    "receipt-signature",
    "status",
)
ANCHOR_EVERY = 400  # several anchors while records arrive: on-chain consistency proofs too
MAX_MERGE_DELAY = 10  # the tail (< ANCHOR_EVERY entries) is anchored after 5 s

# department slug -> (category, single submissions, batch sizes): 1,000 records in all
PLAN: dict[str, tuple[str, int, tuple[int, ...]]] = {
    "tax": ("tax_credit_rating", 20, (150, 163)),
    "market": ("admin_penalty", 20, (99, 214)),
    "water": ("utility_arrears", 20, (314,)),
}
TOTAL = sum(singles + sum(batches) for _, singles, batches in PLAN.values())


@dataclass
class Submitted:
    slug: str
    record: dict[str, Any]
    receipt: dict[str, Any]
    batch: int  # records in its submission


@dataclass
class Gateway:
    url: str
    rpc: str
    data_dir: Path
    manifest: Path
    proc: subprocess.Popen[bytes]
    log: Path
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60.0))

    def get(self, path: str) -> dict[str, Any]:
        response = self.http.get(self.url + path)
        response.raise_for_status()
        doc: dict[str, Any] = response.json()
        return doc


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except OSError:
        return ""


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    data = tmp_path / "data"
    port, chain_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                CLI,
                "serve",
                "--dev",
                "--data-dir",
                str(data),
                "--port",
                str(port),
                "--chain-port",
                str(chain_port),
                "--anchor-every",
                str(ANCHOR_EVERY),
                "--max-merge-delay",
                str(MAX_MERGE_DELAY),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    gw = Gateway(
        url=f"http://127.0.0.1:{port}",
        rpc=f"http://127.0.0.1:{chain_port}",
        data_dir=data,
        manifest=data / "chain" / "deployment.json",
        proc=proc,
        log=log,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the gateway exited with {proc.returncode}:\n{_log_tail(log)}")
            try:
                if gw.http.get(gw.url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the gateway did not come up:\n{_log_tail(log)}")
            time.sleep(0.25)
        yield gw
    finally:
        gw.http.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _record(org_id: str, category: str, n: int) -> dict[str, Any]:
    """A distinct, valid record: subject and one field vary with ``n``."""
    fields = sample_fields(category)
    if category == "tax_credit_rating":
        fields["score"] = 60 + n % 40
        fields["rating"] = "ABCDM"[n % 5]
    elif category == "admin_penalty":
        fields["fine_amount_fen"] = 100_000 + n
        fields["decision_no"] = f"榆市监罚〔2026〕{n}号"
    else:
        fields["arrears_amount_fen"] = 10_000 + n
        fields["account_no"] = f"61{n:08d}"
    if n % 4 == 3 and category != "admin_penalty":  # some natural persons too
        subject = {
            "kind": "resident_id",
            "id": make_resident_id(f"61080219{80 + n % 20}0101{n % 1000:03d}"),
        }
    else:
        subject = {"kind": "uscc", "id": make_uscc(f"9161080{n % 10}MA{n:07d}")}
    return {
        "catalog": CATALOG,
        "category": category,
        "org": org_id,
        "subject": subject,
        "fields": fields,
    }


def _results_equal_checks(result: VerificationResult, *, opened: bool) -> None:
    if opened:
        assert result.record_included
        assert result.checks == ALL_CHECKS
        assert result.skipped == ()
    else:
        assert not result.record_included
        assert result.checks == tuple(c for c in ALL_CHECKS if c != "record-commitment")
        assert result.skipped == ("record-commitment",)
    assert result.status == "active"


class MemoChainView:
    """A :class:`NodeChainView` whose answers are reused for identical queries.

    Within this test nothing changes on chain once everything is anchored (no key rotation,
    no new checkpoints), so the answer to ``keys_at(org, t)`` or ``checkpoint_root(log, n)``
    is the same every time it is asked; only the number of RPC round trips shrinks. A sample
    of bundles is verified with the plain, unmemoized view as well.
    """

    def __init__(self, inner: NodeChainView) -> None:
        self.inner = inner
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def _get(self, key: tuple[Any, ...], fn: Callable[[], T]) -> T:
        with self._lock:
            if key in self._cache:
                return cast(T, self._cache[key])
        value = fn()
        with self._lock:
            self._cache[key] = value
        return value

    def keys_at(self, org_id: bytes, timestamp: int) -> str | None:
        key = ("keys_at", org_id, timestamp)
        return self._get(key, lambda: self.inner.keys_at(org_id, timestamp))

    def checkpoint_root(self, log_id: bytes, size: int) -> bytes | None:
        key = ("root", log_id, size)
        return self._get(key, lambda: self.inner.checkpoint_root(log_id, size))

    def anchor(self, log_id: bytes, size: int) -> Anchor | None:
        key = ("anchor", log_id, size)
        return self._get(key, lambda: self.inner.anchor(log_id, size))

    def record_status(self, record_id: bytes) -> RecordLifecycle:
        return self.inner.record_status(record_id)


def _cli_verify(path: Path, rpc: str, manifest: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "verify", str(path), "--rpc", rpc, "--manifest", str(manifest), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CREDITCHAIN_DATA_DIR": str(path.parent / "no-data-dir")},
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def test_thousand_records_submitted_anchored_and_verified_offline(
    gateway: Gateway, tmp_path: Path
) -> None:
    started = time.monotonic()
    orgs = load_consortium(gateway.data_dir)
    deployment = Deployment.load(gateway.manifest)
    clients = {
        slug: DepartmentClient(
            gateway.url,
            orgs[slug].account(),
            bytes.fromhex(orgs[slug].org_id[2:]),
            chain_id=deployment.chain_id,
            membership=deployment.address("Membership"),
        )
        for slug in PLAN
    }

    # -- 1. three departments submit 1,000 records over HTTP, in parallel ---------------------
    def submit_all(slug: str, first: int) -> list[Submitted]:
        category, singles, batches = PLAN[slug]
        client, org_id = clients[slug], orgs[slug].org_id
        out: list[Submitted] = []
        n = first
        sizes: list[int] = []  # singles and batches interleaved
        for i, size in enumerate(batches):
            sizes += [1] * (singles // len(batches) + (i < singles % len(batches))) + [size]
        assert sum(sizes) == singles + sum(batches)
        for size in sizes:
            records = [_record(org_id, category, n + i) for i in range(size)]
            n += size
            receipts = client.submit(records)
            assert len(receipts) == size
            out += [Submitted(slug, r, rc, size) for r, rc in zip(records, receipts, strict=True)]
        return out

    with ThreadPoolExecutor(len(PLAN)) as pool:
        futures = [pool.submit(submit_all, slug, 1 + 10_000 * i) for i, slug in enumerate(PLAN)]
        submitted = [s for f in futures for s in f.result()]
    submit_seconds = time.monotonic() - started
    assert len(submitted) == TOTAL == 1000
    assert sorted(s.receipt["index"] for s in submitted) == list(range(TOTAL))
    assert len({s.receipt["leaf_hash"] for s in submitted}) == TOTAL
    assert {s.batch for s in submitted} >= {1, 99, 314}

    # -- 2. the worker anchors everything --------------------------------------------------------
    deadline = time.monotonic() + 120
    while True:
        cp = gateway.get("/v1/logs/records/checkpoint")
        if cp["size"] == TOTAL and cp["anchored"] and cp["anchored"]["size"] == cp["size"]:
            break
        assert gateway.proc.poll() is None, _log_tail(gateway.log)
        assert time.monotonic() < deadline, f"not anchored in time: {cp}"
        time.sleep(0.5)
    assert cp["anchored"]["root"] == cp["root"]
    anchored_at = time.monotonic()

    # -- 3. every record's full bundle, fetched by its department (signed ProofRequest) ---------
    by_slug: dict[str, list[Submitted]] = {slug: [] for slug in PLAN}
    for s in submitted:
        by_slug[s.slug].append(s)

    def fetch(slug: str) -> list[tuple[Submitted, dict[str, Any]]]:
        return [(s, clients[slug].proof(s.receipt["leaf_hash"])) for s in by_slug[slug]]

    with ThreadPoolExecutor(len(PLAN)) as pool:
        bundles = [b for f in [pool.submit(fetch, slug) for slug in PLAN] for b in f.result()]
    public = [
        (s, clients[s.slug].proof(s.receipt["leaf_hash"], opening=False))
        for s in (submitted[0], submitted[TOTAL // 2], submitted[-1])
    ]
    for client in clients.values():
        client.close()
    fetched_at = time.monotonic()

    # -- 4. offline with the `creditchain verify` command (runs while Python verifies below) ---
    # Only the RPC endpoint and a copy of the deployment manifest: no gateway, no data dir.
    manifest = tmp_path / "trusted-manifest.json"
    shutil.copyfile(gateway.manifest, manifest)
    single = next(b for s, b in bundles if s.batch == 1)
    batch = next(b for s, b in bundles if s.batch == max(x.batch for x in submitted))
    tampered_record = copy.deepcopy(batch)
    assert tampered_record["record"]["category"] == "utility_arrears"
    tampered_record["record"]["fields"]["arrears_amount_fen"] += 1  # still schema-valid
    tampered_path = copy.deepcopy(single)
    tampered_path["log"]["inclusion"][0] = "00" * 32
    files = {
        "single": single,
        "batch": batch,
        "public": public[0][1],
        "tampered-record": tampered_record,
        "tampered-inclusion": tampered_path,
    }
    procs: dict[str, subprocess.Popen[str]] = {}
    for name, bundle in files.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle, ensure_ascii=False, indent=2), encoding="utf-8")
        procs[name] = _cli_verify(path, gateway.rpc, manifest)
    try:
        # -- 5. offline, in Python: only the RPC endpoint and the copy of the manifest ---------
        trusted_deployment = Deployment.load(manifest)
        chain = connect(gateway.rpc)
        try:
            trusted_deployment.check(chain)
            plain = NodeChainView(chain, trusted_deployment)
            memo = MemoChainView(plain)
            trusted = trust_root_from(trusted_deployment)
            assert isinstance(memo, ChainView)
            log_id = bytes.fromhex(cp["log_id"][2:])
            checkpoints = trusted_deployment.checkpoint_log(chain).checkpoints(log_id)
            assert checkpoints[-1].size == TOTAL
            assert checkpoints[-1].root == bytes.fromhex(cp["root"])

            # a sample (every department; singles and batches) against the plain view ...
            sample = [b for i, b in enumerate(bundles) if i % 50 == 0]
            for _s, bundle in sample:
                _results_equal_checks(verify_bundle(bundle, plain, trusted=trusted), opened=True)

            # ... and every one of the 1,000
            signers = {slug: orgs[slug].address for slug in PLAN}
            gateway_signer = orgs["gateway"].address
            for s, bundle in bundles:
                assert bundle["record"] == s.record
                assert bundle["receipt"] == s.receipt
                result = verify_bundle(bundle, memo, trusted=trusted)
                _results_equal_checks(result, opened=True)
                assert result.record_id == s.receipt["leaf_hash"]
                assert result.org == orgs[s.slug].org_id
                assert result.category == PLAN[s.slug][0]
                assert result.department_signer == signers[s.slug]
                assert result.gateway_signer == gateway_signer
                assert result.index == s.receipt["index"]
                assert result.checkpoint_size == TOTAL
                assert result.anchor_block == cp["anchored"]["block"]
                assert bundle["chain"]["anchor_tx"] == cp["anchored"]["tx"]
                assert (bundle["leaf"]["sig"]["type"] == "CreditRecord") == (s.batch == 1)

            # public, commitment-only bundles: everything but the record itself
            for s, bundle in public:
                assert "record" not in bundle
                assert "salt" not in bundle
                result = verify_bundle(bundle, plain, trusted=trusted)
                _results_equal_checks(result, opened=False)
                assert result.record_id == s.receipt["leaf_hash"]
        finally:
            chain.close()
        verified_at = time.monotonic()

        outcomes = {name: _finish(p) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
    cli_done_at = time.monotonic()
    for name in ("single", "batch", "public"):
        code, out, err = outcomes[name]
        assert code == 0, (name, out, err)
        doc = json.loads(out)
        assert doc["valid"] is True
        assert doc["record_id"] == files[name]["status"]["record_id"]
        assert doc["record_included"] is (name != "public")
    for name, check in (
        ("tampered-record", "record-commitment"),
        ("tampered-inclusion", "inclusion"),
    ):
        code, out, err = outcomes[name]
        assert code == 1, (name, out, err)
        doc = json.loads(out)
        assert doc["valid"] is False
        assert doc["check"] == check
        assert check not in doc["passed"]

    assert gateway.proc.poll() is None, _log_tail(gateway.log)
    print(
        f"\nsubmit {submit_seconds:.1f} s, anchored +{anchored_at - started - submit_seconds:.1f}"
        f" s, fetch {fetched_at - anchored_at:.1f} s, verify {verified_at - fetched_at:.1f} s"
        f" (+{cli_done_at - verified_at:.1f} s waiting for the CLI); {len(checkpoints)}"
        " checkpoints anchored"
    )
