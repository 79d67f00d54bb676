"""The RecordStatus contract, run against each backend: eth-tester in-process and anvil as a
separate JSON-RPC process (the `consortium` fixture is parametrised over both).

A record's lifecycle transition is signed (EIP-712) by the acting organisation's current
Membership signer — the record's origin department or a credit office — and relayed by a
member gateway, which pays the gas. Each signature names the record's current version, so it
is usable once."""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from node import (
    ContractRevert,
    DeployedContract,
    Deployment,
    ManifestError,
    OrgKind,
    RecordStatusClient,
    RecordStatusView,
    StatusCode,
    StatusTransition,
    ensure_record_status,
    reason_code,
    sign_transition,
    transition_digest,
)
from tests.conftest import Consortium

YULIN = 610800
ZERO = b"\x00" * 32
OBJECTION = reason_code("objection-filed")
DAY = 86_400
_ids = itertools.count(1)
S = StatusCode


def fresh_id() -> bytes:
    return next(_ids).to_bytes(4, "big") + os.urandom(28)


def revert_of(fn: Callable[[], Any]) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        fn()
    return info.value


def now(c: Consortium) -> int:
    return int(c.chain.w3.eth.get_block("latest")["timestamp"])


def new_org(c: Consortium, kind: OrgKind) -> tuple[LocalAccount, bytes]:
    """A registered organisation: its (funded) signer and its id."""
    signer, org_id = c.new_account(), fresh_id()
    c.membership.register_org(c.registrar, org_id, YULIN, kind, signer.address, os.urandom(32))
    return signer, org_id


# The specification's transition table, written out independently of the contract.
ALLOWED: dict[StatusCode, set[StatusCode]] = {
    S.ACTIVE: {S.OBJECTED, S.CORRECTED, S.REPAIRED, S.WITHDRAWN, S.ERASED},
    S.OBJECTED: {S.ACTIVE, S.CORRECTED, S.REPAIRED, S.WITHDRAWN, S.ERASED},
    S.CORRECTED: {S.ERASED},
    S.REPAIRED: {S.ERASED},
    S.WITHDRAWN: {S.ERASED},
    S.ERASED: set(),
}
ACTORS = ("origin", "other_dept", "office", "bank", "auditor")
OK = "ok"


@dataclass
class World:
    """A consortium with a gateway (the relayer), the origin department of the records, another
    department, a credit office, a bank, an auditor and a suspended gateway."""

    c: Consortium
    rs: RecordStatusClient
    orgs: dict[str, tuple[LocalAccount, bytes]]

    def key(self, who: str) -> LocalAccount:
        return self.orgs[who][0]

    def id(self, who: str) -> bytes:
        return self.orgs[who][1]

    @property
    def gateway(self) -> LocalAccount:
        return self.key("gateway")

    def t(
        self,
        record_id: bytes,
        to: StatusCode,
        actor: str = "origin",
        **changes: Any,
    ) -> StatusTransition:
        """A transition of `record_id` to `to` by `actor`, at the record's current version,
        with the origin department as origin and a successor when (only when) correcting."""
        base = StatusTransition(
            record_id=record_id,
            origin=self.id("origin"),
            to=to,
            successor=fresh_id() if to == S.CORRECTED else ZERO,
            reason=reason_code(f"reason-{to.label}"),
            evidence=os.urandom(32),
            actor=self.id(actor),
            version=self.rs.state(record_id).version,
            deadline=now(self.c) + 3600,
        )
        return dataclasses.replace(base, **changes)

    def send(
        self,
        t: StatusTransition,
        signer: LocalAccount | None = None,
        relayer: LocalAccount | None = None,
    ) -> Any:
        """Sign `t` as its actor (or `signer`) and relay it from the gateway (or `relayer`)."""
        actor = next(k for k, (_, org_id) in self.orgs.items() if org_id == t.actor)
        sig = self.rs.sign(signer or self.key(actor), t)
        return self.rs.transition(relayer or self.gateway, t, sig)

    def move(self, record_id: bytes, to: StatusCode, actor: str = "origin") -> Any:
        return self.send(self.t(record_id, to, actor))

    def record_in(self, status: StatusCode) -> bytes:
        """A fresh record of the origin department, moved into `status` (Active: untouched)."""
        rid = fresh_id()
        if status != S.ACTIVE:
            self.move(rid, status, "office" if status == S.REPAIRED else "origin")
        assert self.rs.status(rid) == status
        return rid


