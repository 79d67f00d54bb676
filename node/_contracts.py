"""Typed clients for the deployed contracts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.types import BlockIdentifier, TxReceipt

from node._artifacts import _abi_type, load_artifact
from node._chain import Chain
from node.errors import ContractRevert

LOG_ADMIN_ROLE_NAME = "LOG_ADMIN_ROLE"
REGISTRAR_ROLE_NAME = "REGISTRAR_ROLE"
"""The base of the per-city registrar roles (``registrar_role``); never granted itself."""

YULIN = 610800
CITIES: dict[str, int] = {
    "yulin": 610800,
    "lanzhou": 620100,
    "yinchuan": 640100,
    "hohhot": 150100,
    "pingliang": 620800,
    "yanan": 610600,
}
"""The Yellow River alliance's cities and their GB/T 2260 codes."""


def registrar_role(city: int) -> bytes:
    """The registrar role of ``city``, as Membership.registrarRole computes it."""
    return keccak(abi_encode(["bytes32", "uint32"], [keccak(text=REGISTRAR_ROLE_NAME), city]))


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

    def anchoring_tx(self, log_id: bytes, size: int, block: int) -> bytes | None:
        """The transaction that anchored checkpoint ``size`` of ``log_id`` in ``block``, read
        from the contract's ``CheckpointAnchored`` event; None unless exactly one matches."""
        events = self.contract.events.CheckpointAnchored().get_logs(
            argument_filters={"logId": log_id, "size": size}, from_block=block, to_block=block
        )
        matching = [
            ev
            for ev in events
            if bytes(ev["args"]["logId"]) == log_id and int(ev["args"]["size"]) == size
        ]
        return bytes(matching[0]["transactionHash"]) if len(matching) == 1 else None

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

    def grant_city_registrar(self, admin: LocalAccount, city: int, account: str) -> TxReceipt:
        """Make ``account`` a registrar of ``city`` (the default admin only)."""
        fn = self.contract.functions.grantCityRegistrar(city, account)
        return self.chain.transact(admin, fn)

    def revoke_city_registrar(self, admin: LocalAccount, city: int, account: str) -> TxReceipt:
        fn = self.contract.functions.revokeCityRegistrar(city, account)
        return self.chain.transact(admin, fn)

    def is_registrar(self, account: str, city: int) -> bool:
        return bool(self.chain.call(self.contract.functions.isRegistrar(account, city)))

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


# ---------------------------------------------------------------------------------------------
# Directory
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryEntry:
    """A listed gateway (IDirectory.Entry)."""

    gateway_org: bytes
    city: int
    updated_at: int
    url: str

    @classmethod
    def from_tuple(cls, t: Sequence[Any]) -> DirectoryEntry:
        org, city, updated_at, url = t
        return cls(bytes(org), int(city), int(updated_at), str(url))


