"""Assemble a running gateway from :class:`Settings`: keys, chain, store, service, anchoring.

Used by ``creditchain serve`` and, in-process, by the integration tests.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from gateway import _receipt_mark as receipt_mark
from gateway._anchor import Anchorer
from gateway._config import Settings
from gateway._devnet import DevOrg, bootstrap, load_consortium
from gateway._federation import Federation
from gateway._keys import GatewaySecrets, load_secrets
from gateway._lifecycle import Lifecycle, OfficeKey, make_office_key
from gateway._reads import Reader
from gateway._service import LOG_NAMES, Gateway
from gateway.api import create_app
from gateway.domain.catalog import load_catalog
from gateway.domain.records import log_id
from gateway.errors import ConfigurationError
from gateway.store import Kek as KekRow
from gateway.store import checkpoint_wal, make_engine, session_scope, upgrade
from node import Chain, ContractRevert, Deployment, LocalChain, OrgKind, connect
from node._accounts import private_dir
from node._local import ChainPaths, deployer_account

log = logging.getLogger("creditchain.runtime")


def _gateway_org(settings: Settings) -> bytes:
    path = settings.data_dir / "gateway.json"
    try:
        org = json.loads(path.read_text())["org_id"]
        return bytes.fromhex(str(org).removeprefix("0x"))
    except FileNotFoundError:
        raise ConfigurationError(
            f'missing {path}: it names this gateway\'s registered org id ({{"org_id": "0x…"}})'
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path} is malformed: {exc}") from exc


@dataclass
class Runtime:
    settings: Settings
    chain: Chain
    deployment: Deployment
    secrets: GatewaySecrets
    engine: Engine
    gateway: Gateway
    anchorer: Anchorer
    app: FastAPI
    reader: Reader
    lifecycle: Lifecycle
    local_chain: LocalChain | None = None
    consortium: dict[str, DevOrg] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lifecycle_thread: threading.Thread | None = None
    _checkpoint_thread: threading.Thread | None = None
    federation: Federation | None = None

    def start_anchoring(self) -> None:
        """Start the background workers: the anchoring worker, and the lifecycle worker
        (relaying status transitions on chain, retention erasure)."""
        self._thread = threading.Thread(
            target=self.anchorer.run, args=(self._stop,), name="anchorer", daemon=True
        )
        self._thread.start()
        self._lifecycle_thread = threading.Thread(
            target=self.lifecycle.run, args=(self._stop,), name="lifecycle", daemon=True
        )
        self._lifecycle_thread.start()
        if self.engine.dialect.name == "sqlite":
            self._checkpoint_thread = threading.Thread(
                target=self._checkpoints, name="wal-checkpoint", daemon=True
            )
            self._checkpoint_thread.start()

    def _checkpoints(self) -> None:
        """Keep SQLite's WAL short off the request path (:func:`gateway.store.checkpoint_wal`)."""
        while not self._stop.wait(1.0):
            try:
                checkpoint_wal(self.engine)
            except Exception as exc:  # noqa: BLE001 - a busy or failed pass: the next one
                log.debug("WAL checkpoint pass failed: %s", exc)

    def close(self) -> None:
        self._stop.set()
        for thread in (self._thread, self._lifecycle_thread, self._checkpoint_thread):
            if thread is not None:
                thread.join(timeout=30)
        if self.federation is not None:
            self.federation.http.close()
        self.engine.dispose()
        self.secrets.keks.release()
        if self.gateway.receipt_mark is not None:
            self.gateway.receipt_mark.close()
        if self.local_chain is not None:
            self.local_chain.stop()


def build(
    settings: Settings,
    *,
    chain: Chain | None = None,
    deployment: Deployment | None = None,
    registrar: LocalAccount | None = None,
    clock: Callable[[], float] = time.time,
    attach: bool = False,
) -> Runtime:
    """Everything but the HTTP server. ``chain``/``deployment``/``registrar`` let tests bring
    their own chain (embedded or anvil) instead of the data dir's local one; ``clock`` lets
    them follow the embedded chain's block time, which runs ahead of the wall clock.

    ``attach``: an extra HTTP worker of a gateway whose main process is running — it joins
    that process's chain (``settings.rpc_url``), database and keys and does none of the
    start-up work (local chain, dev bootstrap, migrations, chain checks), and it sends no
    transactions: anchoring and relaying stay with the main process."""
    private_dir(settings.data_dir)
    private_dir(settings.keys_dir)
    secrets = load_secrets(settings.keys_dir, dev=settings.dev)
    local: LocalChain | None = None
    if attach:
        return _attached(settings, secrets, clock)
    try:
        if chain is None:
            if settings.rpc_url:
                chain = connect(settings.rpc_url)
            else:
                local = LocalChain(settings.data_dir, port=settings.chain_port).start()
                chain = local.chain
                deployment = local.deployment
        assert chain is not None
        if deployment is None:
            deployment = Deployment.load(settings.manifest_path)
        deployment.check(chain)

        consortium: dict[str, DevOrg] = {}
        if settings.dev:
            given = registrar
            consortium = bootstrap(
                settings.data_dir,
                chain,
                deployment,
                (lambda: given)
                if given is not None
                else (lambda: deployer_account(ChainPaths(settings.data_dir))),
                secrets,
            )
            gateway_org = bytes.fromhex(consortium["gateway"].org_id[2:])
            gw_file = settings.data_dir / "gateway.json"
            if not gw_file.exists():
                gw_file.write_text(json.dumps({"org_id": consortium["gateway"].org_id}) + "\n")
        else:
            gateway_org = _gateway_org(settings)
        _check_registration(chain, deployment, secrets, gateway_org)

        engine = make_engine(settings.db_url)
        upgrade(engine)
        _record_keks(engine, secrets, clock)
        runtime = _assemble(
            settings, chain, deployment, secrets, engine, gateway_org, consortium, clock, local
        )
        runtime.anchorer.check_against_chain()
        receipt_mark.install(runtime.gateway, settings.data_dir, check=True)
    except BaseException:
        if local is not None:
            local.stop()
        raise
    return runtime


