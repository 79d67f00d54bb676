"""Proof bundles (formats.md §7) and the checks that verify them (§8).

Each check is an object with a ``name`` and ``verify(bundle, ctx)`` that returns nothing
or raises :class:`VerificationError` naming itself. :func:`verify_bundle` parses the
bundle (:class:`BundleMalformed` when it cannot) and runs the checks in order, stopping at
the first failure, much like a sigstore verification policy.

Only three things are trusted: the :class:`TrustRoot` (chain id and the two contract
addresses, from the verifier's own deployment manifest), the :class:`ChainView` answering
from that chain (the record's lifecycle status from the RecordStatus contract of that same
manifest), and optionally the network pepper (member gateways only). Everything in the
bundle, including which chain and contracts it names, is data to be checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol, runtime_checkable

from gateway.domain.canonical import MAX_SAFE_INTEGER, canonicalize
from gateway.domain.errors import BadSignature, DomainError, InvalidIdentifier, MalformedObject
from gateway.domain.identifiers import SubjectId, subject_commitment
from gateway.domain.merkle import leaf_hash, verify_inclusion
from gateway.domain.records import (
    LeafEntry,
    Receipt,
    commitment,
    department_signer,
    hex0x,
    log_id,
    parse_hex,
    parse_leaf_entry,
    parse_receipt,
    receipt_signer,
)
from gateway.domain.signing import SigningDomain, signing_domain

__all__ = [
    "BUNDLE_VERSION",
    "DEFAULT_CHECKS",
    "RECORD_STATUSES",
    "STATUS_SOURCE",
    "Anchor",
    "Bundle",
    "BundleMalformed",
    "ChainQueryFailed",
    "ChainRef",
    "ChainView",
    "Check",
    "CheckpointOnChainCheck",
    "DepartmentSignatureCheck",
    "InclusionCheck",
    "LeafHashCheck",
    "LogProof",
    "ReceiptSignatureCheck",
    "RecordCommitmentCheck",
    "RecordLifecycle",
    "StatusCheck",
    "TrustRoot",
    "TrustRootCheck",
    "VerificationError",
    "VerificationResult",
    "VerifyContext",
    "VerifyError",
    "make_bundle",
    "parse_bundle",
    "verify_bundle",
]

BUNDLE_VERSION: Final = 1
STATUS_SOURCE: Final = "RecordStatus contract"
RECORD_STATUSES: Final = frozenset(
    ("active", "objected", "corrected", "repaired", "withdrawn", "erased")
)
"""Statuses a record can have (DESIGN.md §5.6); ``active`` until the lifecycle says otherwise."""

_MAX_PROOF_NODES: Final = 64
_UINT64: Final = 2**64 - 1


# ---------------------------------------------------------------------------------------
# Errors


class VerifyError(Exception):
    """Root of every error raised by :mod:`gateway.verify`."""


class VerificationError(VerifyError):
    """The bundle is not valid: ``check`` names the check that failed, ``detail`` says why.

    ``passed`` lists the checks that passed before this one (set by :func:`verify_bundle`).
    """

    code = "bundle-invalid"

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail
        self.passed: tuple[str, ...] = ()


class BundleMalformed(VerificationError):
    """The bundle cannot be parsed as a §7 proof bundle (check name ``malformed``)."""

    CHECK: ClassVar[str] = "malformed"

    def __init__(self, detail: str) -> None:
        super().__init__(self.CHECK, detail)


class ChainQueryFailed(VerifyError):
    """The chain could not answer (unreachable node, unexpected revert, a trusted manifest
    without the contract to ask): no verdict."""

    code = "chain-query-failed"


# ---------------------------------------------------------------------------------------
# Trust and the chain


@dataclass(frozen=True, slots=True)
class TrustRoot:
    """What the verifier trusts: the chain id and the contract addresses of its own
    deployment manifest. Addresses are kept in EIP-55 checksum form."""

    chain_id: int
    membership: str
    checkpoint_log: str

    def __post_init__(self) -> None:
        domain = signing_domain(self.chain_id, self.membership)  # validates both
        object.__setattr__(self, "membership", domain.verifying_contract)
        log = signing_domain(self.chain_id, self.checkpoint_log).verifying_contract
        object.__setattr__(self, "checkpoint_log", log)

    @property
    def domain(self) -> SigningDomain:
        """The EIP-712 domain signatures on this network are made in."""
        return signing_domain(self.chain_id, self.membership)


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a checkpoint was anchored: its block and transaction."""

    block_number: int
    tx_hash: bytes


