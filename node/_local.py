"""A local development chain kept under a data directory: anvil + state + manifest + deployer.

Layout of ``<data_dir>/chain``::

    anvil-state.json   anvil's state (loaded at start, dumped every second and on stop)
    deployment.json    the deployment manifest (chain id, addresses, deploy block, artifact hashes)
    node.json          the running node's URL and pid (removed on a clean stop)
    anvil.log          anvil's output

and ``<data_dir>/keys/deployer.json``, the deployer's encrypted keystore. Its password comes
from ``CREDITCHAIN_KEYSTORE_PASSWORD``, or for this local development chain, from a random
password generated once into ``keys/deployer.password`` (mode 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from node._accounts import create_keystore, load_keystore, private_dir
from node._chain import Chain
from node._contracts import CITIES
from node._deploy import Deployment, deploy_all, ensure_record_status
from node._providers import AnvilNode, connect
from node.errors import ChainUnavailable, KeystoreError, ManifestError

PASSWORD_ENV = "CREDITCHAIN_KEYSTORE_PASSWORD"  # noqa: S105 - a variable name
DEV_FUNDING_WEI = 10**24


@dataclass(frozen=True)
class ChainPaths:
    data_dir: Path

    @property
    def chain_dir(self) -> Path:
        return self.data_dir / "chain"

    @property
    def state_file(self) -> Path:
        return self.chain_dir / "anvil-state.json"

    @property
    def manifest(self) -> Path:
        return self.chain_dir / "deployment.json"

    @property
    def node_file(self) -> Path:
        return self.chain_dir / "node.json"

    @property
    def log_file(self) -> Path:
        return self.chain_dir / "anvil.log"

    @property
    def deployer_keystore(self) -> Path:
        return self.data_dir / "keys" / "deployer.json"

    @property
    def deployer_password_file(self) -> Path:
        return self.data_dir / "keys" / "deployer.password"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_node(paths: ChainPaths) -> dict[str, Any] | None:
    """The recorded node of this data dir if its process is still alive."""
    try:
        info: dict[str, Any] = json.loads(paths.node_file.read_text())
    except (OSError, ValueError):
        return None
    if not _pid_alive(int(info.get("pid", 0))):
        return None
    return info


def deployer_password(paths: ChainPaths, *, create: bool) -> str:
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    pw_file = paths.deployer_password_file
    if pw_file.exists():
        return pw_file.read_text().strip()
    if not create:
        raise KeystoreError(f"set {PASSWORD_ENV}: no password for {paths.deployer_keystore}")
    private_dir(pw_file.parent)
    fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    password = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


def deployer_account(paths: ChainPaths) -> LocalAccount:
    if paths.deployer_keystore.exists():
        return load_keystore(paths.deployer_keystore, deployer_password(paths, create=False))
    return create_keystore(paths.deployer_keystore, deployer_password(paths, create=True))


class LocalChain:
    """Start (and on first start, deploy to) the data dir's anvil node."""

    def __init__(self, data_dir: Path, *, port: int | None = None, chain_id: int = 31337) -> None:
        self.paths = ChainPaths(data_dir)
        self.port = port
        self.chain_id = chain_id
        self.node: AnvilNode | None = None
        self.chain: Chain | None = None
        self.deployment: Deployment | None = None
        self.deployed_now = False

    def start(self) -> LocalChain:
        paths = self.paths
        other = running_node(paths)
        if other is not None:
            raise ChainUnavailable(
                f"a chain for {paths.data_dir} is running already at {other['url']} "
                f"(pid {other['pid']})"
            )
        if paths.manifest.exists() and not paths.state_file.exists():
            raise ManifestError(
                f"{paths.manifest} exists but the chain state {paths.state_file} is missing: "
                "refusing to deploy a second time over a lost chain"
            )
        private_dir(paths.data_dir)
        private_dir(paths.chain_dir)
        if paths.state_file.exists():
            paths.state_file.chmod(0o600)
        self.node = AnvilNode(
            state_file=paths.state_file,
            port=self.port,
            chain_id=self.chain_id,
            log_file=paths.log_file,
        ).start()
        try:
            self.chain = self.node.chain()
            if paths.manifest.exists():
                self.deployment = Deployment.load(paths.manifest)
                self.deployment.check(self.chain)
                if "RecordStatus" not in self.deployment.contracts:
                    # a data dir from before the lifecycle contract: add it once
                    deployer = deployer_account(paths)
                    self.deployment = ensure_record_status(self.chain, deployer, self.deployment)
                    self.deployment.save(paths.manifest)
            else:
                deployer = deployer_account(paths)
                self.chain.fund(deployer.address, DEV_FUNDING_WEI)
                self.deployment = deploy_all(
                    self.chain,
                    deployer,
                    network="local",
                    admin_delay=0,
                    log_admins=(deployer.address,),
                    registrars=(deployer.address,),
                    registrar_cities=tuple(CITIES.values()),
                )
                self.deployment.save(paths.manifest)
                self.deployed_now = True
            paths.node_file.write_text(
                json.dumps(
                    {
                        "url": self.node.url,
                        "pid": os.getpid(),
                        "anvil_pid": self.node.process.pid if self.node.process else None,
                        "chain_id": self.chain.chain_id,
                    }
                )
                + "\n"
            )
        except BaseException:
            self.node.stop()
            raise
        return self

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None
        with contextlib.suppress(FileNotFoundError):
            self.paths.node_file.unlink()


def open_chain(data_dir: Path | None, rpc: str | None) -> Chain:
    """Connect to ``rpc`` if given, else to the running node of ``data_dir``."""
    if rpc:
        return connect(rpc)
    assert data_dir is not None
    info = running_node(ChainPaths(data_dir))
    if info is None:
        raise ChainUnavailable(
            f"no chain is running for {data_dir}: start one with `creditchain chain up` "
            "or pass --rpc URL"
        )
    return connect(str(info["url"]))
