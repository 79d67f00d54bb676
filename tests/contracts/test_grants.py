"""The Grants contract, run against each backend: eth-tester in-process and anvil as a separate
JSON-RPC process (the `consortium` fixture is parametrised over both).

Subjects are not member organisations: a credit office binds a subject commitment to the
subject's own key, which then creates and revokes consent grants by EIP-712 signatures that
anyone may relay. Organisations act through their current Membership signer."""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from node import (
    ContractRevert,
    DeployedContract,
    Deployment,
    GrantBasis,
    GrantParams,
    GrantsClient,
    ManifestError,
    OrgKind,
    purpose_id,
    sign_grant,
)
from tests.conftest import Consortium

YULIN = 610800
LANZHOU = 620100
ZERO = b"\x00" * 32
LOAN = purpose_id("loan_approval")
DAY = 86_400
_ids = itertools.count(1)


def fresh_id() -> bytes:
    return next(_ids).to_bytes(4, "big") + os.urandom(28)


def revert_of(fn: Callable[[], Any]) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        fn()
    return info.value


def now(c: Consortium) -> int:
    return int(c.chain.w3.eth.get_block("latest")["timestamp"])


def travel_to(c: Consortium, t: int) -> None:
    """Mine a block with a timestamp of at least ``t`` (the embedded backend lands up to a
    second short of the requested time, so ask for one more)."""
    c.chain.advance_time(t - now(c) + 1)
    assert now(c) >= t


@dataclass
class World:
    """A consortium with a credit office, a bank, a department, a suspended credit office and
    one subject whose key the credit office has bound."""

    c: Consortium
    grants: GrantsClient
    office: LocalAccount
    office_id: bytes
    bank: LocalAccount
    bank_id: bytes
    dept: LocalAccount
    dept_id: bytes
    suspended: LocalAccount
    suspended_id: bytes
    subject: bytes
    subject_key: LocalAccount
    relayer: LocalAccount

    def org(self, kind: OrgKind, city: int = YULIN) -> tuple[LocalAccount, bytes]:
        return new_org(self.c, kind, city)

    def params(self, **changes: Any) -> GrantParams:
        """A consent grant for the subject to the bank, live for a year from now."""
        t = now(self.c)
        base = GrantParams(
            subject=self.subject,
            grantee=self.bank_id,
            purpose=LOAN,
            categories=0b1011,
            valid_from=t,
            valid_until=t + 365 * DAY,
            basis=GrantBasis.CONSENT,
            evidence_hash=os.urandom(32),
        )
        return dataclasses.replace(base, **changes)

    def statutory(self, **changes: Any) -> GrantParams:
        return self.params(**{"basis": GrantBasis.STATUTORY, "grantee": self.dept_id, **changes})

    def by_subject(
        self,
        relayer: LocalAccount,
        params: GrantParams | None = None,
        key: LocalAccount | None = None,
    ) -> bytes:
        """Create a consent grant by the subject's signature, relayed by `relayer`; its id."""
        p = params or self.params()
        nonce, deadline = os.urandom(32), now(self.c) + 3600
        sig = self.grants.sign_grant(key or self.subject_key, p, nonce, deadline)
        self.grants.create_grant_by_subject(relayer, p, nonce, deadline, sig)
        return p.grant_id(nonce)

    def by_registrar(self, account: LocalAccount, params: GrantParams | None = None) -> bytes:
        p = params or self.params()
        nonce = os.urandom(32)
        self.grants.create_grant(account, p, nonce)
        return p.grant_id(nonce)

    def new_subject(self) -> tuple[bytes, LocalAccount]:
        subject, key = os.urandom(32), Account.create()
        self.grants.bind_subject_key(self.office, subject, key.address)
        return subject, key


def new_org(c: Consortium, kind: OrgKind, city: int = YULIN) -> tuple[LocalAccount, bytes]:
    """A registered organisation: its (funded) signer and its id."""
    signer, org_id = c.new_account(), fresh_id()
    c.membership.register_org(c.registrar, org_id, city, kind, signer.address, os.urandom(32))
    return signer, org_id


@pytest.fixture
def world(consortium: Consortium) -> World:
    c = consortium
    grants = c.deployment.grants(c.chain)
    office, office_id = new_org(c, OrgKind.CREDIT_OFFICE)
    bank, bank_id = new_org(c, OrgKind.FINANCIAL_INSTITUTION)
    dept, dept_id = new_org(c, OrgKind.DEPARTMENT)
    suspended, suspended_id = new_org(c, OrgKind.CREDIT_OFFICE, LANZHOU)
    c.membership.suspend(c.registrar, suspended_id, b"\x02" * 32)
    subject, subject_key = os.urandom(32), c.new_account()  # funded: it also sends in the table
    grants.bind_subject_key(office, subject, subject_key.address)
    return World(
        c,
        grants,
        office,
        office_id,
        bank,
        bank_id,
        dept,
        dept_id,
        suspended,
        suspended_id,
        subject,
        subject_key,
        relayer=c.new_account(),
    )


