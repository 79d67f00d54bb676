"""A running gateway per test: embedded chain (eth-tester), a real database (SQLite, and
PostgreSQL when CREDITCHAIN_TEST_PG_URL is set — see tests/store/conftest.py), the real
FastAPI app served by uvicorn on a loopback port, and real HTTP clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount

from gateway._config import AnchorPolicy, Settings
from gateway._runtime import Runtime, build
from gateway.client import DepartmentClient
from gateway.domain.identifiers import make_resident_id, make_uscc
from node import Chain, deploy_all, embedded, free_port
from tests.samples import sample_fields
from tests.store.conftest import db_url  # noqa: F401 - the parametrized database fixture

CATEGORY_OF = {
    "tax": "tax_credit_rating",
    "market": "admin_penalty",
    "water": "utility_arrears",
    "court": "judgment_defaulter",
}


def chain_clock(chain: Chain) -> float:
    """eth-tester's block time runs ahead of the wall clock (1 s per block): follow it."""
    return max(time.time(), float(chain.w3.eth.get_block("latest")["timestamp"]))


@dataclass
class Env:
    runtime: Runtime
    url: str
    deployer: LocalAccount
    http: httpx.Client
    _serial: int = 0

    @property
    def chain(self) -> Chain:
        return self.runtime.chain

    def client(self, slug: str, account: LocalAccount | None = None) -> DepartmentClient:
        org = self.runtime.consortium[slug]
        d = self.runtime.deployment
        return DepartmentClient(
            self.url,
            account or org.account(),
            bytes.fromhex(org.org_id[2:]),
            chain_id=d.chain_id,
            membership=d.address("Membership"),
            http=self.http,
            clock=lambda: chain_clock(self.chain),
        )

    def record(
        self, slug: str, category: str | None = None, *, person: bool = False, **fields: Any
    ) -> dict[str, Any]:
        """A valid, distinct record of ``slug``'s category."""
        self._serial += 1
        category = category or CATEGORY_OF[slug]
        f = sample_fields(category)
        f.update(fields)
        body = f"{self._serial:09d}"
        subject = (
            {
                "kind": "resident_id",
                "id": make_resident_id(f"61080219900101{self._serial % 1000:03d}"),
            }
            if person
            else {"kind": "uscc", "id": make_uscc(f"91610800MA{body[-7:]}")}
        )
        if category == "tax_credit_rating":
            f["score"] = (self._serial % 100) + 0.5
        return {
            "catalog": self.runtime.gateway.catalog.version,
            "category": category,
            "org": self.runtime.consortium[slug].org_id,
            "subject": subject,
            "fields": f,
        }

    def counts(self) -> dict[str, int]:
        """Rows that a refused request must not have created."""
        import sqlalchemy as sa

        with self.runtime.engine.connect() as conn:
            return {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("record", "submission", "log_entry", "log_node")
            }

    def anchor(self) -> None:
        self.runtime.anchorer.anchor_now()


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # running in a thread
        pass


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:  # noqa: F811
    """A running gateway on each database backend."""
    yield from _running(db_url, tmp_path)


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    """A running gateway on SQLite only (for the long matrices)."""
    yield from _running(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path)


def deployed_runtime(chain: Chain, settings: Settings, network: str) -> Env:
    """A gateway runtime (no HTTP server: ``url`` unused) on ``chain``: a fresh deployer, every
    contract deployed, the dev consortium registered, the clock following the chain's."""
    deployer: LocalAccount = Account.create()
    chain.fund(deployer.address, 10**22)
    deployment = deploy_all(
        chain,
        deployer,
        network=network,
        log_admins=(deployer.address,),
        registrars=(deployer.address,),
    )
    runtime = build(
        settings,
        chain=chain,
        deployment=deployment,
        registrar=deployer,
        clock=lambda: chain_clock(chain),
    )
    return Env(runtime, "http://unused", deployer, None)  # type: ignore[arg-type]


def _running(db_url: str, tmp_path: Path) -> Iterator[Env]:  # noqa: F811
    settings = Settings(
        data_dir=tmp_path / "gw",
        dev=True,
        database_url=db_url,
        anchor=AnchorPolicy(max_merge_delay=60),
        max_body_bytes=2 * 1024 * 1024,
        max_batch=200,
    )
    base = deployed_runtime(embedded(), settings, "test")
    runtime, deployer = base.runtime, base.deployer
    runtime.reader.block_cache_seconds = 0  # tests mine and read in the same instant
    port = free_port()
    server = _Server(
        uvicorn.Config(
            runtime.app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=75
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    http = httpx.Client(timeout=30)
    try:
        yield Env(runtime, f"http://127.0.0.1:{port}", deployer, http)
    finally:
        http.close()
        server.should_exit = True
        thread.join(10)
        runtime.close()
