"""Deploy the contracts and describe the result in a manifest (one per network)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

from node._artifacts import CONTRACTS, load_artifact
from node._chain import Chain
from node._contracts import (
    LOG_ADMIN_ROLE_NAME,
    YULIN,
    CheckpointLogClient,
    DirectoryClient,
    GrantsClient,
    MembershipClient,
    RecordStatusClient,
)
from node.errors import ManifestError

MANIFEST_VERSION = 1
RECORD_STATUS = "RecordStatus"
DIRECTORY = "Directory"
_DEPLOY_ORDER: tuple[str, ...] = CONTRACTS
"""What deploy_all deploys, in order. RecordStatus came after the first manifests were written
(``ensure_record_status`` adds it to one of those)."""
_ON_MEMBERSHIP = ("Grants", RECORD_STATUS, DIRECTORY)
"""Contracts with no roles of their own, constructed on (and checked against) Membership."""


@dataclass(frozen=True)
class DeployedContract:
    address: str
    tx_hash: str
    block: int
    artifact_sha256: str


@dataclass(frozen=True)
class Deployment:
    """Where the contracts of one network live: the deployment manifest."""

    chain_id: int
    network: str
    deployer: str
    admin: str
    admin_delay: int
    deploy_block: int
    compiler: str
    created_at: str
    contracts: dict[str, DeployedContract] = field(default_factory=dict)
    version: int = MANIFEST_VERSION

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise ManifestError(f"manifest has no {name} contract") from None

    def checkpoint_log(self, chain: Chain) -> CheckpointLogClient:
        return CheckpointLogClient(chain, self.address("CheckpointLog"))

    def membership(self, chain: Chain) -> MembershipClient:
        return MembershipClient(chain, self.address("Membership"))

    def grants(self, chain: Chain) -> GrantsClient:
        return GrantsClient(chain, self.address("Grants"))

    def record_status(self, chain: Chain) -> RecordStatusClient:
        if RECORD_STATUS not in self.contracts:
            raise ManifestError(
                f"the deployment manifest for chain {self.chain_id} predates RecordStatus: "
                "deploy it with node.ensure_record_status(chain, deployer, deployment) "
                "and save the manifest it returns"
            )
        return RecordStatusClient(chain, self.address(RECORD_STATUS))

    def directory(self, chain: Chain) -> DirectoryClient:
        if DIRECTORY not in self.contracts:
            raise ManifestError(
                f"the deployment manifest for chain {self.chain_id} predates the Directory "
                "(and the city-scoped Membership): deploy the contracts afresh"
            )
        return DirectoryClient(chain, self.address(DIRECTORY))

    # -- persistence ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        try:
            if data.get("version") != MANIFEST_VERSION:
                raise ManifestError(f"unsupported manifest version {data.get('version')!r}")
            contracts = {k: DeployedContract(**v) for k, v in data["contracts"].items()}
            fields = {k: v for k, v in data.items() if k != "contracts"}
            return cls(contracts=contracts, **fields)
        except (TypeError, KeyError) as exc:
            raise ManifestError(f"malformed deployment manifest: {exc}") from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"no deployment manifest at {path}") from None
        except (OSError, ValueError) as exc:
            raise ManifestError(f"cannot read deployment manifest {path}: {exc}") from exc
        return cls.from_json(data)

    def check(self, chain: Chain) -> None:
        """Refuse a chain that is not the one this manifest describes."""
        if chain.chain_id != self.chain_id:
            raise ManifestError(
                f"manifest is for chain id {self.chain_id}, the node reports {chain.chain_id}"
            )
        for name, c in self.contracts.items():
            code = bytes(chain.w3.eth.get_code(Web3.to_checksum_address(c.address)))
            artifact = load_artifact(name)
            expected = bytes.fromhex(artifact.deployed_bytecode.removeprefix("0x"))
            if not code or not _same_code(code, expected, artifact.immutable_ranges):
                what = "no contract" if not code else "different code"
                raise ManifestError(f"{name} at {c.address}: {what} on chain {chain.chain_id}")
        for name in _ON_MEMBERSHIP:
            if name not in self.contracts:
                continue
            # Their code matches up to immutables; the one that matters is their registry.
            client: GrantsClient | RecordStatusClient | DirectoryClient = (
                self.grants(chain)
                if name == "Grants"
                else self.record_status(chain)
                if name == RECORD_STATUS
                else self.directory(chain)
            )
            linked = client.membership_address()
            if linked.lower() != self.address("Membership").lower():
                raise ManifestError(
                    f"{name} at {self.address(name)} uses Membership {linked}, "
                    f"the manifest says {self.address('Membership')}"
                )


def _same_code(code: bytes, expected: bytes, immutables: tuple[tuple[int, int], ...]) -> bool:
    """Equal, except in the byte ranges the constructor fills in (immutables)."""
    if len(code) != len(expected):
        return False
    masked = bytearray(code)
    for start, length in immutables:
        masked[start : start + length] = expected[start : start + length]
    return bytes(masked) == expected


def deploy_all(
    chain: Chain,
    deployer: LocalAccount,
    *,
    network: str,
    admin: str | None = None,
    admin_delay: int = 86_400,
    log_admins: tuple[str, ...] = (),
    registrars: tuple[str, ...] = (),
    registrar_cities: tuple[int, ...] = (YULIN,),
) -> Deployment:
    """Deploy Membership and CheckpointLog with ``admin`` as default admin, and Grants,
    RecordStatus and Directory on top of that Membership (they have no roles: their authority
    comes from Membership).

    When the deployer is the admin, it grants LOG_ADMIN_ROLE to ``log_admins`` and makes each
    of ``registrars`` the registrar of each city of ``registrar_cities`` (GB/T 2260 codes;
    give a production registrar one city); otherwise the admin must grant them later
    (``MembershipClient.grant_city_registrar``).
    """
    admin = Web3.to_checksum_address(admin or deployer.address)
    deployed: dict[str, DeployedContract] = {}
    for name in _DEPLOY_ORDER:
        args: tuple[Any, ...] = (admin_delay, admin)
        if name in _ON_MEMBERSHIP:
            args = (deployed["Membership"].address,)
        deployed[name] = _deploy(chain, deployer, name, *args)
    if admin == deployer.address:
        membership = MembershipClient(chain, deployed["Membership"].address)
        log = CheckpointLogClient(chain, deployed["CheckpointLog"].address)
        for who in registrars:
            for city in registrar_cities:
                membership.grant_city_registrar(deployer, city, Web3.to_checksum_address(who))
        for who in log_admins:
            chain.transact(
                deployer,
                log.contract.functions.grantRole(
                    keccak(text=LOG_ADMIN_ROLE_NAME), Web3.to_checksum_address(who)
                ),
            )
    return Deployment(
        chain_id=chain.chain_id,
        network=network,
        deployer=deployer.address,
        admin=admin,
        admin_delay=admin_delay,
        deploy_block=min(c.block for c in deployed.values()),
        compiler=load_artifact(CONTRACTS[0]).compiler_version,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        contracts=deployed,
    )


def ensure_record_status(
    chain: Chain, deployer: LocalAccount, deployment: Deployment
) -> Deployment:
    """The deployment with RecordStatus: unchanged when its manifest has one; otherwise, after
    checking the deployment against the chain, RecordStatus is deployed on its Membership and
    the updated manifest returned (save it: calling again with the old manifest deploys again).
    """
    if RECORD_STATUS in deployment.contracts:
        return deployment
    deployment.check(chain)
    deployed = _deploy(chain, deployer, RECORD_STATUS, deployment.address("Membership"))
    return dataclasses.replace(
        deployment, contracts={**deployment.contracts, RECORD_STATUS: deployed}
    )


def _deploy(chain: Chain, deployer: LocalAccount, name: str, *args: Any) -> DeployedContract:
    address, receipt = chain.deploy(deployer, name, *args)
    return DeployedContract(
        address=address,
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        block=int(receipt["blockNumber"]),
        artifact_sha256=load_artifact(name).sha256,
    )