@pytest.fixture
def world(consortium: Consortium) -> World:
    c = consortium
    kinds = {
        "gateway": OrgKind.GATEWAY,
        "origin": OrgKind.DEPARTMENT,
        "other_dept": OrgKind.DEPARTMENT,
        "office": OrgKind.CREDIT_OFFICE,
        "bank": OrgKind.FINANCIAL_INSTITUTION,
        "auditor": OrgKind.AUDITOR,
        "suspended_gateway": OrgKind.GATEWAY,
    }
    orgs = {who: new_org(c, kind) for who, kind in kinds.items()}
    c.membership.suspend(c.registrar, orgs["suspended_gateway"][1], b"\x02" * 32)
    return World(c, c.deployment.record_status(c.chain), orgs)


def expected_outcome(frm: StatusCode, to: StatusCode, actor: str) -> str:
    if actor not in ("origin", "office"):
        return "NotOriginOrCreditOffice"
    if to == S.REPAIRED and actor != "office":
        return "RepairRequiresCreditOffice"
    if to not in ALLOWED[frm]:
        return "TransitionNotAllowed"
    return OK


# ---------------------------------------------------------------------------------------------
# Authority table: every state-changing function × every caller
# ---------------------------------------------------------------------------------------------

CALLERS = (
    "gateway",
    "stranger",
    "admin",
    "registrar",
    "origin",
    "office",
    "bank",
    "suspended_gateway",
)
STATE_CHANGING = {"transition"}


def _caller_table(w: World) -> dict[str, tuple[Callable[[LocalAccount], Any], dict[str, str]]]:
    """function -> (relay a valid signed transition from a caller, expected outcome per caller).
    Only a member gateway's current signer relays; the actor sending its own is refused too."""

    def transition(a: LocalAccount) -> Any:
        return w.send(w.t(fresh_id(), S.OBJECTED), relayer=a)

    expected = {
        "gateway": OK,
        "stranger": "NotMemberSigner",
        "admin": "NotMemberSigner",
        "registrar": "NotMemberSigner",
        "origin": "CallerNotGateway",
        "office": "CallerNotGateway",
        "bank": "CallerNotGateway",
        "suspended_gateway": "CallerOrgNotActive",
    }
    return {"transition": (transition, expected)}


def test_authority_table_covers_every_state_changing_function(world: World) -> None:
    """The table is complete: every non-view function of the RecordStatus ABI is in it, and
    RecordStatus has no roles or admin of its own (its authority comes from Membership)."""
    abi = world.rs.contract.abi
    abi_fns = {
        i["name"]
        for i in abi
        if i["type"] == "function" and i["stateMutability"] not in ("view", "pure")
    }
    assert abi_fns == STATE_CHANGING
    assert set(_caller_table(world)) == STATE_CHANGING
    assert all(set(expected) == set(CALLERS) for _, expected in _caller_table(world).values())
    names = {i["name"] for i in abi if i["type"] == "function"}
    assert not {n for n in names if "role" in n.lower() or "admin" in n.lower()}


def test_caller_table(world: World) -> None:
    """Each refused relayer gets the expected custom error naming it; the gateway succeeds."""
    w, c = world, world.c
    call, expected = _caller_table(w)["transition"]
    accounts = {
        "stranger": c.stranger,
        "admin": c.admin,
        "registrar": c.registrar,
        **{who: w.key(who) for who in ("gateway", "origin", "office", "bank", "suspended_gateway")},
    }
    outcome: dict[str, str] = {}
    for who in CALLERS:
        account = accounts[who]
        if expected[who] == OK:
            outcome[who] = OK if call(account)["status"] == 1 else "failed"
            continue
        exc = revert_of(lambda a=account: call(a))  # type: ignore[misc]
        outcome[who] = exc.name
        if exc.name == "NotMemberSigner":
            assert exc.args_[0].lower() == account.address.lower()
        else:
            assert exc.args_ == (w.id(who),)
    assert outcome == expected