@dataclass(frozen=True, slots=True)
class RecordLifecycle:
    """A record's lifecycle state as the chain's RecordStatus contract holds it.

    ``status`` is one of :data:`RECORD_STATUSES`. Ids the contract holds as zero are
    ``None`` here: ``successor`` is the record id of the new version once the record has been
    corrected (the contract keeps it afterwards), ``origin`` the submitting department's org
    id pinned by the first transition, ``actor`` the organisation that made the latest
    transition, ``reason`` its reason code (keccak256 of the reason), ``updated_at`` its block
    time and ``version`` the number of transitions so far. ``RecordLifecycle()`` is the state
    of a record never transitioned: active, version 0.
    """

    status: str = "active"
    successor: bytes | None = None
    origin: bytes | None = None
    actor: bytes | None = None
    reason: bytes | None = None
    updated_at: int = 0
    version: int = 0


@runtime_checkable
class ChainView(Protocol):
    """What verification needs to know from the (trusted) chain.

    Implementations answer ``None`` for "no such thing on chain" and raise
    :class:`ChainQueryFailed` when they cannot answer at all.
    """

    def keys_at(self, org_id: bytes, timestamp: int) -> str | None:
        """The org's signing address in force at ``timestamp`` (checksum form), or None
        for an unknown org or a time before its first key."""
        ...

    def checkpoint_root(self, log_id: bytes, size: int) -> bytes | None:
        """The root anchored for ``size`` leaves of log ``log_id``, or None."""
        ...

    def anchor(self, log_id: bytes, size: int) -> Anchor | None:
        """Block and transaction that anchored checkpoint ``size`` of ``log_id``, or None."""
        ...

    def record_status(self, record_id: bytes) -> RecordLifecycle:
        """The record's lifecycle state (``RecordLifecycle()`` for a record never
        transitioned)."""
        ...


# ---------------------------------------------------------------------------------------
# The bundle


@dataclass(frozen=True, slots=True)
class LogProof:
    """The bundle's ``log`` section: the leaf's position and its inclusion proof."""

    id: bytes
    index: int
    inclusion: tuple[bytes, ...]
    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class ChainRef:
    """The bundle's ``chain`` section: where the bundle claims its anchor is."""

    chain_id: int
    checkpoint_log: str
    membership: str
    anchor_tx: bytes
    anchor_block: int


@dataclass(frozen=True, slots=True)
class Bundle:
    """A parsed proof bundle. ``record`` and ``leaf_json`` are the raw JSON objects (what
    the hashes cover); ``record_jcs``/``leaf_jcs`` their canonical bytes.

    ``record``, ``record_jcs`` and ``salt`` are all ``None`` for a commitment-only bundle
    (one served without the record's opening).
    """

    record: Mapping[str, Any] | None = field(repr=False)
    record_jcs: bytes | None = field(repr=False)
    salt: bytes | None = field(repr=False)
    leaf: LeafEntry
    leaf_json: Mapping[str, Any] = field(repr=False)
    leaf_jcs: bytes = field(repr=False)
    receipt: Receipt
    log: LogProof
    chain: ChainRef
    status_source: str
    record_id: bytes