# ---------------------------------------------------------------------------------------------
# Role table: every state-changing function × every caller
# ---------------------------------------------------------------------------------------------

CALLERS = ("admin", "office", "bank", "dept", "suspended_office", "stranger", "subject", "relayer")
OK = "ok"


def _expect(**overrides: str) -> dict[str, str]:
    """Non-members get NotMemberSigner, the suspended credit office CallerOrgNotActive."""
    base = dict.fromkeys(("admin", "stranger", "subject", "relayer"), "NotMemberSigner")
    return {**base, "suspended_office": "CallerOrgNotActive", **overrides}


ANYONE = dict.fromkeys(CALLERS, OK)


# variant -> (perform the call as a caller, expected outcome per caller). Each call sets up
# its own preconditions (a fresh subject or grant), so every allowed caller succeeds.
def _table(w: World) -> dict[str, tuple[Callable[[LocalAccount], Any], dict[str, str]]]:
    g = w.grants

    def unbind(a: LocalAccount) -> Any:
        subject, _ = w.new_subject()
        return g.unbind_subject_key(a, subject)

    def revoke(a: LocalAccount) -> Any:
        return g.revoke_grant(a, w.by_registrar(w.bank))

    def revoke_by_subject(a: LocalAccount) -> Any:
        gid = w.by_registrar(w.bank)
        deadline = now(w.c) + 3600
        return g.revoke_by_subject(
            a, gid, deadline, g.sign_revocation(w.subject_key, gid, deadline)
        )

    def by_subject(a: LocalAccount) -> Any:
        p, nonce, deadline = w.params(), os.urandom(32), now(w.c) + 3600
        sig = g.sign_grant(w.subject_key, p, nonce, deadline)
        return g.create_grant_by_subject(a, p, nonce, deadline, sig)

    return {
        "bindSubjectKey": (
            lambda a: g.bind_subject_key(a, os.urandom(32), Account.create().address),
            _expect(office=OK, bank="NotCreditOffice", dept="NotCreditOffice"),
        ),
        "unbindSubjectKey": (
            unbind,
            _expect(office=OK, bank="NotCreditOffice", dept="NotCreditOffice"),
        ),
        "createGrant[consent]": (
            lambda a: g.create_grant(a, w.params(), os.urandom(32)),
            _expect(office=OK, bank=OK, dept="NotGranteeOrCreditOffice"),
        ),
        "createGrant[statutory]": (
            lambda a: g.create_grant(a, w.statutory(), os.urandom(32)),
            _expect(office=OK, bank="NotCreditOffice", dept="NotCreditOffice"),
        ),
        "createGrantBySubject": (by_subject, ANYONE),
        "revokeGrant": (
            revoke,
            _expect(office=OK, bank=OK, dept="NotRegistrarOrCreditOffice"),
        ),
        "revokeBySubject": (revoke_by_subject, ANYONE),
    }


STATE_CHANGING = {
    "bindSubjectKey",
    "unbindSubjectKey",
    "createGrant",
    "createGrantBySubject",
    "revokeGrant",
    "revokeBySubject",
}


def test_role_table_covers_every_state_changing_function(world: World) -> None:
    """The table is complete: every non-view function of the Grants ABI is in it, and Grants
    has no roles or admin of its own (its authority comes from Membership)."""
    abi_fns = {
        i["name"]
        for i in world.grants.contract.abi
        if i["type"] == "function" and i["stateMutability"] not in ("view", "pure")
    }
    assert abi_fns == STATE_CHANGING
    assert {k.split("[")[0] for k in _table(world)} == STATE_CHANGING
    assert all(set(expected) == set(CALLERS) for _, expected in _table(world).values())