def test_rotated_gateway_key_and_suspended_actor(world: World) -> None:
    w, c = world, world.c
    # the gateway's rotated-away key relays nothing; its new key does
    new_key = c.new_account()
    c.membership.rotate_keys(w.gateway, w.id("gateway"), new_key.address, os.urandom(32))
    t = w.t(fresh_id(), S.OBJECTED)
    e = revert_of(lambda: w.send(t))
    assert (e.name, e.args_[0].lower()) == ("NotMemberSigner", w.gateway.address.lower())
    w.send(t, relayer=new_key)
    w.orgs["gateway"] = (new_key, w.id("gateway"))
    # a suspended actor's signatures are refused (its standing, not its key, is checked)
    rid = w.record_in(S.OBJECTED)
    c.membership.suspend(c.registrar, w.id("origin"), b"\x01" * 32)
    t = w.t(rid, S.ACTIVE)
    e = revert_of(lambda: w.send(t))
    assert (e.name, e.args_) == ("ActorNotActive", (w.id("origin"),))
    # an unknown actor too
    stranger_org = fresh_id()
    bad = dataclasses.replace(t, actor=stranger_org)
    e = revert_of(lambda: w.rs.transition(w.gateway, bad, w.rs.sign(c.stranger, bad)))
    assert (e.name, e.args_) == ("ActorNotActive", (stranger_org,))
    # a credit office still acts on the suspended department's record
    w.move(rid, S.ACTIVE, "office")
    c.membership.reactivate(c.registrar, w.id("origin"))
    w.move(rid, S.OBJECTED)
    assert w.rs.state(rid).version == 3


# ---------------------------------------------------------------------------------------------
# The transition matrix: every (from, to) pair × every kind of actor
# ---------------------------------------------------------------------------------------------


def test_is_allowed_is_the_table(world: World) -> None:
    for frm, to in itertools.product(StatusCode, StatusCode):
        assert world.rs.is_allowed(frm, to) == (to in ALLOWED[frm]), (frm, to)