def _members(
    value: object, where: str, names: Sequence[str], optional: Sequence[str] = ()
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BundleMalformed(f"{where or '(root)'} must be a JSON object")
    keys = set(value)
    missing = sorted(set(names) - keys)
    extra = sorted(str(k) for k in keys - set(names) - set(optional))
    if missing or extra:
        raise BundleMalformed(f"{where or '(root)'}: missing {missing}, unexpected {extra}")
    return value


def _uint(value: object, where: str) -> int:
    if type(value) is not int or not 0 <= value <= min(_UINT64, MAX_SAFE_INTEGER):
        raise BundleMalformed(f"{where} must be a non-negative integer")
    return value


def _hex(value: object, where: str, *, size: int, prefixed: bool) -> bytes:
    try:
        return parse_hex(value, size=size, prefixed=prefixed, pointer=where)
    except MalformedObject as exc:
        raise BundleMalformed(str(exc)) from None


def _address(value: object, where: str) -> str:
    if (
        not isinstance(value, str)
        or len(value) != 42
        or not value.startswith("0x")
        or any(c not in "0123456789abcdefABCDEF" for c in value[2:])
    ):
        raise BundleMalformed(f"{where} must be a 20-byte 0x-hex address")
    return value


def parse_bundle(obj: object) -> Bundle:
    """Parse a §7 proof bundle strictly.

    ``record`` and ``salt`` (the record's opening) are present together, or both absent in
    a commitment-only bundle.

    Raises:
        BundleMalformed: naming the first member that is missing, unexpected, of the
            wrong type or badly encoded.
    """
    doc = _members(
        obj, "", ("v", "leaf", "receipt", "log", "chain", "status"), optional=("record", "salt")
    )
    if type(doc["v"]) is not int or doc["v"] != BUNDLE_VERSION:
        raise BundleMalformed(f"/v: unsupported bundle version (expected {BUNDLE_VERSION})")
    if ("record" in doc) != ("salt" in doc):
        raise BundleMalformed("/record and /salt go together (both, or neither)")
    record: Mapping[str, Any] | None = None
    record_jcs: bytes | None = None
    salt: bytes | None = None
    try:
        if "record" in doc:
            record = doc["record"]
            if not isinstance(record, Mapping):
                raise BundleMalformed("/record must be a JSON object")
            if not isinstance(record.get("org"), str) or not isinstance(
                record.get("category"), str
            ):
                raise BundleMalformed("/record must have string members 'org' and 'category'")
            record_jcs = canonicalize(record)
            salt = _hex(doc["salt"], "/salt", size=32, prefixed=False)
        leaf_jcs = canonicalize(doc["leaf"])
    except DomainError as exc:
        raise BundleMalformed(str(exc)) from None
    try:
        leaf = parse_leaf_entry(doc["leaf"])
    except MalformedObject as exc:
        raise BundleMalformed(f"/leaf{exc.pointer}: {exc.reason}") from None
    try:
        receipt = parse_receipt(doc["receipt"])
    except MalformedObject as exc:
        raise BundleMalformed(f"/receipt{exc.pointer}: {exc.reason}") from None

    log = _members(doc["log"], "/log", ("id", "index", "inclusion", "checkpoint"))
    checkpoint = _members(log["checkpoint"], "/log/checkpoint", ("size", "root"))
    inclusion = log["inclusion"]
    if not isinstance(inclusion, list) or len(inclusion) > _MAX_PROOF_NODES:
        raise BundleMalformed(
            f"/log/inclusion must be an array of at most {_MAX_PROOF_NODES} hashes"
        )
    log_proof = LogProof(
        id=_hex(log["id"], "/log/id", size=32, prefixed=True),
        index=_uint(log["index"], "/log/index"),
        inclusion=tuple(
            _hex(h, f"/log/inclusion/{i}", size=32, prefixed=False) for i, h in enumerate(inclusion)
        ),
        size=_uint(checkpoint["size"], "/log/checkpoint/size"),
        root=_hex(checkpoint["root"], "/log/checkpoint/root", size=32, prefixed=False),
    )

    chain = _members(
        doc["chain"],
        "/chain",
        ("chain_id", "checkpoint_log", "membership", "anchor_tx", "anchor_block"),
    )
    chain_ref = ChainRef(
        chain_id=_uint(chain["chain_id"], "/chain/chain_id"),
        checkpoint_log=_address(chain["checkpoint_log"], "/chain/checkpoint_log"),
        membership=_address(chain["membership"], "/chain/membership"),
        anchor_tx=_hex(chain["anchor_tx"], "/chain/anchor_tx", size=32, prefixed=True),
        anchor_block=_uint(chain["anchor_block"], "/chain/anchor_block"),
    )

    status = _members(doc["status"], "/status", ("source", "record_id"))
    if not isinstance(status["source"], str):
        raise BundleMalformed("/status/source must be a string")
    return Bundle(
        record=record,
        record_jcs=record_jcs,
        salt=salt,
        leaf=leaf,
        leaf_json=doc["leaf"],
        leaf_jcs=leaf_jcs,
        receipt=receipt,
        log=log_proof,
        chain=chain_ref,
        status_source=status["source"],
        record_id=_hex(status["record_id"], "/status/record_id", size=32, prefixed=False),
    )


def make_bundle(
    *,
    record: Mapping[str, Any] | None,
    salt: bytes | None,
    leaf: Mapping[str, Any],
    receipt: Mapping[str, Any],
    log_id: bytes,
    index: int,
    inclusion: Sequence[bytes],
    checkpoint_size: int,
    checkpoint_root: bytes,
    chain_id: int,
    checkpoint_log: str,
    membership: str,
    anchor_tx: bytes,
    anchor_block: int,
) -> dict[str, Any]:
    """Assemble a §7 proof bundle from its parts (no checking: see :func:`verify_bundle`).

    ``record``, ``leaf`` and ``receipt`` are the §2, §5 and §6 JSON objects; ``record``
    and ``salt`` are both ``None`` for a commitment-only bundle.
    """
    if (record is None) != (salt is None):
        raise ValueError("record and salt go together")
    opening: dict[str, Any] = {}
    if record is not None and salt is not None:
        opening = {"record": dict(record), "salt": salt.hex()}
    return {
        "v": BUNDLE_VERSION,
        **opening,
        "leaf": dict(leaf),
        "receipt": dict(receipt),
        "log": {
            "id": hex0x(log_id),
            "index": index,
            "inclusion": [h.hex() for h in inclusion],
            "checkpoint": {"size": checkpoint_size, "root": checkpoint_root.hex()},
        },
        "chain": {
            "chain_id": chain_id,
            "checkpoint_log": checkpoint_log,
            "membership": membership,
            "anchor_tx": hex0x(anchor_tx),
            "anchor_block": anchor_block,
        },
        "status": {"source": STATUS_SOURCE, "record_id": leaf_hash(canonicalize(leaf)).hex()},
    }


# ---------------------------------------------------------------------------------------
# Checks


@dataclass(slots=True)
class VerifyContext:
    """What checks may consult: the trusted chain and trust root, the optional network
    pepper, and ``findings`` where checks note what they established (signers, status)."""

    chain: ChainView
    trusted: TrustRoot
    pepper: bytes | None = field(default=None, repr=False)
    findings: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def domain(self) -> SigningDomain:
        return self.trusted.domain


class Check(Protocol):
    """One verification step."""

    @property
    def name(self) -> str:
        """The check's stable name, e.g. ``inclusion``."""
        ...

    def verify(self, bundle: Bundle, ctx: VerifyContext) -> None:
        """Return if the step holds; raise :class:`VerificationError` naming it otherwise."""
        ...


class _Base:
    name: ClassVar[str]

    def fail(self, detail: str) -> VerificationError:
        return VerificationError(self.name, detail)


class TrustRootCheck(_Base):
    """The bundle names the trusted chain id and contract addresses (exact EIP-55 form)."""

    name = "trust-root"

    def verify(self, bundle: Bundle, ctx: VerifyContext) -> None:
        c, t = bundle.chain, ctx.trusted
        if c.chain_id != t.chain_id:
            raise self.fail(
                f"bundle names chain id {c.chain_id}, the trusted chain is {t.chain_id}"
            )
        if c.membership != t.membership:
            raise self.fail(f"bundle names Membership {c.membership}, trusted is {t.membership}")
        if c.checkpoint_log != t.checkpoint_log:
            raise self.fail(
                f"bundle names CheckpointLog {c.checkpoint_log}, trusted is {t.checkpoint_log}"
            )


class RecordCommitmentCheck(_Base):
    """``SHA-256(salt || JCS(record))`` is the leaf's commitment, and the leaf's org and
    category are the record's. With the network pepper, the leaf's subject commitment is
    the record subject's too. Skipped for a commitment-only bundle (nothing to open)."""

    name = "record-commitment"

    def verify(self, bundle: Bundle, ctx: VerifyContext) -> None:
        leaf, record = bundle.leaf, bundle.record
        if record is None or bundle.salt is None:
            ctx.skipped.append(self.name)
            return
        if commitment(record, bundle.salt) != leaf.commitment:
            raise self.fail("SHA-256(salt || JCS(record)) differs from leaf.commitment")
        if record["org"] != hex0x(leaf.org):
            raise self.fail("record.org differs from leaf.org")
        if record["category"] != leaf.category:
            raise self.fail("record.category differs from leaf.category")
        if ctx.pepper is None:
            return
        subject = record.get("subject")
        try:
            if not isinstance(subject, Mapping):
                raise InvalidIdentifier("record.subject is not an object", check="format")
            sid = SubjectId(subject.get("kind"), subject.get("id"))  # type: ignore[arg-type]
        except InvalidIdentifier as exc:
            raise self.fail(f"record.subject is invalid: {exc}") from None
        if not leaf.names_subject(ctx.pepper, subject_commitment(ctx.pepper, sid)):
            raise self.fail("the leaf's subject (tag) is not record.subject's")
        ctx.findings["subject"] = "checked"


class DepartmentSignatureCheck(_Base):
    """The department's EIP-712 signature (for a batch: with the commitment's path to the
    signed root) recovers to ``Membership.keysAt(org, signed_at).signer``."""

    name = "department-signature"

    def verify(self, bundle: Bundle, ctx: VerifyContext) -> None:
        leaf = bundle.leaf
        try:
            signer = department_signer(
                ctx.domain,
                leaf.sig,
                org=leaf.org,
                category=leaf.category,
                commitment=leaf.commitment,
            )
        except BadSignature as exc:
            raise self.fail(str(exc)) from None
        expected = ctx.chain.keys_at(leaf.org, leaf.sig.signed_at)
        if expected is None:
            raise self.fail(
                f"org {hex0x(leaf.org)} had no registered signing key at {leaf.sig.signed_at}"
            )
        if signer != expected:
            raise self.fail(
                f"signature recovers to {signer}, the org's signer at {leaf.sig.signed_at} "
                f"is {expected}"
            )
        ctx.findings["department_signer"] = signer


class LeafHashCheck(_Base):
    """``SHA-256(0x00 || JCS(leaf))`` is the receipt's leaf hash and the record id."""

    name = "leaf-hash"

    def verify(self, bundle: Bundle, ctx: VerifyContext) -> None:
        computed = leaf_hash(bundle.leaf_jcs)
        if computed != bundle.receipt.leaf_hash:
            raise self.fail("SHA-256(0x00 || JCS(leaf)) differs from receipt.leaf_hash")
        if computed != bundle.record_id:
            raise self.fail("SHA-256(0x00 || JCS(leaf)) differs from status.record_id")


class InclusionCheck(_Base):
    """RFC 9162 inclusion of the leaf at ``log.index`` under ``log.checkpoint``."""

    name = "inclusion"

    def verify(self, bundle: Bundle, ctx: VerifyContext) -> None:
        log = bundle.log
        if not log.index < log.size:
            raise self.fail(f"index {log.index} is outside a checkpoint of size {log.size}")
        if not verify_inclusion(
            leaf_hash(bundle.leaf_jcs), log.index, log.size, list(log.inclusion), log.root
        ):
            raise self.fail(
                f"the proof does not show the leaf at index {log.index} under the root of "
                f"size {log.size}"
            )


class CheckpointOnChainCheck(_Base):
    """``CheckpointLog.checkpointForSize(log.id, size).root`` is ``log.checkpoint.root``,
    anchored in ``chain.anchor_block`` by ``chain.anchor_tx``."""

    name = "checkpoint-on-chain"

    def verify(self, bundle: Bundle, ctx: VerifyContext) -> None:
        log, chain = bundle.log, bundle.chain
        root = ctx.chain.checkpoint_root(log.id, log.size)
        if root is None:
            raise self.fail(f"no checkpoint of size {log.size} is anchored for log {hex0x(log.id)}")
        if root != log.root:
            raise self.fail(
                f"the anchored root of size {log.size} is {root.hex()}, not {log.root.hex()}"
            )
        anchor = ctx.chain.anchor(log.id, log.size)
        if anchor is None:
            raise self.fail("the anchoring transaction cannot be found on chain")
        if anchor.block_number != chain.anchor_block:
            raise self.fail(
                f"anchored in block {anchor.block_number}, the bundle says {chain.anchor_block}"
            )
        if anchor.tx_hash != chain.anchor_tx:
            raise self.fail(
                f"anchored by tx {hex0x(anchor.tx_hash)}, the bundle says {hex0x(chain.anchor_tx)}"
            )


class ReceiptSignatureCheck(_Base):
    """The receipt describes this leaf (log id, index, time), its log id is the gateway
    org's records log, and its signature recovers to the gateway org's signer at
    ``received_at``."""

    name = "receipt-signature"

    def verify(self, bundle: Bundle, ctx: VerifyContext) -> None:
        receipt = bundle.receipt
        if receipt.log_id != bundle.log.id:
            raise self.fail("receipt.log_id differs from log.id")
        if receipt.index != bundle.log.index:
            raise self.fail("receipt.index differs from log.index")
        if receipt.received_at != bundle.leaf.received_at:
            raise self.fail("receipt.received_at differs from leaf.received_at")
        if receipt.log_id != log_id(receipt.gateway, "records"):
            raise self.fail(
                f"log {hex0x(receipt.log_id)} is not the records log of gateway "
                f"{hex0x(receipt.gateway)}"
            )
        try:
            signer = receipt_signer(receipt, ctx.domain)
        except BadSignature as exc:
            raise self.fail(str(exc)) from None
        expected = ctx.chain.keys_at(receipt.gateway, receipt.received_at)
        if expected is None:
            raise self.fail(
                f"gateway {hex0x(receipt.gateway)} had no registered signing key at "
                f"{receipt.received_at}"
            )
        if signer != expected:
            raise self.fail(
                f"receipt signature recovers to {signer}, the gateway's signer at "
                f"{receipt.received_at} is {expected}"
            )
        ctx.findings["gateway_signer"] = signer


class StatusCheck(_Base):
    """The record's current lifecycle status, from the trusted chain's RecordStatus contract.

    A record that is no longer active still verifies: the status (and for a corrected record
    its successor) is what the check establishes. It fails when the chain pins the record's
    status to another origin than the leaf's department: a lifecycle change recorded for
    another department is not this record's.
    """

    name = "status"

    def verify(self, bundle: Bundle, ctx: VerifyContext) -> None:
        if bundle.status_source != STATUS_SOURCE:
            raise self.fail(f"unknown status source {bundle.status_source!r}")
        state = ctx.chain.record_status(bundle.record_id)
        if state.status not in RECORD_STATUSES:
            raise self.fail(f"the chain reports an unknown status {state.status!r}")
        if state.origin is not None and state.origin != bundle.leaf.org:
            raise self.fail(
                f"status set for another origin: the chain pins origin {hex0x(state.origin)}, "
                f"the record's department is {hex0x(bundle.leaf.org)}"
            )
        if state.status == "corrected":
            if state.successor is None:
                raise self.fail("the chain reports the record corrected but names no successor")
            ctx.findings["successor"] = state.successor.hex()
        ctx.findings["status"] = state.status
        if state.version > 0:  # transitioned at least once (an active record may have been)
            ctx.findings["status_updated_at"] = str(state.updated_at)
            if state.actor is not None:
                ctx.findings["status_actor"] = hex0x(state.actor)


DEFAULT_CHECKS: Final[tuple[Check, ...]] = (
    TrustRootCheck(),
    RecordCommitmentCheck(),
    DepartmentSignatureCheck(),
    LeafHashCheck(),
    InclusionCheck(),
    CheckpointOnChainCheck(),
    ReceiptSignatureCheck(),
    StatusCheck(),
)
"""The §8 checks, in order, preceded by ``trust-root``."""


# ---------------------------------------------------------------------------------------
# Running them


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """A valid bundle: the checks that passed, in order, and what they established.

    ``skipped`` lists checks that had nothing to check: ``record-commitment`` for a
    commitment-only bundle (``record_included`` is then False — the bundle proves that a
    record with this commitment was signed and anchored, not what it says).

    ``status`` is the record's lifecycle status on chain; a valid bundle of a record that is
    no longer active proves what was submitted, not that it still stands. ``successor`` is
    the record id of the new version when the record is ``corrected`` (None otherwise);
    ``status_updated_at`` (block time) and ``status_actor`` (org id) describe the latest
    transition, None for a record never transitioned.
    """

    record_id: str
    status: str
    checks: tuple[str, ...]
    skipped: tuple[str, ...]
    record_included: bool
    org: str
    category: str
    department_signer: str
    gateway: str
    gateway_signer: str
    log_id: str
    index: int
    checkpoint_size: int
    anchor_block: int
    subject_checked: bool
    successor: str | None = None
    status_updated_at: int | None = None
    status_actor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": True,
            "record_id": self.record_id,
            "status": self.status,
            "successor": self.successor,
            "status_updated_at": self.status_updated_at,
            "status_actor": self.status_actor,
            "checks": list(self.checks),
            "skipped": list(self.skipped),
            "record_included": self.record_included,
            "org": self.org,
            "category": self.category,
            "department_signer": self.department_signer,
            "gateway": self.gateway,
            "gateway_signer": self.gateway_signer,
            "log_id": self.log_id,
            "index": self.index,
            "checkpoint_size": self.checkpoint_size,
            "anchor_block": self.anchor_block,
            "subject_checked": self.subject_checked,
        }


