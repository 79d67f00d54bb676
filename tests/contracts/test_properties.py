"""Stateful property tests of the contracts: hypothesis `RuleBasedStateMachine`s driving the
deployed contracts on the embedded eth-tester chain against small Python models.

(a) CheckpointLog: anchored sizes strictly grow, every anchored checkpoint stays retrievable and
    unchanged, consecutive checkpoints are consistent (RFC 9162 proofs over a model tree, checked
    by gateway/domain/merkle.py), and invalid or forking anchors revert and change nothing.
(b) Grants: once revoked, a grant is never live again, whatever grants, revocations, renewals
    (a new grant for the same parties), re-creations, suspensions and clock moves follow.
(c) RecordStatus: a record's status moves only along the allowed edges, its version grows by one
    per transition and its origin stays pinned; the chain's own StatusChanged log agrees.
(d) Access control: non-admin callers calling every role-granting or admin function never obtain
    a role (nor a Membership signing key, the authority Grants and RecordStatus rely on); only
    the admin path grants.

Example counts are modest so the file runs in about a minute; raise them with
CONTRACT_PROPERTY_EXAMPLES and CONTRACT_PROPERTY_STEPS.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gateway.domain import lifecycle
from gateway.domain.merkle import MemoryTree, leaf_hash, verify_consistency
from node import (
    Chain,
    Checkpoint,
    ContractRevert,
    GrantBasis,
    GrantParams,
    OrgKind,
    StatusCode,
    StatusTransition,
    embedded,
    purpose_id,
    reason_code,
    registrar_role,
)
from tests.conftest import FUNDING, Consortium
from tests.conftest import make_consortium as _make_consortium

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("CONTRACT_PROPERTY_EXAMPLES", "3"))
STEPS = int(os.environ.get("CONTRACT_PROPERTY_STEPS", "20"))
ZERO = b"\x00" * 32
YULIN = 610800
DAY = 86_400
ADMIN_DELAY = 3600
S = StatusCode
_ids = itertools.count(1)
RUN: Counter[str] = Counter()  # what the machines did, summed over all examples


def make_consortium(chain: Chain, admin_delay: int) -> Consortium:
    """The machines' consortium: its registrar is Yulin's only (the one registrar role the
    access-control model tracks; every organisation here is of Yulin)."""
    return _make_consortium(chain, admin_delay, (YULIN,))


def fresh_id() -> bytes:
    return next(_ids).to_bytes(4, "big") + os.urandom(28)


@cache
def shared_chain() -> Chain:
    """One embedded chain for the module; every example deploys its own contracts on it."""
    return embedded()


def run(machine: type[RuleBasedStateMachine]) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        ),
    )


def expect_revert(fn: Callable[[], Any], *names: str) -> str:
    """Call ``fn``; it must revert with one of ``names``. Returns the error name."""
    with pytest.raises(ContractRevert) as info:
        fn()
    assert info.value.name in names, (info.value.name, names)
    return info.value.name


def now(c: Consortium) -> int:
    return int(c.chain.w3.eth.get_block("latest")["timestamp"])


def new_org(c: Consortium, kind: OrgKind) -> tuple[LocalAccount, bytes]:
    signer, org_id = c.new_account(), fresh_id()
    c.membership.register_org(c.registrar, org_id, YULIN, kind, signer.address, os.urandom(32))
    return signer, org_id


def report(name: str) -> None:
    keys = sorted(k for k in RUN if k.startswith(name + ":"))
    print(f"\n{name}: " + ", ".join(f"{k.split(':', 1)[1]} {RUN[k]}" for k in keys))


# ---------------------------------------------------------------------------------------------
# (a) CheckpointLog
# ---------------------------------------------------------------------------------------------

BAD_ANCHORS = (
    "stale",  # an older (or the latest) size again
    "conflict",  # the latest size with another root (a fork at the same size)
    "fork",  # a larger tree that shares only a prefix of the anchored one
    "bad_proof",  # the right new tree, a damaged consistency proof
    "wrong_root",  # the right proof, another root
    "not_operator",  # a valid anchor sent by someone else
    "empty",  # size zero
)


class CheckpointLogMachine(RuleBasedStateMachine):
    """The operator grows a model RFC 9162 tree and anchors some of its sizes; bad anchors of
    every kind are tried in between."""

    def __init__(self) -> None:
        super().__init__()
        self.c = make_consortium(shared_chain(), ADMIN_DELAY)
        self.log_id = fresh_id()
        self.operator = self.c.operator
        self.c.log.register_log(self.c.log_admin, self.log_id, b"\x01" * 32, self.operator.address)
        self.tree = MemoryTree()
        self.leaves: list[bytes] = []  # the model tree's leaf hashes
        self.anchored: list[Checkpoint] = []  # each as read back right after anchoring
        self.bad = 0

    def last_size(self) -> int:
        return self.anchored[-1].size if self.anchored else 0

    def anchor(self, sender: LocalAccount, size: int, root: bytes, proof: list[bytes]) -> None:
        self.c.log.anchor(sender, self.log_id, size, root, proof)

    def extend(self, n: int) -> None:
        new = [leaf_hash(os.urandom(8)) for _ in range(n)]
        self.leaves.extend(new)
        self.tree.extend(new)

    @rule(grow=st.integers(0, 9), data=st.data())
    def anchor_next(self, grow: int, data: st.DataObject) -> None:
        """Grow the model tree by ``grow`` leaves, then anchor one of its new sizes."""
        last = self.last_size()
        self.extend(max(grow, last + 1 - self.tree.size))
        size = data.draw(st.integers(last + 1, self.tree.size), label="size")
        proof = self.tree.consistency_proof(last, size) if last else []
        self.anchor(self.operator, size, self.tree.root(size), proof)
        latest = self.c.log.latest(self.log_id)
        assert latest is not None
        assert (latest.size, latest.root) == (size, self.tree.root(size))
        self.anchored.append(latest)
        RUN["checkpoints:anchored"] += 1

    @rule(data=st.data())
    def anchor_bad(self, data: st.DataObject) -> None:
        """A bad anchor of each kind in turn (round robin, so a short run tries them all)."""
        kind = BAD_ANCHORS[self.bad % len(BAD_ANCHORS)]
        self.bad += 1
        last = self.last_size()
        tree = self.tree
        if kind in ("stale", "conflict", "fork", "wrong_root") and last == 0:
            self.anchor_next(grow=1, data=data)  # these need an anchored checkpoint
            last = self.last_size()
        if kind in ("bad_proof", "not_operator") and tree.size <= last:
            self.extend(data.draw(st.integers(1, 5), label="grow first"))
        errors: tuple[str, ...]
        if kind == "stale":
            size = data.draw(st.integers(1, last), label="size")
            args = (self.operator, size, tree.root(size), [])
            errors = ("CheckpointAlreadyAnchored",) if size == last else ("CheckpointNotNewer",)
        elif kind == "conflict":
            args = (self.operator, last, os.urandom(32), [])
            errors = ("ConflictingRoot",)
        elif kind == "fork":
            shared = data.draw(st.integers(0, last - 1), label="shared prefix")
            size = data.draw(st.integers(last + 1, last + 8), label="size")
            fork = MemoryTree(self.leaves[:shared])
            fork.extend(leaf_hash(os.urandom(8)) for _ in range(size - shared))
            args = (self.operator, size, fork.root(), fork.consistency_proof(last, size))
            errors = ("InvalidConsistencyProof",)
        elif kind == "bad_proof":
            size = data.draw(st.integers(last + 1, tree.size), label="size")
            proof = tree.consistency_proof(last, size) if last else []
            how = data.draw(st.sampled_from(("flip", "drop", "extra", "swap")), label="damage")
            if how == "flip" and proof:
                i = data.draw(st.integers(0, len(proof) - 1))
                proof[i] = bytes([proof[i][0] ^ 1]) + proof[i][1:]
            elif how == "drop" and proof:
                proof.pop(data.draw(st.integers(0, len(proof) - 1)))
            elif how == "swap" and len(proof) > 1 and proof[0] != proof[-1]:
                proof[0], proof[-1] = proof[-1], proof[0]
            else:
                proof.append(os.urandom(32))
            # The oracle decides; a damaged proof the RFC algorithm still accepted would be a
            # valid anchor (none is expected, but then the contract must accept it too).
            old_root = self.anchored[-1].root if last else ZERO
            assert not verify_consistency(last, size, old_root, tree.root(size), proof)
            args = (self.operator, size, tree.root(size), proof)
            errors = ("InvalidConsistencyProof",)
        elif kind == "wrong_root":
            size = data.draw(st.integers(last + 1, last + 8), label="size")
            proof = tree.consistency_proof(last, size) if size <= tree.size else [os.urandom(32)]
            args = (self.operator, size, os.urandom(32), proof)
            errors = ("InvalidConsistencyProof",)
        elif kind == "not_operator":
            # The log admin first hands the log to a new operator: the old one is refused too.
            old, self.operator = self.operator, self.c.new_account()
            self.c.chain.transact(
                self.c.log_admin,
                self.c.log.contract.functions.setOperator(self.log_id, self.operator.address),
            )
            size = tree.size
            proof = tree.consistency_proof(last, size) if last else []
            sender = data.draw(
                st.sampled_from((old, self.c.stranger, self.c.admin, self.c.log_admin)),
                label="sender",
            )
            args = (sender, size, tree.root(size), proof)
            errors = ("NotLogOperator",)
        else:  # empty
            args = (self.operator, 0, tree.root(0), [])
            errors = ("EmptyCheckpoint",)
        expect_revert(lambda: self.anchor(*args), *errors)
        RUN[f"checkpoints:refused {kind}"] += 1

    @invariant()
    def history_is_append_only_and_consistent(self) -> None:
        log = self.c.log
        assert log.count(self.log_id) == len(self.anchored)
        for i, cp in enumerate(self.anchored):
            assert log.at(self.log_id, i) == cp, i  # retrievable and unchanged
            assert cp.root == self.tree.root(cp.size)  # the model tree's root at that size
        for a, b in itertools.pairwise(self.anchored):
            assert a.size < b.size
            assert a.block_number < b.block_number
            assert a.timestamp <= b.timestamp
            proof = self.tree.consistency_proof(a.size, b.size)
            assert verify_consistency(a.size, b.size, a.root, b.root, proof)
        if self.anchored:
            newest = self.anchored[-1]
            assert log.latest(self.log_id) == newest
            assert log.for_size(self.log_id, newest.size) == newest
        RUN["checkpoints:invariant checks"] += 1


def test_checkpoint_log_properties() -> None:
    run(CheckpointLogMachine)
    report("checkpoints")
    assert RUN["checkpoints:anchored"] > 0
    assert all(RUN[f"checkpoints:refused {k}"] > 0 for k in BAD_ANCHORS)


# ---------------------------------------------------------------------------------------------
# (b) Grants
# ---------------------------------------------------------------------------------------------

LOAN = purpose_id("loan_approval")


@dataclass
class GrantModel:
    params: GrantParams
    nonce: bytes
    revoked_at: int = 0


class GrantsMachine(RuleBasedStateMachine):
    """A credit office, a bank (the grantee) and a subject create, revoke, renew and try to
    re-create grants while the clock moves and the bank is suspended and reactivated."""

    def __init__(self) -> None:
        super().__init__()
        c = self.c = make_consortium(shared_chain(), ADMIN_DELAY)
        self.g = c.deployment.grants(c.chain)
        self.office, self.office_id = new_org(c, OrgKind.CREDIT_OFFICE)
        self.bank, self.bank_id = new_org(c, OrgKind.FINANCIAL_INSTITUTION)
        self.subject = os.urandom(32)
        self.subject_key: LocalAccount = Account.create()
        self.g.bind_subject_key(self.office, self.subject, self.subject_key.address)
        self.relayer = c.new_account()
        self.bank_active = True
        self.grants: dict[bytes, GrantModel] = {}

    def params(self, start: int, length: int) -> GrantParams:
        t = now(self.c)
        return GrantParams(
            subject=self.subject,
            grantee=self.bank_id,
            purpose=LOAN,
            categories=0b1011,
            valid_from=max(0, t + start),
            valid_until=max(0, t + start) + length,
            basis=GrantBasis.CONSENT,
            evidence_hash=os.urandom(32),
        )

    def rebind_subject_key(self) -> None:
        """The credit office binds the subject to a new key (a lost phone)."""
        self.subject_key = Account.create()
        self.g.bind_subject_key(self.office, self.subject, self.subject_key.address)
        RUN["grants:subject key rebinds"] += 1

    def create(self, how: str, p: GrantParams, nonce: bytes) -> None:
        if how == "subject":
            if p.evidence_hash[0] < 64:  # now and then, on a new key
                self.rebind_subject_key()
            deadline = now(self.c) + 3600
            sig = self.g.sign_grant(self.subject_key, p, nonce, deadline)
            self.g.create_grant_by_subject(self.relayer, p, nonce, deadline, sig)
        else:
            self.g.create_grant(self.office if how == "office" else self.bank, p, nonce)

    # One rule picks the action (hypothesis' swarm testing would otherwise switch whole rules
    # off for an example, and a short run would rarely reach a renewal of a revoked grant).
    @rule(
        action=st.sampled_from(
            ("create",) * 3
            + ("revoke",) * 3
            + ("again",) * 2
            + ("renew",) * 2
            + ("time",) * 2
            + ("toggle",)
        ),
        how=st.sampled_from(("subject", "office", "bank")),
        data=st.data(),
    )
    def step(self, action: str, how: str, data: st.DataObject) -> None:
        {
            "create": self.create_grant,
            "revoke": self.revoke,
            "again": self.revoke_again_or_recreate,
            "renew": self.renew,
            "time": self.advance_time,
            "toggle": self.toggle_bank,
        }[action](data, how)

    def revoked(self) -> list[bytes]:
        return [gid for gid, m in self.grants.items() if m.revoked_at]

    def create_grant(self, data: st.DataObject, how: str) -> None:
        start = data.draw(st.integers(-2 * DAY, 2 * DAY), label="start")
        length = data.draw(st.integers(3600, 30 * DAY), label="length")
        p, nonce = self.params(start, max(length, -start + 600)), os.urandom(32)
        if how == "bank" and not self.bank_active:
            expect_revert(lambda: self.create(how, p, nonce), "CallerOrgNotActive")
            return
        if not self.bank_active:
            expect_revert(lambda: self.create(how, p, nonce), "GranteeNotActive")
            return
        self.create(how, p, nonce)
        gid = p.grant_id(nonce)
        assert gid not in self.grants
        self.grants[gid] = GrantModel(p, nonce)
        RUN[f"grants:created by {how}"] += 1

    def revoke(self, data: st.DataObject, how: str) -> None:
        if all(m.revoked_at for m in self.grants.values()):
            self.create_grant(data, how)
            return
        gid = data.draw(
            st.sampled_from(sorted(g for g, m in self.grants.items() if not m.revoked_at))
        )
        m = self.grants[gid]
        registrar = self.g.grant(gid).registrar
        if how == "subject":
            deadline = now(self.c) + 3600
            sig = self.g.sign_revocation(self.subject_key, gid, deadline)
            receipt = self.g.revoke_by_subject(self.relayer, gid, deadline, sig)
        elif how == "bank" and (not self.bank_active or registrar != self.bank_id):
            expect_revert(
                lambda: self.g.revoke_grant(self.bank, gid),
                "CallerOrgNotActive",
                "NotRegistrarOrCreditOffice",
            )
            return
        else:
            receipt = self.g.revoke_grant(self.office if how == "office" else self.bank, gid)
        m.revoked_at = int(self.c.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
        RUN[f"grants:revoked by {how}"] += 1

    def revoke_again_or_recreate(self, data: st.DataObject, how: str) -> None:
        if not self.revoked():
            self.revoke(data, how)
            return
        """A revoked grant cannot be revoked again, nor re-created under its id (same
        parameters and nonce), by anyone."""
        gid = data.draw(st.sampled_from(sorted(self.revoked())))
        m = self.grants[gid]
        if data.draw(st.booleans(), label="re-create"):
            expect_revert(
                lambda: self.create(how, m.params, m.nonce),
                "GrantExists",
                "InvalidValidity",  # expired meanwhile: refused before the id is looked up
                "GranteeNotActive",
                "CallerOrgNotActive",
            )
            RUN["grants:re-creations refused"] += 1
        else:
            if how == "subject":
                deadline = now(self.c) + 3600
                sig = self.g.sign_revocation(self.subject_key, gid, deadline)
                call: Callable[[], Any] = lambda: self.g.revoke_by_subject(  # noqa: E731
                    self.relayer, gid, deadline, sig
                )
            else:
                account = self.office if how == "office" else self.bank
                call = lambda: self.g.revoke_grant(account, gid)  # noqa: E731
            expect_revert(call, "GrantAlreadyRevoked", "CallerOrgNotActive")
            RUN["grants:second revocations refused"] += 1

    def renew(self, data: st.DataObject, how: str) -> None:
        if not self.revoked():
            self.revoke(data, how)
            return
        how = "subject" if how == "bank" else how
        """Renewing a revoked grant makes a new grant (a new id); the old one stays revoked."""
        gid = data.draw(st.sampled_from(sorted(self.revoked())))
        t = now(self.c)
        p = dataclasses.replace(self.grants[gid].params, valid_from=t, valid_until=t + 30 * DAY)
        nonce = os.urandom(32)
        if not self.bank_active:
            expect_revert(lambda: self.create(how, p, nonce), "GranteeNotActive")
            return
        self.create(how, p, nonce)
        new = p.grant_id(nonce)
        assert new != gid
        assert new not in self.grants
        self.grants[new] = GrantModel(p, nonce)
        RUN["grants:renewals"] += 1

    def advance_time(self, data: st.DataObject, how: str) -> None:
        seconds = data.draw(st.sampled_from((1, 60, 3600, DAY, 7 * DAY, 40 * DAY)), label="s")
        self.c.chain.advance_time(seconds)
        RUN["grants:clock moves"] += 1

    def toggle_bank(self, data: st.DataObject, how: str) -> None:
        if self.bank_active:
            self.c.membership.suspend(self.c.registrar, self.bank_id, b"\x02" * 32)
        else:
            self.c.membership.reactivate(self.c.registrar, self.bank_id)
        self.bank_active = not self.bank_active
        RUN["grants:bank suspensions/reactivations"] += 1

    @invariant()
    def revoked_grants_stay_dead(self) -> None:
        t = now(self.c)
        for gid, m in self.grants.items():
            on_chain = self.g.grant(gid)
            assert on_chain.revoked_at == m.revoked_at, gid
            p = m.params
            if m.revoked_at:
                # Not live now, nor at any instant of its validity window.
                for moment in (t, p.valid_from, p.valid_until - 1):
                    assert not self.g.is_live(gid, moment), (gid, moment)
                assert not self.g.permits(gid, p.subject, p.grantee, p.purpose, 0, p.valid_from)
                RUN["grants:revoked grants checked"] += 1
            else:
                assert self.g.is_live(gid, t) == (p.valid_from <= t < p.valid_until)
        RUN["grants:invariant checks"] += 1


def test_grants_revocation_is_final() -> None:
    run(GrantsMachine)
    report("grants")
    assert RUN["grants:revoked grants checked"] > 0
    assert RUN["grants:renewals"] > 0


# ---------------------------------------------------------------------------------------------
# (c) RecordStatus
# ---------------------------------------------------------------------------------------------

# The transition table of IRecordStatus, written out independently of the contract.
ALLOWED: dict[StatusCode, frozenset[StatusCode]] = {
    S.ACTIVE: frozenset({S.OBJECTED, S.CORRECTED, S.REPAIRED, S.WITHDRAWN, S.ERASED}),
    S.OBJECTED: frozenset({S.ACTIVE, S.CORRECTED, S.REPAIRED, S.WITHDRAWN, S.ERASED}),
    S.CORRECTED: frozenset({S.ERASED}),
    S.REPAIRED: frozenset({S.ERASED}),
    S.WITHDRAWN: frozenset({S.ERASED}),
    S.ERASED: frozenset(),
}


def test_transition_table_matches_the_domain_model() -> None:
    """The gateway's lifecycle table (gateway/domain/lifecycle.py) is this one."""
    assert {k: frozenset(v) for k, v in lifecycle.ALLOWED.items() if v} == {
        f.label: frozenset(t.label for t in to) for f, to in ALLOWED.items() if to
    }