@pytest.mark.parametrize("frm", list(StatusCode), ids=[s.label for s in StatusCode])
def test_transition_matrix(world: World, frm: StatusCode) -> None:
    """From a record in `frm`: each (to, actor) pair that the rules allow succeeds with the
    right event and state; every other one reverts with its custom error and changes nothing."""
    w, rs = world, world.rs
    refused_on = w.record_in(frm)
    before = rs.state(refused_on)
    outcome: dict[tuple[str, str], str] = {}
    for to, actor in itertools.product(StatusCode, ACTORS):
        want = expected_outcome(frm, to, actor)
        if want != OK:
            t = w.t(refused_on, to, actor)
            e = revert_of(lambda t=t: w.send(t))  # type: ignore[misc]
            outcome[(to.label, actor)] = e.name
            args = {
                "NotOriginOrCreditOffice": (w.id(actor), w.id("origin")),
                "RepairRequiresCreditOffice": (w.id(actor),),
                "TransitionNotAllowed": (refused_on, frm, to),
            }[e.name]
            assert e.args_ == args
            continue
        rid = w.record_in(frm)
        prior = rs.state(rid)
        t = w.t(rid, to, actor)
        receipt = w.send(t)
        (ev,) = rs.contract.events.StatusChanged().process_receipt(receipt)
        assert dict(ev["args"]) == {
            "recordId": rid,
            "actor": w.id(actor),
            "from": frm,
            "to": to,
            "reason": t.reason,
            "successor": t.successor,
            "evidence": t.evidence,
            "version": prior.version + 1,
        }
        at = int(w.c.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
        assert rs.state(rid) == RecordStatusView(
            origin=w.id("origin"),
            successor=t.successor if to == S.CORRECTED else prior.successor,
            reason=t.reason,
            actor=w.id(actor),
            evidence=t.evidence,
            updated_at=at,
            version=prior.version + 1,
            status=to,
        )
        outcome[(to.label, actor)] = OK
    assert outcome == {
        (to.label, actor): expected_outcome(frm, to, actor)
        for to, actor in itertools.product(StatusCode, ACTORS)
    }
    assert rs.state(refused_on) == before  # the refusals changed nothing


def test_lifecycle_objection_rejection_correction_erasure(world: World) -> None:
    """DESIGN §5.6: an objection marks the record, a rejection makes it active again, a second
    objection leads to a correction pointing to the successor, which is then erased."""
    w, rs = world, world.rs
    start = w.c.chain.head() + 1
    rid, other = fresh_id(), fresh_id()
    unknown = rs.state(rid)
    assert unknown == RecordStatusView(ZERO, ZERO, ZERO, ZERO, ZERO, 0, 0, S.ACTIVE)
    w.move(rid, S.OBJECTED)
    w.move(rid, S.ACTIVE, "office")  # the objection is rejected
    w.move(rid, S.OBJECTED)
    corrected = w.t(rid, S.CORRECTED)
    w.send(corrected)
    w.move(other, S.WITHDRAWN)
    erased = w.t(rid, S.ERASED, "office")
    receipt = w.send(erased)
    state = rs.state(rid)
    assert (state.status, state.version, state.successor) == (S.ERASED, 5, corrected.successor)
    assert (state.actor, state.reason) == (w.id("office"), erased.reason)
    # read at the block before the erasure: corrected
    block = int(receipt["blockNumber"])
    assert rs.state(rid, block - 1).status == S.CORRECTED
    assert rs.status(rid, block - 1) == S.CORRECTED
    # several at once, at one block; duplicates are read once
    assert rs.states([rid, other, rid, unknown_id := fresh_id()]) == {
        rid: state,
        other: rs.state(other),
        unknown_id: RecordStatusView(ZERO, ZERO, ZERO, ZERO, ZERO, 0, 0, S.ACTIVE),
    }
    assert rs.states([rid], block - 1)[rid].status == S.CORRECTED
    assert rs.states([]) == {}
    # the events tell the whole story, per record or all together
    changes = rs.status_changes(start, record_id=rid)
    assert [(ch["from"], ch["to"], ch["version"]) for ch in changes] == [
        (S.ACTIVE, S.OBJECTED, 1),
        (S.OBJECTED, S.ACTIVE, 2),
        (S.ACTIVE, S.OBJECTED, 3),
        (S.OBJECTED, S.CORRECTED, 4),
        (S.CORRECTED, S.ERASED, 5),
    ]
    assert changes[3]["successor"] == corrected.successor
    assert changes[4]["actor"] == w.id("office")
    assert changes[4]["block_number"] == block
    assert changes[4]["transaction_hash"] == bytes(receipt["transactionHash"])
    assert [ch["record_id"] for ch in rs.status_changes(start)] == [rid] * 4 + [other, rid]
    assert rs.status_changes(block, block) == [changes[4]]
    assert [s.label for s in StatusCode] == [
        "active",
        "objected",
        "corrected",
        "repaired",
        "withdrawn",
        "erased",
    ]


# ---------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------


def test_python_digest_equals_the_contracts(world: World) -> None:
    w, rs = world, world.rs
    chain_id = w.c.chain.chain_id
    assert bytes(w.c.chain.call(rs.contract.functions.TRANSITION_TYPEHASH())) == keccak(
        text="Transition(bytes32 recordId,bytes32 origin,uint8 to,bytes32 successor,"
        "bytes32 reason,bytes32 evidence,bytes32 actor,uint32 version,uint256 deadline)"
    )
    samples = [
        w.t(fresh_id(), to, successor=os.urandom(32), version=v, deadline=d)
        for to, v, d in zip(
            StatusCode, (0, 1, 7, 2**32 - 1, 3, 0), (0, 1, 2**64, 2**256 - 1, 5, 9), strict=True
        )
    ]
    for t in samples:
        digest = transition_digest(chain_id, rs.address, t)
        assert digest == rs.transition_digest(t)
        sig = sign_transition(w.key("origin"), chain_id, rs.address, t)
        assert sig == rs.sign(w.key("origin"), t)
        assert Account._recover_hash(digest, signature=sig) == w.key("origin").address
    # bound to the chain and to the contract
    t = samples[0]
    assert transition_digest(chain_id + 1, rs.address, t) != rs.transition_digest(t)
    assert transition_digest(chain_id, w.c.membership.address, t) != rs.transition_digest(t)
    with pytest.raises(ValueError, match="6 is not a valid StatusCode"):
        dataclasses.replace(t, to=6)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="version"):
        dataclasses.replace(t, version=2**32)
    with pytest.raises(ValueError, match="record_id"):
        dataclasses.replace(t, record_id=b"\x01" * 31)


