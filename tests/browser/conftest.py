"""Browser tests: a real `creditchain serve --dev` gateway on anvil, 50 records submitted and
anchored, and a real headless Chromium (Debian's) driven by npm playwright-core."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway._devnet import load_consortium
from gateway.client import DepartmentClient
from gateway.domain.identifiers import make_uscc
from node import Deployment, free_port
from tests.browser._browser import ROOT, Browser, available
from tests.samples import sample_fields

CLI = str(Path(sys.executable).parent / "creditchain")
SCREENSHOTS = Path(os.environ.get("CREDITCHAIN_UI_SCREENSHOTS", ROOT / "build" / "ui-screenshots"))

# department slug -> (category, single submissions, batch sizes): 50 records in all
PLAN: dict[str, tuple[str, int, tuple[int, ...]]] = {
    "tax": ("tax_credit_rating", 4, (7,)),
    "market": ("admin_penalty", 3, (13,)),
    "water": ("utility_arrears", 3, (20,)),
}


def _record(org_id: str, category: str, n: int) -> dict[str, Any]:
    fields = sample_fields(category)
    if category == "tax_credit_rating":
        fields["score"] = 60 + n % 40
    elif category == "admin_penalty":
        fields["fine_amount_fen"] = 100_000 + n
        fields["decision_no"] = f"榆市监罚〔2026〕{n}号"
    else:
        fields["arrears_amount_fen"] = 10_000 + n
        fields["account_no"] = f"61{n:08d}"
    return {
        "catalog": "2026.1",
        "category": category,
        "org": org_id,
        "subject": {"kind": "uscc", "id": make_uscc(f"9161080{n % 10}MA{n:07d}")},
        "fields": fields,
    }


@dataclass
class Run:
    """The gateway of the run, its chain, and the bundles of its 50 records."""

    url: str
    rpc: str
    chain_port: int
    data_dir: Path
    manifest: Path
    proc: subprocess.Popen[bytes]
    log: Path
    bundles: list[dict[str, Any]] = field(default_factory=list)
    public: list[dict[str, Any]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the gateway (and with it the anvil it started, which saves its state)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    why = available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run: {why}")
        pytest.skip(why)
    b = Browser()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nUI screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("ui-run")
    data = tmp / "data"
    port, chain_port = free_port(), free_port()
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(CLI, "serve", "--dev", "--data-dir", str(data), "--port", str(port)),
                *("--chain-port", str(chain_port), "--anchor-every", "20"),
                *("--max-merge-delay", "5"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    r = Run(
        url=f"http://127.0.0.1:{port}",
        rpc=f"http://127.0.0.1:{chain_port}",
        chain_port=chain_port,
        data_dir=data,
        manifest=data / "chain" / "deployment.json",
        proc=proc,
        log=log,
    )
    try:
        http = httpx.Client(timeout=60)
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the gateway exited with {proc.returncode}:\n{r.log_tail()}")
            try:
                if http.get(r.url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the gateway did not come up:\n{r.log_tail()}")
            time.sleep(0.25)
        orgs = load_consortium(data)
        deployment = Deployment.load(r.manifest)
        n = 0
        receipts: list[tuple[str, dict[str, Any]]] = []
        for slug, (category, singles, batches) in PLAN.items():
            client = DepartmentClient(
                r.url,
                orgs[slug].account(),
                bytes.fromhex(orgs[slug].org_id[2:]),
                chain_id=deployment.chain_id,
                membership=deployment.address("Membership"),
            )
            with client:
                for size in [1] * singles + list(batches):
                    records = [_record(orgs[slug].org_id, category, n + i) for i in range(size)]
                    n += size
                    receipts += [(slug, rc) for rc in client.submit(records)]
        assert len(receipts) == 50
        deadline = time.monotonic() + 120
        while True:
            cp = http.get(r.url + "/v1/logs/records/checkpoint").json()
            if cp["anchored"] and cp["anchored"]["size"] == cp["size"] == 50:
                break
            assert proc.poll() is None, r.log_tail()
            assert time.monotonic() < deadline, f"not anchored in time: {cp}"
            time.sleep(0.5)
        for slug in PLAN:
            client = DepartmentClient(
                r.url,
                orgs[slug].account(),
                bytes.fromhex(orgs[slug].org_id[2:]),
                chain_id=deployment.chain_id,
                membership=deployment.address("Membership"),
            )
            with client:
                mine = [rc for s, rc in receipts if s == slug]
                r.bundles += [client.proof(rc["leaf_hash"]) for rc in mine]
                r.public.append(client.proof(mine[0]["leaf_hash"], opening=False))
        http.close()
        yield r
    finally:
        r.stop()