@dataclass
class RecordModel:
    status: StatusCode = S.ACTIVE
    version: int = 0
    origin: bytes = ZERO
    last: tuple[StatusTransition, bytes] | None = None


class RecordStatusMachine(RuleBasedStateMachine):
    """A gateway relays transitions of a few records signed by departments, a credit office and
    a bank — with wrong origins, stale versions and replays mixed in."""

    def __init__(self) -> None:
        super().__init__()
        c = self.c = make_consortium(shared_chain(), ADMIN_DELAY)
        self.rs = c.deployment.record_status(c.chain)
        self.from_block = c.chain.head()
        kinds = {
            "gateway": OrgKind.GATEWAY,
            "dept": OrgKind.DEPARTMENT,
            "other_dept": OrgKind.DEPARTMENT,
            "office": OrgKind.CREDIT_OFFICE,
            "bank": OrgKind.FINANCIAL_INSTITUTION,
        }
        self.orgs = {who: new_org(c, kind) for who, kind in kinds.items()}
        self.records = {fresh_id(): RecordModel() for _ in range(3)}

    def expected_error(self, m: RecordModel, t: StatusTransition) -> str | None:
        """The contract's checks, in its documented order, over the model."""
        if t.version != m.version:
            return "VersionMismatch"
        origin = m.origin if m.origin != ZERO else t.origin
        if t.origin != origin:
            return "OriginMismatch"
        office = t.actor == self.orgs["office"][1]
        if t.actor != origin and not office:
            return "NotOriginOrCreditOffice"
        if t.to == S.REPAIRED and not office:
            return "RepairRequiresCreditOffice"
        if t.to not in ALLOWED[m.status]:
            return "TransitionNotAllowed"
        return None

    @rule(
        data=st.data(),
        to=st.sampled_from(list(S)),
        actor=st.sampled_from(("dept", "dept", "office", "office", "other_dept", "bank")),
        origin=st.sampled_from(("dept", "dept", "dept", "other_dept")),
        stale=st.sampled_from((0, 0, 0, 0, -1, 1)),
    )
    def transition(
        self, data: st.DataObject, to: StatusCode, actor: str, origin: str, stale: int
    ) -> None:
        rid = data.draw(st.sampled_from(sorted(self.records)), label="record")
        m = self.records[rid]
        if ALLOWED[m.status] and data.draw(st.integers(0, 2), label="along an edge"):
            to = data.draw(st.sampled_from(sorted(ALLOWED[m.status])), label="edge to")
        t = StatusTransition(
            record_id=rid,
            origin=self.orgs[origin][1],
            to=to,
            successor=fresh_id() if to == S.CORRECTED else ZERO,
            reason=reason_code(f"reason-{to.label}"),
            evidence=os.urandom(32),
            actor=self.orgs[actor][1],
            version=max(0, m.version + stale),
            deadline=now(self.c) + 3600,
        )
        sig = self.rs.sign(self.orgs[actor][0], t)
        error = self.expected_error(m, t)
        if error is not None:
            expect_revert(lambda: self.rs.transition(self.orgs["gateway"][0], t, sig), error)
            RUN[f"status:refused {error}"] += 1
            return
        self.rs.transition(self.orgs["gateway"][0], t, sig)
        RUN[f"status:edge {m.status.label}->{to.label}"] += 1
        m.status, m.version, m.last = to, m.version + 1, (t, sig)
        if m.origin == ZERO:
            m.origin = t.origin

    @precondition(lambda self: any(m.last for m in self.records.values()))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """A relayed transition, sent again, is refused: its signature names a spent version."""
        rid = data.draw(st.sampled_from(sorted(r for r, m in self.records.items() if m.last)))
        last = self.records[rid].last
        assert last is not None
        t, sig = last
        expect_revert(
            lambda: self.rs.transition(self.orgs["gateway"][0], t, sig), "VersionMismatch"
        )
        RUN["status:replays refused"] += 1

    @invariant()
    def status_follows_the_table(self) -> None:
        events = self.rs.status_changes(self.from_block)
        by_record: dict[bytes, list[dict[str, Any]]] = {}
        for ev in events:
            by_record.setdefault(ev["record_id"], []).append(ev)
        assert set(by_record) <= set(self.records)
        for rid, m in self.records.items():
            state = self.rs.state(rid)
            assert (state.status, state.version, state.origin) == (m.status, m.version, m.origin)
            # The chain's own log: versions 1..n, each from the previous status along an edge.
            status = S.ACTIVE
            history = by_record.get(rid, [])
            assert [ev["version"] for ev in history] == list(range(1, m.version + 1))
            for ev in history:
                assert ev["from"] == status
                assert ev["to"] in ALLOWED[status], (ev["from"], ev["to"])
                status = ev["to"]
            assert status == m.status
        RUN["status:invariant checks"] += 1