def test_signature_checks(world: World) -> None:
    w, rs, c = world, world.rs, world.c
    rid = fresh_id()
    t = w.t(rid, S.OBJECTED)
    sig = rs.sign(w.key("origin"), t)
    origin = w.id("origin")

    def refused(tr: StatusTransition, signature: bytes) -> ContractRevert:
        return revert_of(lambda: rs.transition(w.gateway, tr, signature))

    # wrong signer: another organisation's key, a stranger's, and wrong domains
    for wrong in (
        rs.sign(w.key("office"), t),
        rs.sign(c.stranger, t),
        sign_transition(w.key("origin"), c.chain.chain_id + 1, rs.address, t),
        sign_transition(w.key("origin"), c.chain.chain_id, c.membership.address, t),
    ):
        e = refused(t, wrong)
        assert (e.name, e.args_) == ("InvalidSignature", (origin,))
    # malformed signatures
    for junk in (b"", b"\x00" * 65, sig[:64], sig + b"\x00"):
        assert refused(t, junk).name == "InvalidSignature"
    # any field changed after signing
    tampered: dict[str, Any] = {
        "record_id": fresh_id(),
        "origin": w.id("other_dept"),
        "to": S.WITHDRAWN,
        "successor": fresh_id(),
        "reason": reason_code("other"),
        "evidence": os.urandom(32),
        "actor": w.id("office"),
        "version": 1,
        "deadline": t.deadline + 1,
    }
    assert set(tampered) == {f.name for f in dataclasses.fields(StatusTransition)}
    for name, value in tampered.items():
        bad = dataclasses.replace(t, **{name: value})
        e = refused(bad, sig)
        assert (e.name, e.args_) == ("InvalidSignature", (bad.actor,)), name
    # the real thing, once: a replay names a stale version
    rs.transition(w.gateway, t, sig)
    e = refused(t, sig)
    assert (e.name, e.args_) == ("VersionMismatch", (rid, 1, 0))
    ahead = w.t(rid, S.ACTIVE, version=5)
    e = refused(ahead, rs.sign(w.key("origin"), ahead))
    assert (e.name, e.args_) == ("VersionMismatch", (rid, 1, 5))
    # expired: in the past, or relayed after its deadline
    past = w.t(rid, S.ACTIVE, deadline=now(c) - 1)
    e = refused(past, rs.sign(w.key("origin"), past))
    assert (e.name, e.args_) == ("SignatureExpired", (past.deadline,))
    soon = w.t(rid, S.ACTIVE, deadline=now(c) + 100)
    soon_sig = rs.sign(w.key("origin"), soon)
    c.chain.advance_time(200)
    e = refused(soon, soon_sig)
    assert (e.name, e.args_) == ("SignatureExpired", (soon.deadline,))
    assert rs.state(rid).version == 1


def test_rotated_actor_key(world: World) -> None:
    """Only the actor's current signer counts: a signature by a rotated-away key is refused,
    even one made before the rotation; the new key's is accepted."""
    w, rs, c = world, world.rs, world.c
    rid = fresh_id()
    t = w.t(rid, S.OBJECTED)
    old_sig = rs.sign(w.key("origin"), t)
    new_key = Account.create()
    c.membership.rotate_keys(w.key("origin"), w.id("origin"), new_key.address, os.urandom(32))
    e = revert_of(lambda: rs.transition(w.gateway, t, old_sig))
    assert (e.name, e.args_) == ("InvalidSignature", (w.id("origin"),))
    rs.transition(w.gateway, t, rs.sign(new_key, t))
    assert rs.status(rid) == S.OBJECTED


