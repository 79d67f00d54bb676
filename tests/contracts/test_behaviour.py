"""The contracts' behaviour suite, run against each backend: eth-tester in-process and anvil as
a separate JSON-RPC process (the `consortium` fixture is parametrised over both)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest
from eth_utils import keccak

from gateway.domain.merkle import MemoryTree, leaf_hash
from node import ContractRevert, OrgKind, registrar_role
from tests.conftest import Consortium

LOG_ADMIN = keccak(text="LOG_ADMIN_ROLE")
YULIN = 610800
REGISTRAR = registrar_role(YULIN)
DEFAULT_ADMIN = b"\x00" * 32
_ids = itertools.count(1)


def fresh_id() -> bytes:
    return next(_ids).to_bytes(4, "big") + os.urandom(28)


def tree(n: int) -> MemoryTree:
    return MemoryTree(leaf_hash(b"entry %d" % i) for i in range(n))


def revert_of(fn: Callable[[], Any]) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        fn()
    return info.value


# ---------------------------------------------------------------------------------------------
# Role table: every state-changing function × every caller
# ---------------------------------------------------------------------------------------------

CALLERS = ("admin", "log_admin", "registrar", "operator", "org_signer", "stranger")


def _prepare(c: Consortium) -> dict[str, Any]:
    """A registered log (operated by `operator`) and an org (signed by `org_signer`)."""
    log_id = fresh_id()
    c.log.register_log(c.log_admin, log_id, b"\x01" * 32, c.operator.address)
    org_signer = c.new_account()
    org_id = fresh_id()
    c.membership.register_org(
        c.registrar, org_id, YULIN, OrgKind.DEPARTMENT, org_signer.address, os.urandom(32)
    )
    suspended = fresh_id()
    c.membership.register_org(
        c.registrar, suspended, YULIN, OrgKind.UTILITY, c.new_account().address, os.urandom(32)
    )
    c.membership.suspend(c.registrar, suspended, b"\x02" * 32)
    return {"log_id": log_id, "org_id": org_id, "suspended": suspended, "org_signer": org_signer}


# function name -> (build the call for a caller, the one caller allowed, error for the others)
def _table(c: Consortium, s: dict[str, Any]) -> dict[str, tuple[Callable[[Any], Any], str, str]]:
    log = c.log.contract.functions
    mem = c.membership.contract.functions
    t = tree(3)
    return {
        "CheckpointLog.registerLog": (
            lambda a: c.chain.transact(a, log.registerLog(fresh_id(), b"\x01" * 32, a.address)),
            "log_admin",
            "AccessControlUnauthorizedAccount",
        ),
        "CheckpointLog.setOperator": (
            lambda a: c.chain.transact(a, log.setOperator(s["log_id"], c.operator.address)),
            "log_admin",
            "AccessControlUnauthorizedAccount",
        ),
        "CheckpointLog.anchor": (
            lambda a: c.chain.transact(a, log.anchor(s["log_id"], 3, t.root(), [])),
            "operator",
            "NotLogOperator",
        ),
        "CheckpointLog.grantRole": (
            lambda a: c.chain.transact(a, log.grantRole(LOG_ADMIN, c.stranger.address)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "CheckpointLog.revokeRole": (
            lambda a: c.chain.transact(a, log.revokeRole(LOG_ADMIN, c.stranger.address)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "CheckpointLog.renounceRole": (
            lambda a: c.chain.transact(a, log.renounceRole(LOG_ADMIN, c.log_admin.address)),
            "log_admin",
            "AccessControlBadConfirmation",
        ),
        "CheckpointLog.beginDefaultAdminTransfer": (
            lambda a: c.chain.transact(a, log.beginDefaultAdminTransfer(c.stranger.address)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "CheckpointLog.cancelDefaultAdminTransfer": (
            lambda a: c.chain.transact(a, log.cancelDefaultAdminTransfer()),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "CheckpointLog.acceptDefaultAdminTransfer": (
            lambda a: c.chain.transact(a, log.acceptDefaultAdminTransfer()),
            "",
            "AccessControlInvalidDefaultAdmin",
        ),
        "CheckpointLog.changeDefaultAdminDelay": (
            lambda a: c.chain.transact(a, log.changeDefaultAdminDelay(7200)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "CheckpointLog.rollbackDefaultAdminDelay": (
            lambda a: c.chain.transact(a, log.rollbackDefaultAdminDelay()),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "Membership.registerOrg": (
            lambda a: c.chain.transact(
                a,
                mem.registerOrg(
                    fresh_id(),
                    YULIN,
                    int(OrgKind.FINANCIAL_INSTITUTION),
                    c.new_account().address,
                    os.urandom(32),
                ),
            ),
            "registrar",
            "NotCityRegistrar",
        ),
        "Membership.rotateKeys": (
            lambda a: c.chain.transact(
                a, mem.rotateKeys(s["org_id"], c.new_account().address, os.urandom(32))
            ),
            "org_signer+registrar",
            "NotOrgSignerOrRegistrar",
        ),
        "Membership.suspend": (
            lambda a: c.chain.transact(a, mem.suspend(s["org_id"], b"\x03" * 32)),
            "registrar",
            "NotCityRegistrar",
        ),
        "Membership.reactivate": (
            lambda a: c.chain.transact(a, mem.reactivate(s["suspended"])),
            "registrar",
            "NotCityRegistrar",
        ),
        "Membership.grantCityRegistrar": (
            lambda a: c.chain.transact(a, mem.grantCityRegistrar(YULIN, c.stranger.address)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "Membership.revokeCityRegistrar": (
            lambda a: c.chain.transact(a, mem.revokeCityRegistrar(YULIN, c.registrar.address)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "Membership.grantRole": (
            lambda a: c.chain.transact(a, mem.grantRole(REGISTRAR, c.stranger.address)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "Membership.revokeRole": (
            lambda a: c.chain.transact(a, mem.revokeRole(REGISTRAR, c.stranger.address)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "Membership.renounceRole": (
            lambda a: c.chain.transact(a, mem.renounceRole(REGISTRAR, c.registrar.address)),
            "registrar",
            "AccessControlBadConfirmation",
        ),
        "Membership.beginDefaultAdminTransfer": (
            lambda a: c.chain.transact(a, mem.beginDefaultAdminTransfer(c.stranger.address)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "Membership.cancelDefaultAdminTransfer": (
            lambda a: c.chain.transact(a, mem.cancelDefaultAdminTransfer()),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "Membership.acceptDefaultAdminTransfer": (
            lambda a: c.chain.transact(a, mem.acceptDefaultAdminTransfer()),
            "",
            "AccessControlInvalidDefaultAdmin",
        ),
        "Membership.changeDefaultAdminDelay": (
            lambda a: c.chain.transact(a, mem.changeDefaultAdminDelay(7200)),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
        "Membership.rollbackDefaultAdminDelay": (
            lambda a: c.chain.transact(a, mem.rollbackDefaultAdminDelay()),
            "admin",
            "AccessControlUnauthorizedAccount",
        ),
    }


STATE_CHANGING = {
    "CheckpointLog": {
        "registerLog",
        "setOperator",
        "anchor",
        "grantRole",
        "revokeRole",
        "renounceRole",
        "beginDefaultAdminTransfer",
        "cancelDefaultAdminTransfer",
        "acceptDefaultAdminTransfer",
        "changeDefaultAdminDelay",
        "rollbackDefaultAdminDelay",
    },
    "Membership": {
        "registerOrg",
        "rotateKeys",
        "suspend",
        "reactivate",
        "grantCityRegistrar",
        "revokeCityRegistrar",
        "grantRole",
        "revokeRole",
        "renounceRole",
        "beginDefaultAdminTransfer",
        "cancelDefaultAdminTransfer",
        "acceptDefaultAdminTransfer",
        "changeDefaultAdminDelay",
        "rollbackDefaultAdminDelay",
    },
}


def test_role_table_covers_every_state_changing_function(consortium: Consortium) -> None:
    """The table below is complete: every non-view function of the ABIs is in it."""
    for name, client in (("CheckpointLog", consortium.log), ("Membership", consortium.membership)):
        abi_fns = {
            i["name"]
            for i in client.contract.abi
            if i["type"] == "function" and i["stateMutability"] not in ("view", "pure")
        }
        assert abi_fns == STATE_CHANGING[name], name
    table = _table(consortium, {})
    assert {k.split(".")[1] for k in table if k.startswith("CheckpointLog.")} == STATE_CHANGING[
        "CheckpointLog"
    ]
    assert {k.split(".")[1] for k in table if k.startswith("Membership.")} == STATE_CHANGING[
        "Membership"
    ]


@pytest.mark.parametrize(
    "function", sorted(f"{contract}.{fn}" for contract, fns in STATE_CHANGING.items() for fn in fns)
)
def test_role_table(consortium: Consortium, function: str) -> None:
    """Each caller without the right role gets the expected custom error; the right one succeeds."""
    s = _prepare(consortium)
    call, allowed, error = _table(consortium, s)[function]
    callers = {
        "admin": consortium.admin,
        "log_admin": consortium.log_admin,
        "registrar": consortium.registrar,
        "operator": consortium.operator,
        "org_signer": s["org_signer"],
        "stranger": consortium.stranger,
    }
    allowed_set = set(allowed.split("+")) if allowed else set()
    outcome: dict[str, str] = {}
    for who in CALLERS:
        if who in allowed_set:
            continue
        exc = revert_of(lambda a=callers[who]: call(a))  # type: ignore[misc]
        outcome[who] = exc.name
        if exc.name in ("AccessControlUnauthorizedAccount", "NotCityRegistrar"):
            assert exc.args_[0].lower() == callers[who].address.lower()
        if exc.name == "NotLogOperator":
            assert exc.args_[1].lower() == callers[who].address.lower()
    assert outcome == {who: error for who in CALLERS if who not in allowed_set}
    for who in sorted(allowed_set):  # the right caller succeeds (after the others were refused)
        receipt = call(callers[who])
        assert receipt["status"] == 1


# ---------------------------------------------------------------------------------------------
# CheckpointLog
# ---------------------------------------------------------------------------------------------


def _registered(c: Consortium) -> bytes:
    log_id = fresh_id()
    c.log.register_log(c.log_admin, log_id, b"\x07" * 32, c.operator.address)
    return log_id


def test_anchor_extends_and_keeps_every_checkpoint(consortium: Consortium) -> None:
    c = consortium
    log_id = _registered(c)
    t = tree(40)
    sizes = [1, 2, 3, 8, 13, 32, 33, 40]
    previous = 0
    for i, n in enumerate(sizes):
        receipt = c.log.anchor(c.operator, log_id, n, t.root(n), t.consistency_proof(previous, n))
        (event,) = c.log.contract.events.CheckpointAnchored().process_receipt(receipt)
        assert event["args"]["logId"] == log_id
        assert event["args"]["size"] == n
        assert event["args"]["root"] == t.root(n)
        assert event["args"]["checkpointIndex"] == i
        previous = n
    assert c.log.count(log_id) == len(sizes)
    got = c.log.checkpoints(log_id)
    assert [(cp.size, cp.root) for cp in got] == [(n, t.root(n)) for n in sizes]
    assert all(a.block_number < b.block_number for a, b in itertools.pairwise(got))
    for n in sizes:
        assert c.log.for_size(log_id, n).root == t.root(n)
    for n in (4, 39, 41):
        assert revert_of(lambda n=n: c.log.for_size(log_id, n)).name == "CheckpointNotFound"
    latest = c.log.latest(log_id)
    assert latest is not None
    assert latest.size == 40


def test_anchor_rejections(consortium: Consortium) -> None:
    c = consortium
    log_id = _registered(c)
    t = tree(20)
    other = MemoryTree(leaf_hash(b"forged %d" % i) for i in range(20))

    # the first checkpoint takes no proof, and covers at least one leaf
    assert (
        revert_of(lambda: c.log.anchor(c.operator, log_id, 0, t.root(0), [])).name
        == "EmptyCheckpoint"
    )
    e = revert_of(lambda: c.log.anchor(c.operator, log_id, 5, t.root(5), [t.root(1)]))
    assert (e.name, e.args_[1:]) == ("InvalidConsistencyProof", (0, 5))
    c.log.anchor(c.operator, log_id, 10, t.root(10), [])

    e = revert_of(lambda: c.log.anchor(c.operator, log_id, 9, t.root(9), []))
    assert (e.name, e.args_[1:]) == ("CheckpointNotNewer", (9, 10))
    e = revert_of(lambda: c.log.anchor(c.operator, log_id, 10, t.root(10), []))
    assert (e.name, e.args_[1:]) == ("CheckpointAlreadyAnchored", (10,))
    e = revert_of(lambda: c.log.anchor(c.operator, log_id, 10, other.root(10), []))
    assert (e.name, e.args_[1:]) == ("ConflictingRoot", (10, t.root(10), other.root(10)))
    # a fork: a different tree's root of size 15, with that tree's own (valid) proof
    e = revert_of(
        lambda: c.log.anchor(
            c.operator, log_id, 15, other.root(15), other.consistency_proof(10, 15)
        )
    )
    assert (e.name, e.args_[1:]) == ("InvalidConsistencyProof", (10, 15))
    # the right root with a proof from the wrong size
    e = revert_of(
        lambda: c.log.anchor(c.operator, log_id, 15, t.root(15), t.consistency_proof(9, 15))
    )
    assert e.name == "InvalidConsistencyProof"
    e = revert_of(lambda: c.log.anchor(c.operator, fresh_id(), 15, t.root(15), []))
    assert e.name == "UnknownLog"
    # nothing above changed the log
    assert [(cp.size, cp.root) for cp in c.log.checkpoints(log_id)] == [(10, t.root(10))]
    c.log.anchor(c.operator, log_id, 15, t.root(15), t.consistency_proof(10, 15))
    assert c.log.latest(log_id).size == 15  # type: ignore[union-attr]


def test_register_log_validation_and_operator_rotation(consortium: Consortium) -> None:
    c = consortium
    log_id = _registered(c)
    assert (
        revert_of(
            lambda: c.log.register_log(c.log_admin, log_id, b"\x00" * 32, c.operator.address)
        ).name
        == "LogAlreadyRegistered"
    )
    assert (
        revert_of(
            lambda: c.log.register_log(c.log_admin, b"\x00" * 32, b"\x00" * 32, c.operator.address)
        ).name
        == "InvalidLogParameters"
    )
    assert (
        revert_of(
            lambda: c.log.register_log(c.log_admin, fresh_id(), b"\x00" * 32, "0x" + "00" * 20)
        ).name
        == "InvalidLogParameters"
    )
    t = tree(4)
    c.log.anchor(c.operator, log_id, 2, t.root(2), [])
    new_operator = c.new_account()
    receipt = c.chain.transact(
        c.log_admin, c.log.contract.functions.setOperator(log_id, new_operator.address)
    )
    (ev,) = c.log.contract.events.LogOperatorChanged().process_receipt(receipt)
    assert (ev["args"]["previousOperator"], ev["args"]["newOperator"]) == (
        c.operator.address,
        new_operator.address,
    )
    e = revert_of(lambda: c.log.anchor(c.operator, log_id, 4, t.root(4), t.consistency_proof(2, 4)))
    assert e.name == "NotLogOperator"
    c.log.anchor(new_operator, log_id, 4, t.root(4), t.consistency_proof(2, 4))
    assert c.log.registered_logs()[log_id][1] == new_operator.address


def test_inclusion_view_against_anchored_checkpoints(consortium: Consortium) -> None:
    c = consortium
    log_id = _registered(c)
    t = tree(21)
    c.log.anchor(c.operator, log_id, 21, t.root(21), [])
    for i in (0, 7, 16, 20):
        proof = t.inclusion_proof(i, 21)
        assert c.log.verify_inclusion(log_id, 21, i, t.levels[0][i], proof)
        assert not c.log.verify_inclusion(log_id, 21, i, leaf_hash(b"other"), proof)
        assert not c.log.verify_inclusion(log_id, 21, (i + 1) % 21, t.levels[0][i], proof)
    e = revert_of(
        lambda: c.log.verify_inclusion(log_id, 20, 0, t.levels[0][0], t.inclusion_proof(0, 20))
    )
    assert e.name == "CheckpointNotFound"


def test_anchor_gas_is_logarithmic(consortium: Consortium) -> None:
    """Gas grows with the proof length (log n), not with the number of leaves."""
    c = consortium
    log_id = _registered(c)
    t = tree(1025)
    g_small = c.log.anchor(c.operator, log_id, 3, t.root(3), [])["gasUsed"]
    g_mid = c.log.anchor(c.operator, log_id, 100, t.root(100), t.consistency_proof(3, 100))[
        "gasUsed"
    ]
    g_big = c.log.anchor(c.operator, log_id, 1025, t.root(1025), t.consistency_proof(100, 1025))[
        "gasUsed"
    ]
    assert max(g_small, g_mid, g_big) < 120_000
    assert g_big - g_mid < 20_000


# ---------------------------------------------------------------------------------------------
# Membership
# ---------------------------------------------------------------------------------------------


def test_register_org_and_read_back(consortium: Consortium) -> None:
    c = consortium
    signer = c.new_account()
    org_id, enc = fresh_id(), os.urandom(32)
    receipt = c.membership.register_org(
        c.registrar, org_id, YULIN, OrgKind.DEPARTMENT, signer.address, enc
    )
    (ev,) = c.membership.contract.events.OrgRegistered().process_receipt(receipt)
    assert (ev["args"]["orgId"], ev["args"]["signer"]) == (org_id, signer.address)
    org = c.membership.org(org_id)
    assert (org.city, org.kind, org.active, org.key_count) == (YULIN, OrgKind.DEPARTMENT, True, 1)
    keys = c.membership.current_keys(org_id)
    assert (keys.signer, keys.encryption_key) == (signer.address, enc)
    assert c.membership.org_of_signer(signer.address) == org_id
    assert c.membership.is_active(org_id)
    assert revert_of(lambda: c.membership.org(fresh_id())).name == "UnknownOrg"
    assert (
        revert_of(
            lambda: c.membership.register_org(
                c.registrar, org_id, YULIN, OrgKind.DEPARTMENT, c.new_account().address, enc
            )
        ).name
        == "OrgAlreadyRegistered"
    )
    for bad in (
        (b"\x00" * 32, OrgKind.DEPARTMENT, c.new_account().address, enc),
        (fresh_id(), OrgKind.NONE, c.new_account().address, enc),
        (fresh_id(), OrgKind.DEPARTMENT, "0x" + "00" * 20, enc),
        (fresh_id(), OrgKind.DEPARTMENT, c.new_account().address, b"\x00" * 32),
    ):
        e = revert_of(
            lambda bad=bad: c.membership.register_org(
                c.registrar, bad[0], YULIN, bad[1], bad[2], bad[3]
            )
        )
        assert e.name == "InvalidOrgParameters"
    # a signing address serves one organisation only
    e = revert_of(
        lambda: c.membership.register_org(
            c.registrar, fresh_id(), YULIN, OrgKind.UTILITY, signer.address, enc
        )
    )
    assert e.name == "SignerAlreadyUsed"


def test_key_rotation_keeps_history(consortium: Consortium) -> None:
    c = consortium
    first, second, third = c.new_account(), c.new_account(), c.new_account()
    org_id = fresh_id()
    c.membership.register_org(
        c.registrar, org_id, YULIN, OrgKind.DEPARTMENT, first.address, b"\x01" * 32
    )
    t0 = c.membership.current_keys(org_id).valid_from
    c.chain.advance_time(100)
    c.membership.rotate_keys(first, org_id, second.address, b"\x02" * 32)  # self-service
    t1 = c.membership.current_keys(org_id).valid_from
    c.chain.advance_time(100)
    c.membership.rotate_keys(c.registrar, org_id, third.address, b"\x03" * 32)  # lost key
    t2 = c.membership.current_keys(org_id).valid_from
    assert t0 < t1 < t2
    assert c.membership.keys_at(org_id, t0).signer == first.address
    assert c.membership.keys_at(org_id, t1 - 1).signer == first.address
    assert c.membership.keys_at(org_id, t1).signer == second.address
    assert c.membership.keys_at(org_id, t2 - 1).signer == second.address
    assert c.membership.keys_at(org_id, t2 + 10**6).signer == third.address
    assert c.membership.keys_at(org_id, t2).encryption_key == b"\x03" * 32
    assert revert_of(lambda: c.membership.keys_at(org_id, t0 - 1)).name == "NoKeyAt"
    assert [c.membership.key_epoch(org_id, i).signer for i in range(3)] == [
        first.address,
        second.address,
        third.address,
    ]
    assert c.membership.org(org_id).key_count == 3
    # a rotated-away key no longer acts for the org, and can never be reused
    assert c.membership.org_of_signer(first.address) == b"\x00" * 32
    e = revert_of(
        lambda: c.membership.rotate_keys(first, org_id, c.new_account().address, b"\x04" * 32)
    )
    assert e.name == "NotOrgSignerOrRegistrar"
    e = revert_of(lambda: c.membership.rotate_keys(third, org_id, first.address, b"\x04" * 32))
    assert e.name == "SignerAlreadyUsed"


def test_suspend_and_reactivate(consortium: Consortium) -> None:
    c = consortium
    org_id = fresh_id()
    c.membership.register_org(
        c.registrar,
        org_id,
        YULIN,
        OrgKind.FINANCIAL_INSTITUTION,
        c.new_account().address,
        b"\x05" * 32,
    )
    receipt = c.membership.suspend(c.registrar, org_id, b"\x09" * 32)
    (ev,) = c.membership.contract.events.OrgSuspended().process_receipt(receipt)
    assert ev["args"]["reasonCode"] == b"\x09" * 32
    assert not c.membership.is_active(org_id)
    assert (
        revert_of(lambda: c.membership.suspend(c.registrar, org_id, b"\x09" * 32)).name
        == "OrgNotActive"
    )
    c.membership.reactivate(c.registrar, org_id)
    assert c.membership.is_active(org_id)
    assert (
        revert_of(lambda: c.membership.reactivate(c.registrar, org_id)).name == "OrgAlreadyActive"
    )
    assert (
        revert_of(lambda: c.membership.suspend(c.registrar, fresh_id(), b"\x00" * 32)).name
        == "UnknownOrg"
    )


def test_admin_transfer_is_two_step_and_delayed(consortium: Consortium) -> None:
    """The consortium admin moves only by begin → wait the delay → accept by the new admin."""
    c = consortium
    new_admin = c.new_account()
    for client in (c.log, c.membership):
        fns = client.contract.functions
        c.chain.transact(c.admin, fns.beginDefaultAdminTransfer(new_admin.address))
        e = revert_of(lambda fns=fns: c.chain.transact(new_admin, fns.acceptDefaultAdminTransfer()))
        assert e.name == "AccessControlEnforcedDefaultAdminDelay"
    c.chain.advance_time(3600 + 1)
    for client in (c.log, c.membership):
        fns = client.contract.functions
        c.chain.transact(new_admin, fns.acceptDefaultAdminTransfer())
        assert c.chain.call(fns.defaultAdmin()) == new_admin.address
        assert not c.chain.call(fns.hasRole(DEFAULT_ADMIN, c.admin.address))
    # the old admin can no longer grant roles; the new one can
    e = revert_of(
        lambda: c.chain.transact(
            c.admin, c.log.contract.functions.grantRole(LOG_ADMIN, c.stranger.address)
        )
    )
    assert e.name == "AccessControlUnauthorizedAccount"
    c.chain.transact(new_admin, c.log.contract.functions.grantRole(LOG_ADMIN, c.stranger.address))
    c.log.register_log(c.stranger, fresh_id(), b"\x00" * 32, c.operator.address)