def verify_bundle(
    bundle: object,
    chain_view: ChainView,
    *,
    trusted: TrustRoot,
    pepper: bytes | None = None,
    checks: Sequence[Check] = DEFAULT_CHECKS,
) -> VerificationResult:
    """Verify a proof bundle (the decoded JSON object) against the trusted chain.

    Runs ``checks`` in order (by default ``trust-root`` then the §8 checks) and stops at the
    first failure. With ``pepper`` (member gateways only) the leaf's subject commitment is
    checked against the record's subject too.

    Raises:
        BundleMalformed: the bundle cannot be parsed.
        VerificationError: a check failed; ``.check`` names it, ``.passed`` lists the
            checks that passed before it.
        ChainQueryFailed: the chain could not be queried (no verdict).
    """
    parsed = parse_bundle(bundle)
    ctx = VerifyContext(chain=chain_view, trusted=trusted, pepper=pepper)
    passed: list[str] = []
    for check in checks:
        try:
            check.verify(parsed, ctx)
        except VerificationError as exc:
            exc.passed = tuple(passed)
            raise
        if check.name not in ctx.skipped:
            passed.append(check.name)
    leaf = parsed.leaf
    updated_at = ctx.findings.get("status_updated_at")
    return VerificationResult(
        record_id=parsed.record_id.hex(),
        status=ctx.findings.get("status", "unknown"),
        checks=tuple(passed),
        skipped=tuple(ctx.skipped),
        record_included=parsed.record is not None,
        org=hex0x(leaf.org),
        category=leaf.category,
        department_signer=ctx.findings.get("department_signer", ""),
        gateway=hex0x(parsed.receipt.gateway),
        gateway_signer=ctx.findings.get("gateway_signer", ""),
        log_id=hex0x(parsed.log.id),
        index=parsed.log.index,
        checkpoint_size=parsed.log.size,
        anchor_block=parsed.chain.anchor_block,
        subject_checked=ctx.findings.get("subject") == "checked",
        successor=ctx.findings.get("successor"),
        status_updated_at=None if updated_at is None else int(updated_at),
        status_actor=ctx.findings.get("status_actor"),
    )