def test_record_status_moves_along_allowed_edges() -> None:
    run(RecordStatusMachine)
    report("status")
    assert sum(v for k, v in RUN.items() if k.startswith("status:edge")) > 0
    assert RUN["status:refused TransitionNotAllowed"] > 0


# ---------------------------------------------------------------------------------------------
# (d) Access control
# ---------------------------------------------------------------------------------------------

DEFAULT_ADMIN = ZERO
ROLES = {
    "CheckpointLog": (DEFAULT_ADMIN, keccak(text="LOG_ADMIN_ROLE")),
    "Membership": (DEFAULT_ADMIN, registrar_role(YULIN)),
}
NAMES = ("admin", "log_admin", "registrar", "operator", "stranger", "dept", "office", "new")
UNAUTHORIZED = (
    "AccessControlUnauthorizedAccount",
    "AccessControlBadConfirmation",
    "AccessControlEnforcedDefaultAdminRules",
    "AccessControlInvalidDefaultAdmin",
    "AccessControlEnforcedDefaultAdminDelay",  # renouncing the admin's role for it
    "NotOrgSignerOrRegistrar",
    "NotCityRegistrar",
)


class AccessControlMachine(RuleBasedStateMachine):
    """Accounts without the needed role call every role-granting and admin function of
    CheckpointLog and Membership; the admin grants, revokes and transfers its own role."""

    def __init__(self) -> None:
        super().__init__()
        self.from_block = shared_chain().head() + 1
        c = self.c = make_consortium(shared_chain(), ADMIN_DELAY)
        self.accounts: dict[str, LocalAccount] = {
            "admin": c.admin,
            "log_admin": c.log_admin,
            "registrar": c.registrar,
            "operator": c.operator,
            "stranger": c.stranger,
        }
        for name, kind in (("dept", OrgKind.DEPARTMENT), ("office", OrgKind.CREDIT_OFFICE)):
            signer, org_id = new_org(c, kind)
            self.accounts[name] = signer
            setattr(self, f"{name}_id", org_id)
        new: LocalAccount = Account.create()
        c.chain.fund(new.address, FUNDING)
        self.accounts["new"] = new
        self.contracts = {"CheckpointLog": c.log.contract, "Membership": c.membership.contract}
        # The model: who holds which role, who is the default admin, who is pending.
        self.holders: dict[tuple[str, bytes], set[str]] = {
            ("CheckpointLog", ROLES["CheckpointLog"][0]): {"admin"},
            ("CheckpointLog", ROLES["CheckpointLog"][1]): {"log_admin"},
            ("Membership", ROLES["Membership"][0]): {"admin"},
            ("Membership", ROLES["Membership"][1]): {"registrar"},
        }
        self.pending: dict[str, tuple[str, int] | None] = dict.fromkeys(self.contracts)
        self.signers = {"dept", "office"}  # accounts that are some org's current signer

    def admin_of(self, contract: str) -> str:
        (admin,) = self.holders[(contract, DEFAULT_ADMIN)]
        return admin

    def has(self, contract: str, role: bytes, who: str) -> bool:
        return who in self.holders[(contract, role)]

    def send(self, who: str, contract: str, fn: str, *args: Any) -> Any:
        f = getattr(self.contracts[contract].functions, fn)(*args)
        return self.c.chain.transact(self.accounts[who], f)

    # One rule picks the action (hypothesis' swarm testing would otherwise switch whole rules
    # off for an example, and a short run would rarely try the non-admin calls).
    @rule(
        action=st.sampled_from(
            ("non_admin",) * 4
            + ("signer",) * 2
            + ("grant",) * 2
            + ("direct", "renounce", "begin", "begin", "cancel", "time", "time", "accept", "accept")
        ),
        contract=st.sampled_from(sorted(ROLES)),
        caller=st.sampled_from(NAMES),
        whom=st.sampled_from(NAMES),
        role=st.sampled_from((0, 1)),
        flag=st.booleans(),
        seconds=st.sampled_from((60, ADMIN_DELAY // 2, 2 * ADMIN_DELAY)),
        data=st.data(),
    )
    def step(
        self,
        action: str,
        contract: str,
        caller: str,
        whom: str,
        role: int,
        flag: bool,
        seconds: int,
        data: st.DataObject,
    ) -> None:
        if action == "non_admin":
            self.non_admin_calls_admin_functions(contract, caller, whom, role)
        elif action == "signer":
            self.non_registrar_makes_a_signer(caller, whom, flag)
        elif action == "grant":
            self.admin_grants_or_revokes(contract, whom, flag)
        elif action == "direct":
            self.admin_grants_default_admin_directly(contract, whom)
        elif action == "renounce":
            self.renounce_own_role(contract, data)
        elif action == "begin":
            self.admin_begins_transfer(contract, whom)
        elif action == "cancel":
            self.admin_cancels_transfer(contract)
        elif action == "time":
            self.advance_time(seconds)
        else:
            self.pending_admin_accepts(contract)

    def non_admin_calls_admin_functions(
        self, contract: str, caller: str, whom: str, role: int
    ) -> None:
        """``caller`` (not the admin) calls every role-granting and admin function of
        ``contract`` for ``whom``: each is refused."""
        if caller == self.admin_of(contract):
            return  # that is the admin path, below
        role_id = ROLES[contract][role]
        whom_addr = self.accounts[whom].address
        calls: dict[str, tuple[Any, ...]] = {
            "grantRole": (role_id, whom_addr),
            "revokeRole": (role_id, whom_addr),
            "beginDefaultAdminTransfer": (whom_addr,),
            "cancelDefaultAdminTransfer": (),
            "changeDefaultAdminDelay": (1,),
            "rollbackDefaultAdminDelay": (),
        }
        if caller != whom:  # renouncing one's own role only takes it away: renounce_own_role
            calls["renounceRole"] = (role_id, whom_addr)
        pending = self.pending[contract]
        if pending is None or pending[0] != caller:  # else the admin chose it: the admin path
            calls["acceptDefaultAdminTransfer"] = ()
        for fn, args in calls.items():
            expect_revert(
                lambda fn=fn, args=args: self.send(caller, contract, fn, *args), *UNAUTHORIZED
            )
            RUN[f"access:refused {contract}.{fn}"] += 1

    def non_registrar_makes_a_signer(self, caller: str, whom: str, own: bool) -> None:
        """Only a registrar registers organisations or rotates another organisation's keys:
        nobody else makes an account a member's signer (the authority Grants and RecordStatus
        take from Membership)."""
        if self.has("Membership", ROLES["Membership"][1], caller):
            return
        mem = self.c.membership.contract.functions
        addr = self.accounts[whom].address
        if own:
            f = mem.registerOrg(fresh_id(), YULIN, int(OrgKind.CREDIT_OFFICE), addr, os.urandom(32))
        else:
            org_id = self.dept_id if caller != "dept" else self.office_id  # type: ignore[attr-defined]
            f = mem.rotateKeys(org_id, addr, os.urandom(32))
        expect_revert(lambda: self.c.chain.transact(self.accounts[caller], f), *UNAUTHORIZED)
        RUN["access:refused signer changes"] += 1

    def admin_grants_or_revokes(self, contract: str, whom: str, grant: bool) -> None:
        role = ROLES[contract][1]
        self.send(
            self.admin_of(contract),
            contract,
            "grantRole" if grant else "revokeRole",
            role,
            self.accounts[whom].address,
        )
        holders = self.holders[(contract, role)]
        (holders.add if grant else holders.discard)(whom)
        RUN["access:admin grants/revocations"] += 1

    def admin_grants_default_admin_directly(self, contract: str, whom: str) -> None:
        """Even the admin cannot grant the default admin role except by the two-step transfer."""
        expect_revert(
            lambda: self.send(
                self.admin_of(contract),
                contract,
                "grantRole",
                DEFAULT_ADMIN,
                self.accounts[whom].address,
            ),
            "AccessControlEnforcedDefaultAdminRules",
        )

    def renounce_own_role(self, contract: str, data: st.DataObject) -> None:
        role = ROLES[contract][1]
        holders = sorted(self.holders[(contract, role)])
        if not holders:
            return
        who = data.draw(st.sampled_from(holders))
        self.send(who, contract, "renounceRole", role, self.accounts[who].address)
        self.holders[(contract, role)].discard(who)
        RUN["access:renunciations"] += 1

    def admin_begins_transfer(self, contract: str, whom: str) -> None:
        receipt = self.send(
            self.admin_of(contract),
            contract,
            "beginDefaultAdminTransfer",
            self.accounts[whom].address,
        )
        ts = int(self.c.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
        self.pending[contract] = (whom, ts + ADMIN_DELAY)
        RUN["access:transfers begun"] += 1

    def admin_cancels_transfer(self, contract: str) -> None:
        self.send(self.admin_of(contract), contract, "cancelDefaultAdminTransfer")
        self.pending[contract] = None

    def advance_time(self, seconds: int) -> None:
        self.c.chain.advance_time(seconds)

    def pending_admin_accepts(self, contract: str) -> None:
        pending = self.pending[contract]
        if pending is None:
            return
        who, schedule = pending
        try:
            receipt = self.send(who, contract, "acceptDefaultAdminTransfer")
        except ContractRevert as exc:
            refused: str | None = exc.name
        else:
            refused = None
        if refused is not None:
            assert refused == "AccessControlEnforcedDefaultAdminDelay", refused
            assert now(self.c) <= schedule + 2  # refused only while the delay runs
            RUN["access:early acceptances refused"] += 1
            return
        ts = int(self.c.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
        assert ts > schedule  # accepted only once the delay has passed
        self.holders[(contract, DEFAULT_ADMIN)] = {who}
        self.pending[contract] = None
        RUN["access:admin transfers completed"] += 1

    @invariant()
    def roles_are_exactly_the_admin_given_ones(self) -> None:
        by_address = {a.address: n for n, a in self.accounts.items()}
        for contract, fns in self.contracts.items():
            # The chain's own record of every role change, replayed, must give the model.
            held: dict[bytes, set[str]] = {r: set() for r in ROLES[contract]}
            events = [
                *fns.events.RoleGranted().get_logs(from_block=self.from_block),
                *fns.events.RoleRevoked().get_logs(from_block=self.from_block),
            ]
            events.sort(key=lambda ev: (ev["blockNumber"], ev["logIndex"]))
            for ev in events:
                role, account = bytes(ev["args"]["role"]), ev["args"]["account"]
                name = by_address.get(account, account)
                (held[role].add if ev["event"] == "RoleGranted" else held[role].discard)(name)
            for role in ROLES[contract]:
                assert held[role] == self.holders[(contract, role)], (contract, role.hex())
            admin = self.c.chain.call(fns.functions.defaultAdmin())
            assert admin == self.accounts[self.admin_of(contract)].address
            pending_addr, _ = self.c.chain.call(fns.functions.pendingDefaultAdmin())
            expected = self.pending[contract]
            assert pending_addr == (
                self.accounts[expected[0]].address if expected else "0x" + "00" * 20
            )
        mem = self.c.membership
        for name in NAMES:
            is_signer = mem.org_of_signer(self.accounts[name].address) != ZERO
            assert is_signer == (name in self.signers), name
        RUN["access:invariant checks"] += 1

    def teardown(self) -> None:
        # Once per example, the full matrix by hasRole (the events could in principle lie).
        for (contract, role), holders in self.holders.items():
            fn = self.contracts[contract].functions.hasRole
            for name, account in self.accounts.items():
                assert self.c.chain.call(fn(role, account.address)) == (name in holders)


def test_no_role_is_reachable_by_a_non_admin() -> None:
    run(AccessControlMachine)
    report("access")
    for contract in ROLES:  # every admin function was refused to non-admins
        for fn in ("grantRole", "revokeRole", "beginDefaultAdminTransfer", "renounceRole"):
            assert RUN[f"access:refused {contract}.{fn}"] > 0, (contract, fn)
    assert RUN["access:admin grants/revocations"] > 0
    assert RUN["access:admin transfers completed"] > 0
