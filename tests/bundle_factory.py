"""Build real, signed proof bundles for tests, and a fake ChainView with the contracts'
semantics (its twin test against the real adapter is tests/contracts/test_chain_view.py).

The log is a MemoryTree with filler leaves around the record's leaf; signatures are made
with test keys through the production signing code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from gateway.domain.identifiers import SubjectId, make_uscc, subject_commitment
from gateway.domain.merkle import MemoryTree, leaf_hash
from gateway.domain.records import (
    BatchPosition,
    DepartmentSignature,
    batch_paths,
    batch_root,
    commitment,
    hex0x,
    leaf_bytes,
    log_id,
    make_leaf_entry,
    make_receipt,
    org_id_for,
)
from gateway.domain.signing import SigningDomain, sign_typed, signing_domain, typed_signer
from gateway.verify import Anchor, RecordLifecycle, TrustRoot, make_bundle

CHAIN_ID = 31337
MEMBERSHIP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHECKPOINT_LOG = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
NOW = 1_795_660_000
PEPPER = hashlib.sha256(b"test network pepper").digest()
DEPT_USCC = make_uscc("11610800MB1234567")
GATEWAY_USCC = make_uscc("11610800MB7654321")
SUBJECT_USCC = make_uscc("91610802MA7ABCDE1")


def account_for(label: str) -> LocalAccount:
    """A deterministic account for ``label``."""
    account: LocalAccount = Account.from_key(hashlib.sha256(label.encode()).digest())
    return account


def sample_record(org: bytes, n: int = 0, *, category: str = "admin_penalty") -> dict[str, Any]:
    """A valid §2 record of ``category`` (admin_penalty or tax_credit_rating)."""
    if category == "tax_credit_rating":
        fields: dict[str, Any] = {
            "evaluation_year": 2025,
            "rating": "A",
            "assessed_date": "2026-04-01",
            "tax_authority_name": "国家税务总局榆林市税务局",
            "tax_authority_uscc": DEPT_USCC,
        }
    else:
        fields = {
            "decision_no": f"榆环罚〔2026〕{n + 1}号",
            "violation_type": "超标排放大气污染物",
            "violation_facts": "2026年1月在线监测数据显示颗粒物排放浓度超标。",
            "legal_basis": "《中华人民共和国大气污染防治法》第九十九条第二项",
            "penalty_types": ["fine"],
            "penalty_content": "罚款人民币伍拾万元整",
            "fine_amount_fen": 50_000_000 + n,
            "dishonesty_severity": "general",
            "decision_date": "2026-02-10",
            "authority_name": "榆林市生态环境局",
            "authority_uscc": DEPT_USCC,
        }
    return {
        "catalog": "2026.1",
        "category": category,
        "org": hex0x(org),
        "subject": {"kind": "uscc", "id": SUBJECT_USCC},
        "fields": fields,
    }


@dataclass
class FakeChainView:
    """In-memory chain with the contracts' semantics: ``keys_at`` answers the last key
    epoch whose ``valid_from <= timestamp`` (None before the first or for unknown orgs);
    checkpoints are looked up by exact (log id, size); a record never given a status is
    ``RecordLifecycle()`` (active, version 0)."""

    keys: dict[bytes, list[tuple[int, str]]] = field(default_factory=dict)
    checkpoints: dict[tuple[bytes, int], tuple[bytes, Anchor]] = field(default_factory=dict)
    statuses: dict[bytes, RecordLifecycle] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def register(self, org_id: bytes, signer: str, valid_from: int) -> None:
        epochs = self.keys.setdefault(org_id, [])
        assert not epochs or epochs[-1][0] <= valid_from, "epochs are appended in time order"
        epochs.append((valid_from, signer))

    def anchor_checkpoint(self, log: bytes, size: int, root: bytes, anchor: Anchor) -> None:
        self.checkpoints[(log, size)] = (root, anchor)

    def keys_at(self, org_id: bytes, timestamp: int) -> str | None:
        self.calls.append("keys_at")
        if not 0 <= timestamp < 2**64:
            return None
        found = None
        for valid_from, signer in self.keys.get(org_id, []):
            if valid_from <= timestamp:
                found = signer
        return found

    def checkpoint_root(self, log: bytes, size: int) -> bytes | None:
        self.calls.append("checkpoint_root")
        entry = self.checkpoints.get((log, size))
        return None if entry is None else entry[0]

    def anchor(self, log: bytes, size: int) -> Anchor | None:
        self.calls.append("anchor")
        entry = self.checkpoints.get((log, size))
        return None if entry is None else entry[1]

    def set_status(
        self,
        record_id: bytes,
        status: str,
        *,
        origin: bytes,
        actor: bytes | None = None,
        successor: bytes | None = None,
        reason: bytes = b"\x01" * 32,
        updated_at: int = 1_795_670_000,
    ) -> RecordLifecycle:
        """Record a transition the way RecordStatus does: origin pinned by the first one,
        the successor kept once set, the version counted."""
        before = self.statuses.get(record_id, RecordLifecycle())
        state = RecordLifecycle(
            status=status,
            successor=successor if successor is not None else before.successor,
            origin=before.origin or origin,
            actor=actor or origin,
            reason=reason,
            updated_at=updated_at,
            version=before.version + 1,
        )
        self.statuses[record_id] = state
        return state

    def record_status(self, record_id: bytes) -> RecordLifecycle:
        self.calls.append("record_status")
        return self.statuses.get(record_id, RecordLifecycle())


@dataclass
class Draft:
    """Everything of a bundle but its anchor."""

    record: dict[str, Any]
    salt: bytes
    leaf: dict[str, Any]
    receipt: dict[str, Any]
    tree: MemoryTree
    log_id: bytes
    index: int

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(leaf_bytes(self.leaf))

    def bundle(
        self, trusted: TrustRoot, *, anchor_tx: bytes, anchor_block: int, size: int | None = None
    ) -> dict[str, Any]:
        n = self.tree.size if size is None else size
        return make_bundle(
            record=self.record,
            salt=self.salt,
            leaf=self.leaf,
            receipt=self.receipt,
            log_id=self.log_id,
            index=self.index,
            inclusion=self.tree.inclusion_proof(self.index, n),
            checkpoint_size=n,
            checkpoint_root=self.tree.root(n),
            chain_id=trusted.chain_id,
            checkpoint_log=trusted.checkpoint_log,
            membership=trusted.membership,
            anchor_tx=anchor_tx,
            anchor_block=anchor_block,
        )


@dataclass
class BundleFactory:
    """Signs records as a department and appends/receipts them as a gateway."""

    trusted: TrustRoot = field(
        default_factory=lambda: TrustRoot(CHAIN_ID, MEMBERSHIP, CHECKPOINT_LOG)
    )
    department: LocalAccount = field(default_factory=lambda: account_for("department"))
    gateway: LocalAccount = field(default_factory=lambda: account_for("gateway"))
    dept_org: bytes = field(default_factory=lambda: org_id_for(DEPT_USCC))
    gateway_org: bytes = field(default_factory=lambda: org_id_for(GATEWAY_USCC))
    pepper: bytes = PEPPER
    log_override: bytes | None = None  # receipt into a log that is not this gateway's
    leaf_version: int = 2  # 1: a leaf written before the subject tag (plain commitment)

    @property
    def domain(self) -> SigningDomain:
        return signing_domain(self.trusted.chain_id, self.trusted.membership)

    @property
    def records_log(self) -> bytes:
        return self.log_override or log_id(self.gateway_org, "records")

    def draft(
        self,
        *,
        batch: int = 1,
        position: int = 0,
        log_size: int = 7,
        leaf_index: int = 3,
        signed_at: int = NOW,
        received_at: int = NOW + 1,
        signer: LocalAccount | None = None,
        receipt_time: int | None = None,
    ) -> Draft:
        """Sign ``batch`` records (one CreditRecord signature when ``batch == 1``), and
        append record ``position`` of them at ``leaf_index`` of a log of ``log_size``."""
        records = [sample_record(self.dept_org, n) for n in range(batch)]
        salts = [hashlib.sha256(b"salt %d" % n).digest() for n in range(batch)]
        commitments = [commitment(r, s) for r, s in zip(records, salts, strict=True)]
        nonce = hashlib.sha256(b"nonce %d" % signed_at).digest()
        key = signer or self.department
        if batch == 1:
            value = sign_typed(
                key,
                self.domain,
                "CreditRecord",
                {
                    "org": self.dept_org,
                    "category": records[0]["category"],
                    "commitment": commitments[0],
                    "signedAt": signed_at,
                    "nonce": nonce,
                },
            )
            sig = DepartmentSignature("CreditRecord", signed_at, nonce, value)
        else:
            root = batch_root(commitments)
            value = sign_typed(
                key,
                self.domain,
                "CreditRecordBatch",
                {
                    "org": self.dept_org,
                    "root": root,
                    "count": batch,
                    "signedAt": signed_at,
                    "nonce": nonce,
                },
            )
            path = batch_paths(commitments)[position]
            sig = DepartmentSignature(
                "CreditRecordBatch",
                signed_at,
                nonce,
                value,
                BatchPosition(root, batch, position, tuple(path)),
            )
        record = records[position]
        subject = SubjectId("uscc", record["subject"]["id"])
        leaf = make_leaf_entry(
            org=self.dept_org,
            category=record["category"],
            subject_commitment=subject_commitment(self.pepper, subject),
            commitment=commitments[position],
            signature=sig,
            received_at=received_at,
            pepper=self.pepper,
        )
        if self.leaf_version == 1:
            del leaf["subject_tag"]
            leaf |= {"v": 1, "subject": subject_commitment(self.pepper, subject).hex()}
        entry_hash = leaf_hash(leaf_bytes(leaf))
        tree = MemoryTree(
            entry_hash if i == leaf_index else leaf_hash(b"filler %d" % i) for i in range(log_size)
        )
        receipt = make_receipt(
            log_id=self.records_log,
            index=leaf_index,
            leaf_hash=entry_hash,
            received_at=received_at if receipt_time is None else receipt_time,
            anchor_by=received_at + 60,
            gateway=self.gateway_org,
            sign=typed_signer(self.gateway, self.domain),
        )
        return Draft(
            record, salts[position], leaf, receipt.to_json(), tree, self.records_log, leaf_index
        )

    def fake_chain(self, *, keys_from: int = NOW - 1000) -> FakeChainView:
        """A fake chain where both orgs have had their keys since ``keys_from``."""
        view = FakeChainView()
        view.register(self.dept_org, self.department.address, keys_from)
        view.register(self.gateway_org, self.gateway.address, keys_from)
        return view

    def scenario(self, **draft_args: Any) -> tuple[dict[str, Any], FakeChainView]:
        """A valid bundle and a fake chain on which it verifies."""
        draft = self.draft(**draft_args)
        view = self.fake_chain()
        anchor = Anchor(block_number=57, tx_hash=hashlib.sha256(b"anchor tx").digest())
        view.anchor_checkpoint(draft.log_id, draft.tree.size, draft.tree.root(), anchor)
        bundle = draft.bundle(
            self.trusted, anchor_tx=anchor.tx_hash, anchor_block=anchor.block_number
        )
        return bundle, view