def _attached(settings: Settings, secrets: GatewaySecrets, clock: Callable[[], float]) -> Runtime:
    if not settings.rpc_url:
        raise ConfigurationError("an attached worker needs the main process's chain RPC URL")
    chain = connect(settings.rpc_url)
    consortium = load_consortium(settings.data_dir) if settings.dev else {}
    runtime = _assemble(
        settings,
        chain,
        Deployment.load(settings.manifest_path),
        secrets,
        make_engine(settings.db_url),
        _gateway_org(settings),
        consortium,
        clock,
        None,
        relay_inline=False,
    )
    receipt_mark.install(runtime.gateway, settings.data_dir, check=False)
    return runtime


def _assemble(
    settings: Settings,
    chain: Chain,
    deployment: Deployment,
    secrets: GatewaySecrets,
    engine: Engine,
    gateway_org: bytes,
    consortium: dict[str, DevOrg],
    clock: Callable[[], float],
    local: LocalChain | None,
    *,
    relay_inline: bool = True,
) -> Runtime:
    """The service objects and the app over a ready chain and database. An attached worker's
    anchorer is never run: the object answers "anchored yet?" questions."""
    gateway = Gateway(
        engine=engine,
        chain=chain,
        deployment=deployment,
        secrets=secrets,
        gateway_org=gateway_org,
        catalog=load_catalog(),
        max_merge_delay=settings.anchor.max_merge_delay,
        replay_window=settings.replay_window,
        max_batch=settings.max_batch,
        org_cache_seconds=settings.org_cache_seconds,
        clock=clock,
    )
    anchorer = Anchorer(
        engine,
        chain,
        deployment.checkpoint_log(chain),
        secrets.operator,
        dict(gateway.log_ids),
        settings.anchor,
        clock=clock,
    )
    reader = Reader(gateway, deployment.grants(chain), settings.anchor.confirmations)
    lifecycle = Lifecycle(
        gateway,
        deployment.grants(chain),
        deployment.record_status(chain),
        office=_office(consortium),
        relay_inline=relay_inline,
    )
    federation = (
        Federation(reader, deployment.directory(chain))
        if "Directory" in deployment.contracts
        else None
    )
    app = create_app(
        gateway,
        reader,
        lifecycle,
        max_body_bytes=settings.max_body_bytes,
        federation=federation,
    )
    return Runtime(
        settings,
        chain,
        deployment,
        secrets,
        engine,
        gateway,
        anchorer,
        app,
        reader,
        lifecycle,
        local,
        consortium,
        federation=federation,
    )


def _office(consortium: dict[str, DevOrg]) -> OfficeKey | None:
    """The dev consortium's credit-office key, for automatic lifecycle steps (dev only)."""
    if "credit-office" not in consortium:
        return None
    office = consortium["credit-office"]
    return make_office_key(office.org_id, office.account())


def _record_keks(engine: Engine, secrets: GatewaySecrets, clock: Callable[[], float]) -> None:
    """Key-encryption-key metadata (ids and dates, never key material) in the database."""
    with session_scope(engine) as s:
        for kek_id in secrets.keyring:
            if s.get(KekRow, kek_id) is None:
                s.add(KekRow(kek_id=kek_id, created_at=int(clock())))


def _check_registration(
    chain: Chain, deployment: Deployment, secrets: GatewaySecrets, gateway_org: bytes
) -> None:
    """The chain must know this gateway: its org (kind gateway, our signer) and its logs."""
    membership = deployment.membership(chain)
    try:
        org = membership.org(gateway_org)
    except ContractRevert as exc:
        raise ConfigurationError(
            f"gateway org 0x{gateway_org.hex()} is not registered on chain {chain.chain_id}"
        ) from exc
    if org.kind != OrgKind.GATEWAY:
        raise ConfigurationError(f"org 0x{gateway_org.hex()} is a {org.kind.name}, not a gateway")
    signer = membership.current_keys(gateway_org).signer
    if signer.lower() != secrets.signer.address.lower():
        raise ConfigurationError(
            f"the gateway org's registered signer is {signer}, but this gateway's key is "
            f"{secrets.signer.address}: rotate the org's keys or use the right keystore"
        )
    log_client = deployment.checkpoint_log(chain)
    for name in LOG_NAMES:
        try:
            info = log_client.contract.functions.logInfo(log_id(gateway_org, name)).call()
        except Exception as exc:
            raise ConfigurationError(
                f"the {name} log of this gateway is not registered on chain: {exc}"
            ) from exc
        if str(info[0]).lower() != secrets.operator.address.lower():
            raise ConfigurationError(
                f"the {name} log's operator is {info[0]}, not this gateway's anchoring key "
                f"{secrets.operator.address}"
            )