@pytest.mark.parametrize(
    "variant",
    [
        "bindSubjectKey",
        "unbindSubjectKey",
        "createGrant[consent]",
        "createGrant[statutory]",
        "createGrantBySubject",
        "revokeGrant",
        "revokeBySubject",
    ],
)
def test_role_table(world: World, variant: str) -> None:
    """Each refused caller gets the expected custom error naming it; each allowed one succeeds."""
    w = world
    call, expected = _table(w)[variant]
    callers = {
        "admin": w.c.admin,
        "office": w.office,
        "bank": w.bank,
        "dept": w.dept,
        "suspended_office": w.suspended,
        "stranger": w.c.stranger,
        "subject": w.subject_key,  # the subject's bound key, sending a transaction itself
        "relayer": w.relayer,
    }
    org_of = {
        "office": w.office_id,
        "bank": w.bank_id,
        "dept": w.dept_id,
        "suspended_office": w.suspended_id,
    }
    outcome: dict[str, str] = {}
    for who in CALLERS:
        account = callers[who]
        if expected[who] == OK:
            outcome[who] = OK if call(account)["status"] == 1 else "failed"
            continue
        exc = revert_of(lambda a=account: call(a))  # type: ignore[misc]
        outcome[who] = exc.name
        if exc.name == "NotMemberSigner":
            assert exc.args_[0].lower() == account.address.lower()
        elif exc.name in (
            "CallerOrgNotActive",
            "NotCreditOffice",
            "NotGranteeOrCreditOffice",
            "NotRegistrarOrCreditOffice",
        ):
            assert exc.args_[0] == org_of[who]
    assert outcome == expected


# ---------------------------------------------------------------------------------------------
# Grant ids
# ---------------------------------------------------------------------------------------------


def test_grant_id_is_derivable_and_never_reused(world: World) -> None:
    w, g = world, world.grants
    p, nonce = w.params(), os.urandom(32)
    gid = p.grant_id(nonce)
    assert g.grant_id_of(p, nonce) == gid
    # the id depends on every parameter and on the nonce
    others = [
        g.grant_id_of(w.params(categories=0b1), nonce),
        g.grant_id_of(dataclasses.replace(p, purpose=purpose_id("x")), nonce),
        g.grant_id_of(p, os.urandom(32)),
    ]
    assert gid not in others
    receipt = g.create_grant(w.bank, p, nonce)
    (ev,) = g.contract.events.GrantCreated().process_receipt(receipt)
    assert ev["args"]["grantId"] == gid
    got = g.grant(gid)
    assert (got.subject, got.grantee, got.purpose, got.categories) == (
        w.subject,
        w.bank_id,
        LOAN,
        0b1011,
    )
    assert (got.valid_from, got.valid_until, got.basis, got.evidence_hash) == (
        p.valid_from,
        p.valid_until,
        GrantBasis.CONSENT,
        p.evidence_hash,
    )
    assert (got.registrar, got.revoked_at) == (w.bank_id, 0)
    assert got.created_at == w.c.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]

    # the same grant again, by anyone, is refused — while live and after revocation
    e = revert_of(lambda: g.create_grant(w.office, p, nonce))
    assert (e.name, e.args_) == ("GrantExists", (gid,))
    g.revoke_grant(w.office, gid)
    for creator in (w.office, w.bank):
        e = revert_of(lambda a=creator: g.create_grant(a, p, nonce))  # type: ignore[misc]
        assert (e.name, e.args_) == ("GrantExists", (gid,))
    deadline = now(w.c) + 3600
    sig = g.sign_grant(w.subject_key, p, nonce, deadline)
    e = revert_of(lambda: g.create_grant_by_subject(w.relayer, p, nonce, deadline, sig))
    assert (e.name, e.args_) == ("GrantExists", (gid,))
    assert g.grant(gid).revoked_at != 0
    assert not g.is_live(gid, now(w.c))
    # a new grant needs a new nonce, and gets a new id
    new_nonce = os.urandom(32)
    g.create_grant(w.bank, p, new_nonce)
    assert g.is_live(p.grant_id(new_nonce), now(w.c))
    assert revert_of(lambda: g.grant(fresh_id())).name == "UnknownGrant"


# ---------------------------------------------------------------------------------------------
# Subject signatures
# ---------------------------------------------------------------------------------------------