class DirectoryClient:
    """The Directory contract: each city's gateway organisation and its base URL."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.contract = chain.contract("Directory", address)
        self.address = self.contract.address

    def membership_address(self) -> str:
        return str(self.chain.call(self.contract.functions.membership()))

    def set_endpoint(self, account: LocalAccount, gateway_org: bytes, url: str) -> TxReceipt:
        """List ``gateway_org`` at ``url`` (its current signer or its city's registrar)."""
        fn = self.contract.functions.setEndpoint(gateway_org, url)
        return self.chain.transact(account, fn)

    def remove_endpoint(self, account: LocalAccount, gateway_org: bytes) -> TxReceipt:
        return self.chain.transact(account, self.contract.functions.removeEndpoint(gateway_org))

    def endpoint_of(self, gateway_org: bytes, block: BlockIdentifier = "latest") -> DirectoryEntry:
        """The gateway's entry; ContractRevert NotListed / GatewayNotActive."""
        return DirectoryEntry.from_tuple(
            self.chain.call(self.contract.functions.endpointOf(gateway_org), block)
        )

    def gateway_of_city(self, city: int, block: BlockIdentifier = "latest") -> DirectoryEntry:
        """The city's listed gateway; ContractRevert NoGatewayForCity / GatewayNotActive."""
        return DirectoryEntry.from_tuple(
            self.chain.call(self.contract.functions.gatewayOfCity(city), block)
        )

    def cities(self) -> list[int]:
        return [int(c) for c in self.chain.call(self.contract.functions.cities())]

    def entries(self) -> dict[int, DirectoryEntry]:
        """city -> entry, for every city whose listed gateway is active now."""
        out: dict[int, DirectoryEntry] = {}
        for city in self.cities():
            try:
                out[city] = self.gateway_of_city(city)
            except ContractRevert as exc:
                if exc.name not in ("NoGatewayForCity", "GatewayNotActive"):
                    raise
        return out


# ---------------------------------------------------------------------------------------------
# Grants
# ---------------------------------------------------------------------------------------------

GRANTS_DOMAIN_NAME = "creditchain-grants"
GRANTS_DOMAIN_VERSION = "1"
ANY_SUBJECT = b"\x00" * 32
"""The subject of a statutory grant that covers every subject."""

_GRANT_FIELDS: tuple[tuple[str, str], ...] = (
    ("subject", "bytes32"),
    ("grantee", "bytes32"),
    ("purpose", "bytes32"),
    ("categories", "uint256"),
    ("validFrom", "uint64"),
    ("validUntil", "uint64"),
    ("basis", "uint8"),
    ("evidenceHash", "bytes32"),
    ("nonce", "bytes32"),
)
_GRANT_ID_TYPE = "GrantId(" + ",".join(f"{t} {n}" for n, t in _GRANT_FIELDS) + ")"
GRANT_ID_TYPEHASH = keccak(text=_GRANT_ID_TYPE)
"""Mirrors Grants.GRANT_ID_TYPEHASH: the domain tag of grant ids."""
_GRANT_TYPES = {
    "Grant": [{"name": n, "type": t} for n, t in (*_GRANT_FIELDS, ("deadline", "uint256"))],
}
_REVOCATION_TYPES = {
    "Revocation": [{"name": "grantId", "type": "bytes32"}, {"name": "deadline", "type": "uint256"}],
}


class GrantBasis(IntEnum):
    """Mirrors IGrants.Basis."""

    NONE = 0
    CONSENT = 1
    STATUTORY = 2


def purpose_id(code: str) -> bytes:
    """The on-chain purpose of a purpose code: keccak256 of its UTF-8 bytes."""
    return keccak(text=code)


def _bytes32(name: str, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ValueError(f"{name} must be 32 bytes")


@dataclass(frozen=True)
class GrantParams:
    """What a grant's creator supplies (IGrants.GrantParams); with a nonce it fixes the id."""

    subject: bytes
    grantee: bytes
    purpose: bytes
    categories: int
    valid_from: int
    valid_until: int
    basis: GrantBasis
    evidence_hash: bytes

    def __post_init__(self) -> None:
        for name in ("subject", "grantee", "purpose", "evidence_hash"):
            _bytes32(name, getattr(self, name))
        if not 0 <= self.categories < 2**256:
            raise ValueError("categories must be a uint256 bitmask")
        for name in ("valid_from", "valid_until"):
            if not 0 <= getattr(self, name) < 2**64:
                raise ValueError(f"{name} must be a uint64")

    def as_tuple(self) -> tuple[bytes, bytes, bytes, int, int, int, int, bytes]:
        return (
            self.subject,
            self.grantee,
            self.purpose,
            self.categories,
            self.valid_from,
            self.valid_until,
            int(self.basis),
            self.evidence_hash,
        )

    def grant_id(self, nonce: bytes) -> bytes:
        """The grant id, derived off chain exactly as Grants.grantIdOf does."""
        _bytes32("nonce", nonce)
        types = ["bytes32", *(t for _, t in _GRANT_FIELDS)]
        return keccak(abi_encode(types, [GRANT_ID_TYPEHASH, *self.as_tuple(), nonce]))

    def _message(self, nonce: bytes, deadline: int) -> dict[str, Any]:
        _bytes32("nonce", nonce)
        names = [n for n, _ in _GRANT_FIELDS[:-1]]
        message: dict[str, Any] = dict(zip(names, self.as_tuple(), strict=True))
        return {**message, "nonce": nonce, "deadline": deadline}


def _grants_domain(chain_id: int, contract: str) -> dict[str, Any]:
    return {
        "name": GRANTS_DOMAIN_NAME,
        "version": GRANTS_DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": contract,
    }


def sign_grant(
    key: LocalAccount,
    chain_id: int,
    contract: str,
    params: GrantParams,
    nonce: bytes,
    deadline: int,
) -> bytes:
    """A subject's EIP-712 consent to ``params`` (relayable until ``deadline``)."""
    signable = encode_typed_data(
        _grants_domain(chain_id, contract), _GRANT_TYPES, params._message(nonce, deadline)
    )
    return bytes(key.sign_message(signable).signature)


def sign_revocation(
    key: LocalAccount, chain_id: int, contract: str, grant_id: bytes, deadline: int
) -> bytes:
    """A subject's EIP-712 revocation of grant ``grant_id`` (relayable until ``deadline``)."""
    _bytes32("grant_id", grant_id)
    signable = encode_typed_data(
        _grants_domain(chain_id, contract),
        _REVOCATION_TYPES,
        {"grantId": grant_id, "deadline": deadline},
    )
    return bytes(key.sign_message(signable).signature)


@dataclass(frozen=True)
class Grant:
    """A grant as the contract holds it (IGrants.Grant)."""

    grant_id: bytes
    subject: bytes
    grantee: bytes
    purpose: bytes
    categories: int
    evidence_hash: bytes
    registrar: bytes
    valid_from: int
    valid_until: int
    created_at: int
    basis: GrantBasis
    revoked_at: int

    @classmethod
    def from_tuple(cls, grant_id: bytes, t: Sequence[Any]) -> Grant:
        subject, grantee, purpose, categories, evidence, registrar, vf, vu, created, basis, rev = t
        return cls(
            grant_id=grant_id,
            subject=bytes(subject),
            grantee=bytes(grantee),
            purpose=bytes(purpose),
            categories=int(categories),
            evidence_hash=bytes(evidence),
            registrar=bytes(registrar),
            valid_from=int(vf),
            valid_until=int(vu),
            created_at=int(created),
            basis=GrantBasis(basis),
            revoked_at=int(rev),
        )

    @property
    def revoked(self) -> bool:
        return self.revoked_at != 0

    def covers_category(self, index: int) -> bool:
        return bool((self.categories >> index) & 1)


class GrantsClient:
    """The Grants contract: subject keys, consent and statutory grants, revocation, reads.

    Reads take a ``block``: the gateway evaluates grants at its latest confirmed block, with
    that block's timestamp, so a revocation stops reads from the first confirmed block on.
    """

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.contract = chain.contract("Grants", address)
        self.address = self.contract.address

    def membership_address(self) -> str:
        """The Membership registry this Grants contract takes organisations from."""
        return str(self.chain.call(self.contract.functions.membership()))

    # -- subject keys ---------------------------------------------------------------------------

    def bind_subject_key(self, account: LocalAccount, subject: bytes, key: str) -> TxReceipt:
        return self.chain.transact(account, self.contract.functions.bindSubjectKey(subject, key))

    def unbind_subject_key(self, account: LocalAccount, subject: bytes) -> TxReceipt:
        return self.chain.transact(account, self.contract.functions.unbindSubjectKey(subject))

    def subject_key(self, subject: bytes, block: BlockIdentifier = "latest") -> str | None:
        key = str(self.chain.call(self.contract.functions.subjectKey(subject), block))
        return None if int(key, 16) == 0 else key

    # -- signatures -----------------------------------------------------------------------------

    def sign_grant(
        self, key: LocalAccount, params: GrantParams, nonce: bytes, deadline: int
    ) -> bytes:
        return sign_grant(key, self.chain.chain_id, self.address, params, nonce, deadline)

    def sign_revocation(self, key: LocalAccount, grant_id: bytes, deadline: int) -> bytes:
        return sign_revocation(key, self.chain.chain_id, self.address, grant_id, deadline)

    # -- grants ---------------------------------------------------------------------------------

    def create_grant(self, account: LocalAccount, params: GrantParams, nonce: bytes) -> TxReceipt:
        fn = self.contract.functions.createGrant(params.as_tuple(), nonce)
        return self.chain.transact(account, fn)

    def create_grant_by_subject(
        self,
        relayer: LocalAccount,
        params: GrantParams,
        nonce: bytes,
        deadline: int,
        signature: bytes,
    ) -> TxReceipt:
        fn = self.contract.functions.createGrantBySubject(
            params.as_tuple(), nonce, deadline, signature
        )
        return self.chain.transact(relayer, fn)

    def revoke_grant(self, account: LocalAccount, grant_id: bytes) -> TxReceipt:
        return self.chain.transact(account, self.contract.functions.revokeGrant(grant_id))

    def revoke_by_subject(
        self, relayer: LocalAccount, grant_id: bytes, deadline: int, signature: bytes
    ) -> TxReceipt:
        fn = self.contract.functions.revokeBySubject(grant_id, deadline, signature)
        return self.chain.transact(relayer, fn)

    # -- reads ----------------------------------------------------------------------------------

    def grant_id_of(self, params: GrantParams, nonce: bytes) -> bytes:
        return bytes(self.chain.call(self.contract.functions.grantIdOf(params.as_tuple(), nonce)))

    def grant(self, grant_id: bytes, block: BlockIdentifier = "latest") -> Grant:
        """The grant; ContractRevert ``UnknownGrant`` if there is none."""
        return Grant.from_tuple(
            grant_id, self.chain.call(self.contract.functions.getGrant(grant_id), block)
        )

    def is_live(self, grant_id: bytes, timestamp: int, block: BlockIdentifier = "latest") -> bool:
        return bool(self.chain.call(self.contract.functions.isLive(grant_id, timestamp), block))

    def permits(
        self,
        grant_id: bytes,
        subject: bytes,
        grantee: bytes,
        purpose: bytes,
        category: int,
        timestamp: int,
        block: BlockIdentifier = "latest",
    ) -> bool:
        """Is the grant live at ``timestamp`` and does it cover this read (subject or any
        subject, grantee still active, purpose, category index)?"""
        fn = self.contract.functions.permits(
            grant_id, subject, grantee, purpose, category, timestamp
        )
        return bool(self.chain.call(fn, block))

    def grant_ids(
        self,
        *,
        subject: bytes | None = None,
        grantee: bytes | None = None,
        from_block: int = 0,
        to_block: BlockIdentifier = "latest",
    ) -> list[bytes]:
        """Ids of the grants created for a subject and/or grantee, oldest first, from the
        GrantCreated events (the chain keeps no per-subject list)."""
        filters: dict[str, Any] = {}
        if subject is not None:
            filters["subject"] = subject
        if grantee is not None:
            filters["grantee"] = grantee
        events = self.contract.events.GrantCreated().get_logs(
            argument_filters=filters or None, from_block=from_block, to_block=to_block
        )
        return [bytes(ev["args"]["grantId"]) for ev in events]


# ---------------------------------------------------------------------------------------------
# RecordStatus
# ---------------------------------------------------------------------------------------------

RECORD_STATUS_DOMAIN_NAME = "creditchain-record-status"
RECORD_STATUS_DOMAIN_VERSION = "1"

_TRANSITION_FIELDS: tuple[tuple[str, str], ...] = (
    ("recordId", "bytes32"),
    ("origin", "bytes32"),
    ("to", "uint8"),
    ("successor", "bytes32"),
    ("reason", "bytes32"),
    ("evidence", "bytes32"),
    ("actor", "bytes32"),
    ("version", "uint32"),
    ("deadline", "uint256"),
)
TRANSITION_TYPEHASH = keccak(
    text="Transition(" + ",".join(f"{t} {n}" for n, t in _TRANSITION_FIELDS) + ")"
)
"""Mirrors RecordStatus.TRANSITION_TYPEHASH."""
_TRANSITION_TYPES = {"Transition": [{"name": n, "type": t} for n, t in _TRANSITION_FIELDS]}


class StatusCode(IntEnum):
    """Mirrors IRecordStatus.Status. ACTIVE is the status of a record never transitioned."""

    ACTIVE = 0
    OBJECTED = 1
    CORRECTED = 2
    REPAIRED = 3
    WITHDRAWN = 4
    ERASED = 5

    @property
    def label(self) -> str:
        """The lowercase name used off chain: "active", "objected", … "erased"."""
        return self.name.lower()


def reason_code(text: str) -> bytes:
    """The on-chain reason code of a reason string: keccak256 of its UTF-8 bytes."""
    return keccak(text=text)


@dataclass(frozen=True)
class StatusTransition:
    """What the acting organisation signs (IRecordStatus.Transition); ``to`` is coerced to a
    StatusCode (ValueError outside the enum)."""

    record_id: bytes
    origin: bytes
    to: StatusCode
    successor: bytes
    reason: bytes
    evidence: bytes
    actor: bytes
    version: int
    deadline: int

    def __post_init__(self) -> None:
        for name in ("record_id", "origin", "successor", "reason", "evidence", "actor"):
            _bytes32(name, getattr(self, name))
        object.__setattr__(self, "to", StatusCode(self.to))
        if not 0 <= self.version < 2**32:
            raise ValueError("version must be a uint32")
        if not 0 <= self.deadline < 2**256:
            raise ValueError("deadline must be a uint256")

    def as_tuple(self) -> tuple[bytes, bytes, int, bytes, bytes, bytes, bytes, int, int]:
        return (
            self.record_id,
            self.origin,
            int(self.to),
            self.successor,
            self.reason,
            self.evidence,
            self.actor,
            self.version,
            self.deadline,
        )

    def _message(self) -> dict[str, Any]:
        names = [n for n, _ in _TRANSITION_FIELDS]
        return dict(zip(names, self.as_tuple(), strict=True))


def _record_status_domain(chain_id: int, contract: str) -> dict[str, Any]:
    return {
        "name": RECORD_STATUS_DOMAIN_NAME,
        "version": RECORD_STATUS_DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": contract,
    }


def transition_digest(chain_id: int, contract: str, t: StatusTransition) -> bytes:
    """The EIP-712 digest of ``t``, computed off chain exactly as
    RecordStatus.transitionDigest does."""
    signable = encode_typed_data(
        _record_status_domain(chain_id, contract), _TRANSITION_TYPES, t._message()
    )
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_transition(key: LocalAccount, chain_id: int, contract: str, t: StatusTransition) -> bytes:
    """The acting organisation's EIP-712 signature of ``t`` (relayable by a gateway until
    ``t.deadline``, once: it names the record's current version)."""
    signable = encode_typed_data(
        _record_status_domain(chain_id, contract), _TRANSITION_TYPES, t._message()
    )
    return bytes(key.sign_message(signable).signature)


@dataclass(frozen=True)
class RecordStatusView:
    """A record's state as the contract holds it (IRecordStatus.RecordState); all zero with
    status ACTIVE and version 0 for a record never transitioned."""

    origin: bytes
    successor: bytes
    reason: bytes
    actor: bytes
    evidence: bytes
    updated_at: int
    version: int
    status: StatusCode

    @classmethod
    def from_tuple(cls, t: Sequence[Any]) -> RecordStatusView:
        origin, successor, reason, actor, evidence, updated_at, version, status = t
        return cls(
            origin=bytes(origin),
            successor=bytes(successor),
            reason=bytes(reason),
            actor=bytes(actor),
            evidence=bytes(evidence),
            updated_at=int(updated_at),
            version=int(version),
            status=StatusCode(status),
        )


@cache
def _record_status_errors() -> dict[bytes, tuple[str, list[str]]]:
    """4-byte selector -> (error name, ABI input types) of RecordStatus's custom errors."""
    table: dict[bytes, tuple[str, list[str]]] = {}
    for item in load_artifact("RecordStatus").abi:
        if item["type"] == "error":
            types = [_abi_type(i) for i in item["inputs"]]
            table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
    return table


def _with_record_status_errors(exc: ContractRevert) -> ContractRevert:
    """Name a RecordStatus custom error the chain-wide error table does not know."""
    if exc.name != "UnknownRevert" or not exc.raw:
        return exc
    data = bytes.fromhex(exc.raw)
    known = _record_status_errors().get(data[:4])
    if known is None:
        return exc
    name, types = known
    return ContractRevert(name, tuple(abi_decode(types, data[4:])), raw=exc.raw)


class RecordStatusClient:
    """The RecordStatus contract: record lifecycle transitions, signed by the acting
    organisation and relayed by a gateway, and the records' current states.

    Reads take a ``block``, like GrantsClient's: the gateway reads statuses at its latest
    confirmed block.
    """

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.contract = chain.contract("RecordStatus", address)
        self.address = self.contract.address

    def membership_address(self) -> str:
        """The Membership registry this RecordStatus contract takes organisations from."""
        return str(self.chain.call(self.contract.functions.membership()))

    # -- transitions ----------------------------------------------------------------------------

    def sign(self, key: LocalAccount, t: StatusTransition) -> bytes:
        """``t`` signed by ``key`` (the actor's current signer) for this contract."""
        return sign_transition(key, self.chain.chain_id, self.address, t)

    def transition(self, sender: LocalAccount, t: StatusTransition, signature: bytes) -> TxReceipt:
        """Relay ``t`` from ``sender`` (a gateway's current signer); a refusal raises
        ContractRevert naming the contract's custom error."""
        fn = self.contract.functions.transition(t.as_tuple(), signature)
        try:
            return self.chain.transact(sender, fn)
        except ContractRevert as exc:
            raise _with_record_status_errors(exc) from None

    def transition_digest(self, t: StatusTransition) -> bytes:
        """The digest as the contract computes it (``transition_digest`` does it off chain)."""
        return bytes(self.chain.call(self.contract.functions.transitionDigest(t.as_tuple())))

    def is_allowed(self, from_status: StatusCode, to_status: StatusCode) -> bool:
        fn = self.contract.functions.isAllowed(int(from_status), int(to_status))
        return bool(self.chain.call(fn))

    # -- reads ----------------------------------------------------------------------------------

    def state(self, record_id: bytes, block: BlockIdentifier = "latest") -> RecordStatusView:
        """The record's state (ACTIVE, version 0, all zero for a record never transitioned)."""
        return RecordStatusView.from_tuple(
            self.chain.call(self.contract.functions.stateOf(record_id), block)
        )

    def status(self, record_id: bytes, block: BlockIdentifier = "latest") -> StatusCode:
        return StatusCode(self.chain.call(self.contract.functions.statusOf(record_id), block))

    def states(
        self, record_ids: Sequence[bytes], block: BlockIdentifier = "latest"
    ) -> dict[bytes, RecordStatusView]:
        """The states of several records, all read at the same block: a loop of one eth_call
        per distinct record (not a JSON-RPC batch), with a block tag resolved to its number
        first so that a block mined meanwhile cannot mix two states."""
        if record_ids and not isinstance(block, int):
            block = int(self.chain.w3.eth.get_block(block)["number"])
        return {rid: self.state(rid, block) for rid in dict.fromkeys(record_ids)}

    def status_changes(
        self,
        from_block: BlockIdentifier = 0,
        to_block: BlockIdentifier = "latest",
        *,
        record_id: bytes | None = None,
    ) -> list[dict[str, Any]]:
        """The StatusChanged events in the block range (of one record, if given), oldest first,
        as dicts: record_id, actor, from, to (StatusCode), reason, successor, evidence, version
        (the record's version after the transition), block_number, transaction_hash, log_index.
        """
        events = self.contract.events.StatusChanged().get_logs(
            argument_filters={"recordId": record_id} if record_id is not None else None,
            from_block=from_block,
            to_block=to_block,
        )
        return [
            {
                "record_id": bytes(ev["args"]["recordId"]),
                "actor": bytes(ev["args"]["actor"]),
                "from": StatusCode(ev["args"]["from"]),
                "to": StatusCode(ev["args"]["to"]),
                "reason": bytes(ev["args"]["reason"]),
                "successor": bytes(ev["args"]["successor"]),
                "evidence": bytes(ev["args"]["evidence"]),
                "version": int(ev["args"]["version"]),
                "block_number": int(ev["blockNumber"]),
                "transaction_hash": bytes(ev["transactionHash"]),
                "log_index": int(ev["logIndex"]),
            }
            for ev in events
            if record_id is None or bytes(ev["args"]["recordId"]) == record_id
        ]