# ---------------------------------------------------------------------------------------------
# Origin, successor, reason
# ---------------------------------------------------------------------------------------------


def test_origin_is_pinned_by_the_first_transition(world: World) -> None:
    w, rs = world, world.rs
    rid = fresh_id()
    e = revert_of(lambda: w.send(w.t(rid, S.OBJECTED, origin=ZERO)))
    assert (e.name, e.args_) == ("ZeroOrigin", (rid,))
    # a credit office may make the first transition; it pins the department as origin
    w.move(rid, S.OBJECTED, "office")
    assert rs.state(rid).origin == w.id("origin")
    # from then on the origin must be named, and named the same
    for claimed in (w.id("other_dept"), ZERO):
        e = revert_of(lambda o=claimed: w.send(w.t(rid, S.ACTIVE, origin=o)))  # type: ignore[misc]
        assert (e.name, e.args_) == ("OriginMismatch", (rid, w.id("origin"), claimed))
    # another department cannot act on it, even naming itself as origin
    e = revert_of(lambda: w.send(w.t(rid, S.ACTIVE, "other_dept", origin=w.id("other_dept"))))
    assert (e.name, e.args_) == ("OriginMismatch", (rid, w.id("origin"), w.id("other_dept")))
    w.move(rid, S.ACTIVE)  # the origin department may
    # on a record of its own (first transition), the other department is its origin
    mine = fresh_id()
    w.send(w.t(mine, S.WITHDRAWN, "other_dept", origin=w.id("other_dept")))
    assert rs.state(mine).origin == w.id("other_dept")
    e = revert_of(lambda: w.send(w.t(mine, S.ERASED, origin=w.id("other_dept"))))
    assert (e.name, e.args_) == ("NotOriginOrCreditOffice", (w.id("origin"), w.id("other_dept")))


def test_successor_reason_and_record_id_rules(world: World) -> None:
    w, rs = world, world.rs
    rid = w.record_in(S.OBJECTED)
    for bad in (ZERO, rid):
        e = revert_of(lambda b=bad: w.send(w.t(rid, S.CORRECTED, successor=b)))  # type: ignore[misc]
        assert (e.name, e.args_) == ("InvalidSuccessor", (rid, bad))
    successor = fresh_id()
    for to in (S.ACTIVE, S.REPAIRED, S.WITHDRAWN, S.ERASED):
        e = revert_of(lambda to=to: w.send(w.t(rid, to, "office", successor=successor)))  # type: ignore[misc]
        assert (e.name, e.args_) == ("InvalidSuccessor", (rid, successor))
    e = revert_of(lambda: w.send(w.t(rid, S.ACTIVE, reason=ZERO)))
    assert (e.name, e.args_) == ("ZeroReason", (rid,))
    e = revert_of(lambda: w.send(w.t(ZERO, S.OBJECTED)))
    assert (e.name, e.args_) == ("ZeroRecordId", ())
    w.move(rid, S.CORRECTED)
    assert rs.state(rid).successor != ZERO
    # the erasure of a corrected record names no successor, and keeps the pointer
    e = revert_of(lambda: w.send(w.t(rid, S.ERASED, successor=successor)))
    assert e.name == "InvalidSuccessor"
    pointer = rs.state(rid).successor
    w.move(rid, S.ERASED)
    assert (rs.state(rid).status, rs.state(rid).successor) == (S.ERASED, pointer)
    # a status outside the enum does not even decode
    raw: list[Any] = list(w.t(fresh_id(), S.OBJECTED).as_tuple())
    raw[2] = 6
    with pytest.raises(ContractRevert):
        w.c.chain.transact(w.gateway, rs.contract.functions.transition(raw, b"\x00" * 65))


# ---------------------------------------------------------------------------------------------
# Deployment and gas
# ---------------------------------------------------------------------------------------------