def test_subject_signed_grant_and_its_refusals(world: World) -> None:
    w, g = world, world.grants
    p, nonce, deadline = w.params(), os.urandom(32), now(w.c) + 3600
    sig = g.sign_grant(w.subject_key, p, nonce, deadline)
    # the contract's digest is the one eth_account signed
    digest = bytes(w.c.chain.call(g.contract.functions.grantDigest(p.as_tuple(), nonce, deadline)))
    assert Account._recover_hash(digest, signature=sig) == w.subject_key.address

    # tampered content, another nonce or deadline: the signature no longer matches
    tampered = [
        (dataclasses.replace(p, categories=0b1111), nonce, deadline),
        (dataclasses.replace(p, grantee=w.dept_id), nonce, deadline),
        (dataclasses.replace(p, valid_until=p.valid_until + 1), nonce, deadline),
        (p, os.urandom(32), deadline),
        (p, nonce, deadline + 1),
    ]
    for tp, tn, td in tampered:
        e = revert_of(partial(g.create_grant_by_subject, w.relayer, tp, tn, td, sig))
        assert (e.name, e.args_) == ("InvalidSubjectSignature", (w.subject,))
    # a signature for another deployment (domain: chain id and contract) is refused
    foreign = sign_grant(
        w.subject_key, w.c.chain.chain_id, w.c.membership.address, p, nonce, deadline
    )
    e = revert_of(lambda: g.create_grant_by_subject(w.relayer, p, nonce, deadline, foreign))
    assert e.name == "InvalidSubjectSignature"
    # another subject's key cannot sign for this subject
    other_subject, other_key = w.new_subject()
    wrong = g.sign_grant(other_key, p, nonce, deadline)
    e = revert_of(lambda: g.create_grant_by_subject(w.relayer, p, nonce, deadline, wrong))
    assert (e.name, e.args_) == ("InvalidSubjectSignature", (w.subject,))
    # malformed and malleated (high-s) signatures
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(sig[32:64], "big")
    malleated = sig[:32] + (n - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    for bad in (sig[:64], b"", sig + b"\x00", malleated):
        e = revert_of(partial(g.create_grant_by_subject, w.relayer, p, nonce, deadline, bad))
        assert e.name == "InvalidSubjectSignature"
    # an unbound subject has no key to sign with
    unbound = os.urandom(32)
    q = w.params(subject=unbound)
    e = revert_of(
        lambda: g.create_grant_by_subject(
            w.relayer, q, nonce, deadline, g.sign_grant(w.subject_key, q, nonce, deadline)
        )
    )
    assert (e.name, e.args_) == ("SubjectKeyNotBound", (unbound,))
    # the subject's signature creates consent grants only
    st = dataclasses.replace(p, basis=GrantBasis.STATUTORY)
    e = revert_of(
        lambda: g.create_grant_by_subject(
            w.relayer, st, nonce, deadline, g.sign_grant(w.subject_key, st, nonce, deadline)
        )
    )
    assert (e.name, e.args_) == ("ConsentBasisRequired", (st.grant_id(nonce),))
    # an expired signature
    past = now(w.c) - 1
    e = revert_of(
        lambda: g.create_grant_by_subject(
            w.relayer, p, nonce, past, g.sign_grant(w.subject_key, p, nonce, past)
        )
    )
    assert (e.name, e.args_) == ("SignatureExpired", (past,))

    # relayed by anyone; registrar zero; replaying the same signature is refused
    receipt = g.create_grant_by_subject(w.c.stranger, p, nonce, deadline, sig)
    (ev,) = g.contract.events.GrantCreated().process_receipt(receipt)
    assert (ev["args"]["registrar"], ev["args"]["basis"]) == (ZERO, GrantBasis.CONSENT)
    assert g.grant(p.grant_id(nonce)).registrar == ZERO
    e = revert_of(lambda: g.create_grant_by_subject(w.relayer, p, nonce, deadline, sig))
    assert (e.name, e.args_) == ("GrantExists", (p.grant_id(nonce),))
    # a subject-signed grant has no registrar: only a credit office (or the subject) revokes
    e = revert_of(lambda: g.revoke_grant(w.bank, p.grant_id(nonce)))
    assert e.name == "NotRegistrarOrCreditOffice"
    assert other_subject != w.subject


def test_key_binding_rebinding_and_unbinding(world: World) -> None:
    w, g = world, world.grants
    subject, first = os.urandom(32), Account.create()
    assert g.subject_key(subject) is None
    receipt = g.bind_subject_key(w.office, subject, first.address)
    (ev,) = g.contract.events.SubjectKeyBound().process_receipt(receipt)
    assert (ev["args"]["subject"], ev["args"]["key"], ev["args"]["byOrg"]) == (
        subject,
        first.address,
        w.office_id,
    )
    assert int(ev["args"]["previousKey"], 16) == 0
    assert g.subject_key(subject) == first.address
    for bad in ((ZERO, first.address), (subject, "0x" + "00" * 20)):
        e = revert_of(partial(g.bind_subject_key, w.office, *bad))
        assert e.name == "InvalidSubjectBinding"

    # a signature made with the old key before a rebinding (key loss) is dead afterwards
    p, nonce, deadline = w.params(subject=subject), os.urandom(32), now(w.c) + 3600
    old_sig = g.sign_grant(first, p, nonce, deadline)
    second = Account.create()
    other_office, other_office_id = w.org(OrgKind.CREDIT_OFFICE, LANZHOU)
    receipt = g.bind_subject_key(other_office, subject, second.address)
    (ev,) = g.contract.events.SubjectKeyBound().process_receipt(receipt)
    assert (ev["args"]["previousKey"], ev["args"]["byOrg"]) == (first.address, other_office_id)
    e = revert_of(lambda: g.create_grant_by_subject(w.relayer, p, nonce, deadline, old_sig))
    assert e.name == "InvalidSubjectSignature"
    g.create_grant_by_subject(
        w.relayer, p, nonce, deadline, g.sign_grant(second, p, nonce, deadline)
    )

    # unbinding: no key, no subject signatures; unbinding twice is refused
    receipt = g.unbind_subject_key(w.office, subject)
    (ev,) = g.contract.events.SubjectKeyUnbound().process_receipt(receipt)
    assert (ev["args"]["previousKey"], ev["args"]["byOrg"]) == (second.address, w.office_id)
    assert g.subject_key(subject) is None
    e = revert_of(lambda: g.unbind_subject_key(w.office, subject))
    assert (e.name, e.args_) == ("SubjectKeyNotBound", (subject,))
    n2 = os.urandom(32)
    e = revert_of(
        lambda: g.create_grant_by_subject(
            w.relayer, p, n2, deadline, g.sign_grant(second, p, n2, deadline)
        )
    )
    assert e.name == "SubjectKeyNotBound"


# ---------------------------------------------------------------------------------------------
# Revocation
# ---------------------------------------------------------------------------------------------


def test_revocation_by_registrar_and_credit_office(world: World) -> None:
    w, g = world, world.grants
    gid = w.by_registrar(w.bank)
    receipt = g.revoke_grant(w.bank, gid)
    (ev,) = g.contract.events.GrantRevoked().process_receipt(receipt)
    assert (ev["args"]["grantId"], ev["args"]["subject"], ev["args"]["grantee"]) == (
        gid,
        w.subject,
        w.bank_id,
    )
    assert ev["args"]["byOrg"] == w.bank_id
    revoked_at = w.c.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert g.grant(gid).revoked_at == revoked_at
    for who in (w.bank, w.office):
        e = revert_of(lambda a=who: g.revoke_grant(a, gid))  # type: ignore[misc]
        assert (e.name, e.args_) == ("GrantAlreadyRevoked", (gid,))
    unknown = fresh_id()
    e = revert_of(lambda: g.revoke_grant(w.office, unknown))
    assert (e.name, e.args_) == ("UnknownGrant", (unknown,))
    # a credit office of another city revokes anybody's grant, statutory ones included
    lanzhou, lanzhou_id = w.org(OrgKind.CREDIT_OFFICE, LANZHOU)
    st = w.by_registrar(w.office, w.statutory())
    receipt = g.revoke_grant(lanzhou, st)
    (ev,) = g.contract.events.GrantRevoked().process_receipt(receipt)
    assert ev["args"]["byOrg"] == lanzhou_id
    # the grantee of a statutory grant is not its registrar
    st2 = w.by_registrar(w.office, w.statutory())
    e = revert_of(lambda: g.revoke_grant(w.dept, st2))
    assert (e.name, e.args_) == ("NotRegistrarOrCreditOffice", (w.dept_id, st2))


def test_revocation_by_subject_signature(world: World) -> None:
    w, g = world, world.grants
    # the subject withdraws consent it gave through the bank (an authorisation letter)
    gid = w.by_registrar(w.bank)
    other = w.by_subject(w.relayer)
    deadline = now(w.c) + 3600
    sig = g.sign_revocation(w.subject_key, gid, deadline)
    digest = bytes(w.c.chain.call(g.contract.functions.revocationDigest(gid, deadline)))
    assert Account._recover_hash(digest, signature=sig) == w.subject_key.address
    # bound to one grant and one deadline
    e = revert_of(lambda: g.revoke_by_subject(w.relayer, other, deadline, sig))
    assert (e.name, e.args_) == ("InvalidSubjectSignature", (w.subject,))
    e = revert_of(lambda: g.revoke_by_subject(w.relayer, gid, deadline + 1, sig))
    assert e.name == "InvalidSubjectSignature"
    # another subject's key cannot revoke this subject's grant
    _, other_key = w.new_subject()
    e = revert_of(
        lambda: g.revoke_by_subject(
            w.relayer, gid, deadline, g.sign_revocation(other_key, gid, deadline)
        )
    )
    assert e.name == "InvalidSubjectSignature"
    past = now(w.c) - 1
    e = revert_of(
        lambda: g.revoke_by_subject(
            w.relayer, gid, past, g.sign_revocation(w.subject_key, gid, past)
        )
    )
    assert (e.name, e.args_) == ("SignatureExpired", (past,))
    receipt = g.revoke_by_subject(w.c.stranger, gid, deadline, sig)
    (ev,) = g.contract.events.GrantRevoked().process_receipt(receipt)
    assert ev["args"]["byOrg"] == ZERO
    assert g.grant(gid).revoked_at != 0
    # replaying the revocation is refused
    e = revert_of(lambda: g.revoke_by_subject(w.relayer, gid, deadline, sig))
    assert (e.name, e.args_) == ("GrantAlreadyRevoked", (gid,))
    # a statutory basis is not the subject's to withdraw
    st = w.by_registrar(w.office, w.statutory())
    e = revert_of(
        lambda: g.revoke_by_subject(
            w.relayer, st, deadline, g.sign_revocation(w.subject_key, st, deadline)
        )
    )
    assert (e.name, e.args_) == ("ConsentBasisRequired", (st,))
    unknown = fresh_id()
    e = revert_of(
        lambda: g.revoke_by_subject(
            w.relayer, unknown, deadline, g.sign_revocation(w.subject_key, unknown, deadline)
        )
    )
    assert (e.name, e.args_) == ("UnknownGrant", (unknown,))
    # after the key is unbound, the subject cannot sign revocations (a credit office can revoke)
    g.unbind_subject_key(w.office, w.subject)
    e = revert_of(
        lambda: g.revoke_by_subject(
            w.relayer, other, deadline, g.sign_revocation(w.subject_key, other, deadline)
        )
    )
    assert (e.name, e.args_) == ("SubjectKeyNotBound", (w.subject,))


# ---------------------------------------------------------------------------------------------
# Validity and reads
# ---------------------------------------------------------------------------------------------


def test_validity_window_with_time_travel(world: World) -> None:
    w, g = world, world.grants
    t0 = now(w.c)
    gid = w.by_registrar(w.bank, w.params(valid_from=t0 + 1000, valid_until=t0 + 2000))
    assert not g.is_live(gid, now(w.c))  # not yet valid
    travel_to(w.c, t0 + 1000)
    t1 = now(w.c)
    assert t0 + 1000 <= t1 < t0 + 2000
    assert g.is_live(gid, t1)
    assert g.permits(gid, w.subject, w.bank_id, LOAN, 0, t1)
    travel_to(w.c, t0 + 2000)
    t2 = now(w.c)
    assert t2 >= t0 + 2000
    assert not g.is_live(gid, t2)  # expired
    assert not g.permits(gid, w.subject, w.bank_id, LOAN, 0, t2)
    # the window's edges: validFrom is in, validUntil is out
    assert g.is_live(gid, t0 + 1000)
    assert g.is_live(gid, t0 + 1999)
    assert not g.is_live(gid, t0 + 999)
    assert not g.is_live(gid, t0 + 2000)
    assert not g.is_live(fresh_id(), t1)
    # an expired grant cannot be created (nor one whose window is empty)
    for vf, vu in ((t2 - 100, t2 - 1), (t2 + 100, t2 + 100), (t2 + 100, t2 + 50)):
        bad = w.params(valid_from=vf, valid_until=vu)
        e = revert_of(partial(g.create_grant, w.bank, bad, os.urandom(32)))
        assert (e.name, e.args_) == ("InvalidValidity", (vf, vu))


def test_revocation_stops_reads_from_its_block_on(world: World) -> None:
    """Evaluated at a block (as the gateway does at its latest confirmed block), a grant is live
    up to the block before its revocation and not from the revocation's block on."""
    w, g = world, world.grants
    gid = w.by_subject(w.relayer)
    receipt = g.revoke_grant(w.office, gid)
    block = int(receipt["blockNumber"])
    before = w.c.chain.w3.eth.get_block(block - 1)["timestamp"]
    at = w.c.chain.w3.eth.get_block(block)["timestamp"]
    assert g.is_live(gid, before, block=block - 1)
    assert g.permits(gid, w.subject, w.bank_id, LOAN, 0, before, block=block - 1)
    assert not g.is_live(gid, at, block=block)
    assert not g.permits(gid, w.subject, w.bank_id, LOAN, 0, at, block=block)
    assert g.grant(gid, block=block - 1).revoked_at == 0
    assert g.grant(gid, block=block).revoked_at == at


def test_permits_checks_subject_grantee_purpose_category(world: World) -> None:
    w, g = world, world.grants
    t = now(w.c)
    gid = w.by_subject(w.relayer, w.params(categories=(1 << 0) | (1 << 3) | (1 << 255)))
    assert g.permits(gid, w.subject, w.bank_id, LOAN, 0, t)
    assert g.permits(gid, w.subject, w.bank_id, LOAN, 3, t)
    assert g.permits(gid, w.subject, w.bank_id, LOAN, 255, t)
    assert not g.permits(gid, w.subject, w.bank_id, LOAN, 1, t)
    assert not g.permits(gid, os.urandom(32), w.bank_id, LOAN, 0, t)
    assert not g.permits(gid, ZERO, w.bank_id, LOAN, 0, t)
    assert not g.permits(gid, w.subject, w.dept_id, LOAN, 0, t)
    assert not g.permits(gid, w.subject, w.bank_id, purpose_id("marketing"), 0, t)
    # a statutory grant for any subject covers every subject, for its grantee only
    anyone = w.by_registrar(w.office, w.statutory(subject=ZERO, purpose=purpose_id("tax_audit")))
    t = now(w.c)
    for subject in (w.subject, os.urandom(32)):
        assert g.permits(anyone, subject, w.dept_id, purpose_id("tax_audit"), 1, t)
    assert not g.permits(anyone, w.subject, w.bank_id, purpose_id("tax_audit"), 1, t)
    # a suspended grantee's grants stop permitting reads (and come back on reactivation)
    w.c.membership.suspend(w.c.registrar, w.bank_id, b"\x01" * 32)
    assert g.is_live(gid, t)
    assert not g.permits(gid, w.subject, w.bank_id, LOAN, 0, t)
    w.c.membership.reactivate(w.c.registrar, w.bank_id)
    assert g.permits(gid, w.subject, w.bank_id, LOAN, 0, t)


def test_events_let_an_indexer_list_a_subjects_grants(world: World) -> None:
    w, g = world, world.grants
    start = w.c.chain.head()
    a = w.by_subject(w.relayer)
    b = w.by_registrar(w.bank)
    other_subject, other_key = w.new_subject()
    c = w.by_subject(w.relayer, w.params(subject=other_subject), key=other_key)
    d = w.by_registrar(w.office, w.statutory())
    assert g.grant_ids(subject=w.subject, from_block=start) == [a, b, d]
    assert g.grant_ids(subject=other_subject, from_block=start) == [c]
    assert g.grant_ids(grantee=w.bank_id, from_block=start) == [a, b, c]
    assert g.grant_ids(subject=w.subject, grantee=w.dept_id, from_block=start) == [d]
    revoked = g.contract.events.GrantRevoked().get_logs(
        argument_filters={"subject": w.subject}, from_block=start
    )
    assert revoked == []
    g.revoke_grant(w.bank, b)
    revoked = g.contract.events.GrantRevoked().get_logs(
        argument_filters={"subject": w.subject}, from_block=start
    )
    assert [bytes(ev["args"]["grantId"]) for ev in revoked] == [b]


# ---------------------------------------------------------------------------------------------
# Parameter and standing checks
# ---------------------------------------------------------------------------------------------


def test_grant_parameter_validation(world: World) -> None:
    w, g = world, world.grants

    def refused(account: LocalAccount, p: GrantParams) -> ContractRevert:
        return revert_of(lambda: g.create_grant(account, p, os.urandom(32)))

    # "any subject" is for statutory grants only
    e = refused(w.office, w.params(subject=ZERO))
    assert e.name == "AnySubjectRequiresStatutoryBasis"
    e = refused(w.bank, w.params(subject=ZERO))
    assert e.name == "AnySubjectRequiresStatutoryBasis"
    w.by_registrar(w.office, w.statutory(subject=ZERO))
    # statutory grants by a credit office only, whatever the grantee
    for who, org_id in ((w.bank, w.bank_id), (w.dept, w.dept_id)):
        for grantee in (w.bank_id, w.dept_id):
            e = refused(who, w.statutory(grantee=grantee))
            assert (e.name, e.args_) == ("NotCreditOffice", (org_id,))
    # a bank may register consent for itself only
    e = refused(w.bank, w.params(grantee=w.dept_id))
    assert (e.name, e.args_) == ("NotGranteeOrCreditOffice", (w.bank_id, w.dept_id))
    w.by_registrar(w.dept, w.params(grantee=w.dept_id))
    # empty or meaningless content
    for bad in (
        w.params(purpose=ZERO),
        w.params(categories=0),
        w.params(evidence_hash=ZERO),
        w.params(basis=GrantBasis.NONE),
    ):
        assert refused(w.office, bad).name == "InvalidGrantParameters"
    # the grantee must be an active member
    unknown = fresh_id()
    e = refused(w.office, w.params(grantee=unknown))
    assert (e.name, e.args_) == ("GranteeNotActive", (unknown,))
    e = refused(w.office, w.params(grantee=w.suspended_id))
    assert (e.name, e.args_) == ("GranteeNotActive", (w.suspended_id,))
    # a basis outside the enum does not even decode
    raw = (*w.params().as_tuple()[:6], 3, os.urandom(32))
    with pytest.raises(ContractRevert):
        w.c.chain.transact(w.office, g.contract.functions.createGrant(raw, os.urandom(32)))


def test_suspended_and_rotated_orgs(world: World) -> None:
    w, g = world, world.grants
    gid = w.by_registrar(w.bank)
    w.c.membership.suspend(w.c.registrar, w.bank_id, b"\x01" * 32)
    for fn in (
        lambda: g.create_grant(w.bank, w.params(), os.urandom(32)),
        lambda: g.revoke_grant(w.bank, gid),
    ):
        e = revert_of(fn)
        assert (e.name, e.args_) == ("CallerOrgNotActive", (w.bank_id,))
    # a suspended credit office binds no keys and creates no statutory grants
    e = revert_of(lambda: g.bind_subject_key(w.suspended, os.urandom(32), w.relayer.address))
    assert (e.name, e.args_) == ("CallerOrgNotActive", (w.suspended_id,))
    e = revert_of(lambda: g.create_grant(w.suspended, w.statutory(), os.urandom(32)))
    assert e.name == "CallerOrgNotActive"
    w.c.membership.reactivate(w.c.registrar, w.bank_id)
    # a rotated-away key no longer acts for its organisation; the new one does
    new_key = w.c.new_account()
    w.c.membership.rotate_keys(w.bank, w.bank_id, new_key.address, os.urandom(32))
    e = revert_of(lambda: g.revoke_grant(w.bank, gid))
    assert (e.name, e.args_[0].lower()) == ("NotMemberSigner", w.bank.address.lower())
    g.revoke_grant(new_key, gid)


# ---------------------------------------------------------------------------------------------
# Deployment and gas
# ---------------------------------------------------------------------------------------------


def test_deployment_check_masks_immutables_and_checks_the_link(world: World) -> None:
    w = world
    c = w.c
    c.deployment.check(c.chain)
    assert w.grants.membership_address() == c.membership.address
    # a Grants on another Membership: same code up to immutables, refused by the link check
    other_membership, _ = c.chain.deploy(c.admin, "Membership", 0, c.admin.address)
    address, receipt = c.chain.deploy(c.admin, "Grants", other_membership)
    forged = dataclasses.replace(
        c.deployment,
        contracts={
            **c.deployment.contracts,
            "Grants": DeployedContract(address, "0x", int(receipt["blockNumber"]), ""),
        },
    )
    with pytest.raises(ManifestError, match="uses Membership"):
        forged.check(c.chain)
    # a different contract where Grants should be
    wrong: Deployment = dataclasses.replace(
        c.deployment,
        contracts={**c.deployment.contracts, "Grants": c.deployment.contracts["Membership"]},
    )
    with pytest.raises(ManifestError, match="different code"):
        wrong.check(c.chain)
    assert Web3.is_checksum_address(address)


def test_gas(world: World) -> None:
    """Gas of the hot paths; no loops, so flat in the number of grants."""
    w, g = world, world.grants
    gas: dict[str, int] = {}
    gas["bindSubjectKey"] = g.bind_subject_key(w.office, os.urandom(32), w.relayer.address)[
        "gasUsed"
    ]
    p, nonce, deadline = w.params(), os.urandom(32), now(w.c) + 3600
    sig = g.sign_grant(w.subject_key, p, nonce, deadline)
    gas["createGrantBySubject"] = g.create_grant_by_subject(w.relayer, p, nonce, deadline, sig)[
        "gasUsed"
    ]
    q, qn = w.params(), os.urandom(32)
    gas["createGrant (consent, by grantee)"] = g.create_grant(w.bank, q, qn)["gasUsed"]
    s, sn = w.statutory(subject=ZERO), os.urandom(32)
    gas["createGrant (statutory, any subject)"] = g.create_grant(w.office, s, sn)["gasUsed"]
    gas["revokeGrant (registrar)"] = g.revoke_grant(w.bank, q.grant_id(qn))["gasUsed"]
    gas["revokeGrant (credit office)"] = g.revoke_grant(w.office, s.grant_id(sn))["gasUsed"]
    gid = p.grant_id(nonce)
    rsig = g.sign_revocation(w.subject_key, gid, deadline)
    gas["revokeBySubject"] = g.revoke_by_subject(w.relayer, gid, deadline, rsig)["gasUsed"]
    for _ in range(20):  # many grants for one subject change nothing
        w.by_subject(w.relayer)
    p2, n2 = w.params(), os.urandom(32)
    later = g.create_grant_by_subject(
        w.relayer, p2, n2, deadline, g.sign_grant(w.subject_key, p2, n2, deadline)
    )["gasUsed"]
    assert abs(later - gas["createGrantBySubject"]) < 200
    assert max(v for k, v in gas.items() if k.startswith("create")) < 230_000
    assert max(v for k, v in gas.items() if k.startswith("revoke")) < 80_000
    print(f"\n{w.c.chain.kind} gas: " + ", ".join(f"{k}={v}" for k, v in gas.items()))
