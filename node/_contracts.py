"""Typed clients for the deployed contracts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from node._chain import Chain
from node.errors import ContractRevert

LOG_ADMIN_ROLE_NAME = "LOG_ADMIN_ROLE"
REGISTRAR_ROLE_NAME = "REGISTRAR_ROLE"


class OrgKind(IntEnum):
    """Mirrors IMembership.OrgKind."""

    NONE = 0
    DEPARTMENT = 1
    FINANCIAL_INSTITUTION = 2
    UTILITY = 3
    CREDIT_OFFICE = 4
    AUDITOR = 5
    GATEWAY = 6


@dataclass(frozen=True)
class Checkpoint:
    """An anchored checkpoint as the contract holds it."""

    size: int
    root: bytes
    timestamp: int
    block_number: int

    @classmethod
    def from_tuple(cls, t: Sequence[Any]) -> Checkpoint:
        size, timestamp, block_number, root = t
        return cls(
            size=int(size),
            root=bytes(root),
            timestamp=int(timestamp),
            block_number=int(block_number),
        )


class CheckpointLogClient:
    """The CheckpointLog contract: register logs, anchor checkpoints, read them back."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.contract = chain.contract("CheckpointLog", address)
        self.address = self.contract.address

    def role(self, name: str) -> bytes:
        return bytes(self.chain.call(getattr(self.contract.functions, name)()))

    def register_log(
        self, account: LocalAccount, log_id: bytes, owner_org: bytes, operator: str
    ) -> TxReceipt:
        fn = self.contract.functions.registerLog(log_id, owner_org, operator)
        return self.chain.transact(account, fn)

    def anchor(
        self, account: LocalAccount, log_id: bytes, size: int, root: bytes, proof: Sequence[bytes]
    ) -> TxReceipt:
        fn = self.contract.functions.anchor(log_id, size, root, list(proof))
        return self.chain.transact(account, fn)

    def latest(self, log_id: bytes) -> Checkpoint | None:
        try:
            return Checkpoint.from_tuple(
                self.chain.call(self.contract.functions.latestCheckpoint(log_id))
            )
        except ContractRevert as exc:
            if exc.name == "CheckpointNotFound":
                return None
            raise

    def count(self, log_id: bytes) -> int:
        return int(self.chain.call(self.contract.functions.checkpointCount(log_id)))

    def at(self, log_id: bytes, index: int) -> Checkpoint:
        return Checkpoint.from_tuple(
            self.chain.call(self.contract.functions.checkpointAt(log_id, index))
        )

    def checkpoints(self, log_id: bytes) -> list[Checkpoint]:
        return [self.at(log_id, i) for i in range(self.count(log_id))]

    def for_size(self, log_id: bytes, size: int) -> Checkpoint:
        return Checkpoint.from_tuple(
            self.chain.call(self.contract.functions.checkpointForSize(log_id, size))
        )

    def verify_inclusion(
        self, log_id: bytes, size: int, index: int, leaf: bytes, proof: Sequence[bytes]
    ) -> bool:
        fn = self.contract.functions.verifyInclusion(log_id, size, index, leaf, list(proof))
        return bool(self.chain.call(fn))

    def verify_consistency_proof(
        self, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
    ) -> bool:
        fn = self.contract.functions.verifyConsistencyProof(
            old_size, new_size, old_root, new_root, list(proof)
        )
        return bool(self.chain.call(fn))

    def verify_inclusion_proof(
        self, index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
    ) -> bool:
        fn = self.contract.functions.verifyInclusionProof(index, size, leaf, list(proof), root)
        return bool(self.chain.call(fn))

    def registered_logs(self, from_block: int = 0) -> dict[bytes, tuple[bytes, str]]:
        """log id -> (owner org, current operator), from the contract's events."""
        logs: dict[bytes, tuple[bytes, str]] = {}
        for ev in self.contract.events.LogRegistered().get_logs(from_block=from_block):
            logs[bytes(ev["args"]["logId"])] = (
                bytes(ev["args"]["ownerOrg"]),
                ev["args"]["operator"],
            )
        for ev in self.contract.events.LogOperatorChanged().get_logs(from_block=from_block):
            lid = bytes(ev["args"]["logId"])
            logs[lid] = (logs[lid][0], ev["args"]["newOperator"])
        return logs


@dataclass(frozen=True)
class KeyEpoch:
    signer: str
    valid_from: int
    valid_from_block: int
    encryption_key: bytes


@dataclass(frozen=True)
class Org:
    org_id: bytes
    city: int
    kind: OrgKind
    active: bool
    registered_at: int
    key_count: int


class MembershipClient:
    """The Membership contract: organisations, their keys and standing."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.contract = chain.contract("Membership", address)
        self.address = self.contract.address

    def role(self, name: str) -> bytes:
        return bytes(self.chain.call(getattr(self.contract.functions, name)()))

    def register_org(
        self,
        account: LocalAccount,
        org_id: bytes,
        city: int,
        kind: OrgKind,
        signer: str,
        encryption_key: bytes,
    ) -> TxReceipt:
        fn = self.contract.functions.registerOrg(org_id, city, int(kind), signer, encryption_key)
        return self.chain.transact(account, fn)

    def rotate_keys(
        self, account: LocalAccount, org_id: bytes, signer: str, encryption_key: bytes
    ) -> TxReceipt:
        fn = self.contract.functions.rotateKeys(org_id, signer, encryption_key)
        return self.chain.transact(account, fn)

    def suspend(self, account: LocalAccount, org_id: bytes, reason: bytes) -> TxReceipt:
        return self.chain.transact(account, self.contract.functions.suspend(org_id, reason))

    def reactivate(self, account: LocalAccount, org_id: bytes) -> TxReceipt:
        return self.chain.transact(account, self.contract.functions.reactivate(org_id))

    def org(self, org_id: bytes) -> Org:
        city, kind, active, registered_at, key_count = self.chain.call(
            self.contract.functions.org(org_id)
        )
        return Org(
            org_id, int(city), OrgKind(kind), bool(active), int(registered_at), int(key_count)
        )

    def _epoch(self, t: Sequence[Any]) -> KeyEpoch:
        signer, valid_from, valid_from_block, enc = t
        return KeyEpoch(str(signer), int(valid_from), int(valid_from_block), bytes(enc))

    def current_keys(self, org_id: bytes) -> KeyEpoch:
        return self._epoch(self.chain.call(self.contract.functions.currentKeys(org_id)))

    def keys_at(self, org_id: bytes, timestamp: int) -> KeyEpoch:
        return self._epoch(self.chain.call(self.contract.functions.keysAt(org_id, timestamp)))

    def key_epoch(self, org_id: bytes, epoch: int) -> KeyEpoch:
        return self._epoch(self.chain.call(self.contract.functions.keyEpoch(org_id, epoch)))

    def org_of_signer(self, signer: str) -> bytes:
        return bytes(self.chain.call(self.contract.functions.orgOfSigner(signer)))

    def is_active(self, org_id: bytes) -> bool:
        return bool(self.chain.call(self.contract.functions.isActive(org_id)))