def test_ensure_record_status_on_a_manifest_without_it(world: World, tmp_path: Path) -> None:
    c = world.c
    assert "RecordStatus" in c.deployment.contracts  # deploy_all deploys it
    c.deployment.check(c.chain)
    legacy = dataclasses.replace(
        c.deployment,
        contracts={k: v for k, v in c.deployment.contracts.items() if k != "RecordStatus"},
    )
    with pytest.raises(ManifestError, match="predates RecordStatus"):
        legacy.record_status(c.chain)
    legacy.check(c.chain)
    head = c.chain.head()
    updated = ensure_record_status(c.chain, c.admin, legacy)
    assert c.chain.head() > head
    added = updated.contracts["RecordStatus"]
    assert added.address != c.deployment.contracts["RecordStatus"].address
    assert {k: v for k, v in updated.contracts.items() if k != "RecordStatus"} == legacy.contracts
    assert added.block > head
    updated.check(c.chain)
    rs = updated.record_status(c.chain)
    assert rs.membership_address() == c.membership.address
    # idempotent: a manifest that has it is returned as is, without a transaction
    head = c.chain.head()
    assert ensure_record_status(c.chain, c.admin, updated) is updated
    assert c.chain.head() == head
    # it round-trips through the manifest file
    updated.save(tmp_path / "manifest.json")
    assert Deployment.load(tmp_path / "manifest.json") == updated
    # and it works
    w = dataclasses.replace(world, rs=rs)
    w.move(fresh_id(), S.OBJECTED)


def test_deployment_check_catches_another_membership(world: World) -> None:
    c = world.c
    other_membership, _ = c.chain.deploy(c.admin, "Membership", 0, c.admin.address)
    address, receipt = c.chain.deploy(c.admin, "RecordStatus", other_membership)
    forged = dataclasses.replace(
        c.deployment,
        contracts={
            **c.deployment.contracts,
            "RecordStatus": DeployedContract(address, "0x", int(receipt["blockNumber"]), ""),
        },
    )
    with pytest.raises(ManifestError, match=r"RecordStatus at 0x\w+ uses Membership"):
        forged.check(c.chain)
    # a different contract where RecordStatus should be
    wrong = dataclasses.replace(
        c.deployment,
        contracts={**c.deployment.contracts, "RecordStatus": c.deployment.contracts["Grants"]},
    )
    with pytest.raises(ManifestError, match="different code"):
        wrong.check(c.chain)
    # ensure_record_status checks the deployment it extends before adding to it
    legacy = dataclasses.replace(
        c.deployment,
        contracts={k: v for k, v in c.deployment.contracts.items() if k != "RecordStatus"},
    )
    head = c.chain.head()
    for bad in (
        dataclasses.replace(legacy, chain_id=c.chain.chain_id + 1),
        dataclasses.replace(
            legacy, contracts={**legacy.contracts, "Grants": legacy.contracts["Membership"]}
        ),
    ):
        with pytest.raises(ManifestError):
            ensure_record_status(c.chain, c.admin, bad)
    assert c.chain.head() == head


def test_gas(world: World) -> None:
    """Gas per transition; no loops, so flat in the number of records."""
    w, rs = world, world.rs
    gas: dict[str, int] = {}
    rid = fresh_id()
    gas["first (pins origin): Active->Objected"] = w.move(rid, S.OBJECTED)["gasUsed"]
    gas["Objected->Active"] = w.move(rid, S.ACTIVE, "office")["gasUsed"]
    gas["Active->Corrected (successor)"] = w.move(rid, S.CORRECTED)["gasUsed"]
    gas["Corrected->Erased"] = w.move(rid, S.ERASED)["gasUsed"]
    for _ in range(10):  # many records change nothing
        w.move(fresh_id(), S.WITHDRAWN)
    later = w.move(fresh_id(), S.OBJECTED)["gasUsed"]
    first = gas["first (pins origin): Active->Objected"]
    assert abs(later - first) < 200
    assert max(gas.values()) < 200_000
    assert gas["Objected->Active"] < 100_000
    assert rs.status(rid) == S.ERASED
    print(f"\n{w.c.chain.kind} gas: " + ", ".join(f"{k}={v}" for k, v in gas.items()))
