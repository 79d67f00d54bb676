"""The SDK's grant and receipt helpers against a running gateway on a real chain: find_grant
picks only a grant that covers the read; check_receipt_signature accepts the gateway's
receipt and refuses one re-signed by another key, edited, or another gateway's."""

from __future__ import annotations

import os

import pytest
from eth_account import Account

from gateway.client import (
    ReaderClient,
    check_receipt_signature,
    find_grant,
    grant_params,
    subject_ref,
)
from gateway.domain.records import hex0x, make_receipt, parse_receipt
from gateway.domain.signing import signing_domain, typed_signer
from gateway.errors import ReceiptUnverified
from tests.integration.conftest import Env, chain_clock

DAY = 86_400


def _params(env: Env, subject: bytes | None, **kw: object) -> object:
    now = int(chain_clock(env.chain))
    cat = env.runtime.gateway.catalog
    args: dict[str, object] = {
        "subject": subject,
        "grantee": bytes.fromhex(env.runtime.consortium["bank"].org_id[2:]),
        "purpose": "loan_approval",
        "category_mask": cat.category_mask(["tax_credit_rating"]),
        "valid_from": now - 60,
        "valid_until": now + DAY,
        "statutory": False,
        "evidence": b"form",
    }
    args.update(kw)
    return grant_params(**args)  # type: ignore[arg-type]


def _create(env: Env, params: object) -> bytes:
    nonce = os.urandom(32)
    env.runtime.deployment.grants(env.chain).create_grant(
        env.runtime.consortium["credit-office"].account(),
        params,
        nonce,  # type: ignore[arg-type]
    )
    return params.grant_id(nonce)  # type: ignore[attr-defined,no-any-return]


def test_find_grant_takes_only_a_grant_that_covers_the_read(sqlite_env: Env) -> None:
    env = sqlite_env
    cat = env.runtime.gateway.catalog
    grants = env.runtime.deployment.grants(env.chain)
    me = subject_ref(env.runtime.secrets.pepper, env.record("tax")["subject"])
    other = subject_ref(env.runtime.secrets.pepper, env.record("tax")["subject"])
    bank = bytes.fromhex(env.runtime.consortium["bank"].org_id[2:])
    tax_only = cat.category_mask(["tax_credit_rating"])
    both = cat.category_mask(["tax_credit_rating", "utility_arrears"])

    def find(mask: int = tax_only, subject: bytes = me, purpose: str = "loan_approval") -> object:
        g = find_grant(
            grants,
            grantee=bank,
            purpose=purpose,
            category_mask=mask,
            subject=subject,
            at=int(chain_clock(env.chain)),
        )
        return None if g is None else g.grant_id

    assert find() is None
    _create(env, _params(env, other))  # another subject's consent
    _create(env, _params(env, me, purpose="admin_approval"))  # another purpose
    assert find() is None
    mine = _create(env, _params(env, me))
    assert find() == mine
    assert find(mask=both) is None  # a category it does not cover
    env.runtime.deployment.grants(env.chain).revoke_grant(
        env.runtime.consortium["credit-office"].account(), mine
    )
    assert find() is None
    statute = _create(env, _params(env, None, statutory=True, category_mask=both))
    assert find() == statute
    assert find(mask=both, subject=other) == statute
    with pytest.raises(ValueError, match="consent grant names its subject"):
        _params(env, None)


def test_check_receipt_signature_accepts_the_gateways_and_refuses_others(sqlite_env: Env) -> None:
    env = sqlite_env
    d = env.runtime.deployment
    bank = env.runtime.consortium["bank"]
    reader = ReaderClient(
        env.url,
        bank.account(),
        bytes.fromhex(bank.org_id[2:]),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=env.http,
        clock=lambda: chain_clock(env.chain),
    )
    cat = env.runtime.gateway.catalog
    try:
        reader.read(
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            category_mask=cat.category_mask(["tax_credit_rating"]),
            subject=env.record("tax")["subject"],
        )
    except Exception as exc:  # noqa: BLE001 - a denial carries its receipt too
        receipt = exc.problem["access_receipt"]  # type: ignore[attr-defined]
    domain = signing_domain(d.chain_id, d.address("Membership"))
    membership = d.membership(env.chain)
    gateway = env.runtime.gateway.gateway_org
    ok = check_receipt_signature(receipt, membership=membership, domain=domain, gateway=gateway)
    assert ok.index == receipt["index"]

    r = parse_receipt(receipt)
    forged = make_receipt(
        log_id=r.log_id,
        index=r.index,
        leaf_hash=r.leaf_hash,
        received_at=r.received_at,
        anchor_by=r.anchor_by,
        gateway=r.gateway,
        sign=typed_signer(Account.create(), domain),
    ).to_json()
    with pytest.raises(ReceiptUnverified, match="registered key"):
        check_receipt_signature(forged, membership=membership, domain=domain)
    edited = {**receipt, "index": receipt["index"] + 1}
    with pytest.raises(ReceiptUnverified, match="registered key"):
        check_receipt_signature(edited, membership=membership, domain=domain)
    with pytest.raises(ReceiptUnverified, match="not " + hex0x(b"\x01" * 32)):
        check_receipt_signature(receipt, membership=membership, domain=domain, gateway=b"\x01" * 32)
