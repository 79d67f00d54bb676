"""Submission, proofs and verification over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from gateway.client import ClientError, build_submission
from gateway.domain.records import hex0x
from gateway.domain.signing import typed_signer
from gateway.verify import NodeChainView, trust_root_from, verify_bundle
from tests.integration.conftest import Env, chain_clock

PROBLEM = "https://creditchain.example/problems/"


def test_submit_anchor_and_verify_offline(env: Env) -> None:
    tax, market, water = env.client("tax"), env.client("market"), env.client("water")
    single = tax.submit([env.record("tax")])
    batch = market.submit([env.record("market") for _ in range(20)])
    mixed = water.submit([env.record("water"), env.record("water", person=True)])
    receipts = single + batch + mixed
    assert [r["index"] for r in receipts] == list(range(23))
    assert len({r["leaf_hash"] for r in receipts}) == 23

    pending = env.http.get(f"{env.url}/v1/records/{receipts[0]['leaf_hash']}/proof")
    assert pending.status_code == 202
    assert pending.json()["status"] == "pending"
    assert pending.json()["receipt"] == receipts[0]

    env.anchor()
    view = NodeChainView(env.chain, env.runtime.deployment)
    trusted = trust_root_from(env.runtime.deployment)
    for client, rs in ((tax, single), (market, batch), (water, mixed)):
        for r in rs:
            full = client.proof(r["leaf_hash"])
            result = verify_bundle(full, view, trusted=trusted)  # no gateway involved
            assert result.record_included
            assert result.index == r["index"]
            assert len(result.checks) == 8
            public = client.proof(r["leaf_hash"], opening=False)
            assert "record" not in public
            assert "salt" not in public
            assert not verify_bundle(public, view, trusted=trusted).record_included
    # the gateway's own verify endpoint agrees
    answer = env.http.post(f"{env.url}/v1/verify", json=tax.proof(single[0]["leaf_hash"]))
    assert answer.status_code == 200
    assert answer.json()["valid"] is True


def test_resubmission_is_idempotent(env: Env) -> None:
    tax = env.client("tax")
    body = tax.build([env.record("tax"), env.record("tax")])
    first = env.http.post(f"{env.url}/v1/records", json=body)
    assert first.status_code == 201
    before = env.counts()
    again = env.http.post(f"{env.url}/v1/records", json=body)  # a retry after a lost answer
    assert again.status_code == 200
    assert again.json() == first.json()
    # the same records signed anew (new salt, nonce, time): their original receipts
    records = [item["record"] for item in body["records"]]
    assert tax.submit(records) == first.json()["receipts"]
    after = env.counts()
    assert after["record"] == before["record"]
    assert after["log_entry"] == before["log_entry"]
    assert after["submission"] == before["submission"] + 1


def _bad_requests(env: Env) -> dict[str, tuple[Callable[[], Any], int, str]]:
    """name -> (send it, HTTP status, problem type slug)."""
    tax = env.client("tax")
    url = f"{env.url}/v1/records"

    def post(body: Any) -> Any:
        return env.http.post(url, json=body)

    def mutate(change: Callable[[dict[str, Any]], None], resign: bool = True) -> Any:
        """A valid body, changed, and (re)signed by the tax bureau's key."""
        record = env.record("tax")
        change(record)
        org = bytes.fromhex(record["org"][2:])
        sign = typed_signer(tax.account, tax.domain)
        body = build_submission(
            [record],
            [os.urandom(32)],
            org_id=org,
            signed_at=int(chain_clock(env.chain)),
            nonce=os.urandom(32),
            sign=sign,
        )
        return post(body)

    def with_signature(**changes: Any) -> Any:
        body = tax.build([env.record("tax")])
        body["signature"].update(changes)
        return post(body)

    def foreign_signature() -> Any:
        bank = env.client("bank")  # signs as itself, claims to be the tax bureau
        record = env.record("tax")
        body = build_submission(
            [record],
            [os.urandom(32)],
            org_id=bytes.fromhex(record["org"][2:]),
            signed_at=int(chain_clock(env.chain)),
            nonce=os.urandom(32),
            sign=typed_signer(bank.account, bank.domain),
        )
        return post(body)

    def replayed() -> Any:
        nonce = os.urandom(32)
        first = build_submission(
            [r := env.record("tax")],
            [os.urandom(32)],
            org_id=bytes.fromhex(r["org"][2:]),
            signed_at=int(chain_clock(env.chain)),
            nonce=nonce,
            sign=typed_signer(tax.account, tax.domain),
        )
        assert post(first).status_code == 201
        second = build_submission(
            [r2 := env.record("tax")],
            [os.urandom(32)],
            org_id=bytes.fromhex(r2["org"][2:]),
            signed_at=int(chain_clock(env.chain)),
            nonce=nonce,
            sign=typed_signer(tax.account, tax.domain),
        )
        return post(second)

    def stale() -> Any:
        record = env.record("tax")
        body = build_submission(
            [record],
            [os.urandom(32)],
            org_id=bytes.fromhex(record["org"][2:]),
            signed_at=int(chain_clock(env.chain)) - 3600,
            nonce=os.urandom(32),
            sign=typed_signer(tax.account, tax.domain),
        )
        return post(body)

    def wrong_kind() -> Any:  # the water utility may not submit tax ratings
        water = env.client("water")
        return water_submit(water, env.record("water", "tax_credit_rating"))

    def water_submit(client: Any, record: dict[str, Any]) -> Any:
        body = build_submission(
            [record],
            [os.urandom(32)],
            org_id=bytes.fromhex(record["org"][2:]),
            signed_at=int(chain_clock(env.chain)),
            nonce=os.urandom(32),
            sign=typed_signer(client.account, client.domain),
        )
        return post(body)

    def oversized_batch() -> Any:
        return post(tax.build([env.record("tax") for _ in range(201)]))

    def oversized_body() -> Any:
        return env.http.post(
            url,
            content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
            headers={"content-type": "application/json"},
        )

    def unknown_org() -> Any:
        record = env.record("tax")
        record["org"] = hex0x(os.urandom(32))
        body = build_submission(
            [record],
            [os.urandom(32)],
            org_id=bytes.fromhex(record["org"][2:]),
            signed_at=int(chain_clock(env.chain)),
            nonce=os.urandom(32),
            sign=typed_signer(tax.account, tax.domain),
        )
        return post(body)

    def bad_check_character(r: dict[str, Any]) -> None:
        uscc = r["subject"]["id"]
        r["subject"]["id"] = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")

    return {
        "invalid JSON": (
            lambda: env.http.post(
                url, content=b'{"records": [', headers={"content-type": "application/json"}
            ),
            400,
            "invalid-json",
        ),
        "duplicate JSON key": (
            lambda: env.http.post(
                url,
                content=b'{"records": [], "records": []}',
                headers={"content-type": "application/json"},
            ),
            400,
            "invalid-json",
        ),
        "wrong shape": (lambda: post({"records": "all of them"}), 422, "malformed-request"),
        "schema violation": (
            lambda: mutate(lambda r: r["fields"].update(rating="Z")),
            422,
            "schema-violation",
        ),
        "bad check character": (lambda: mutate(bad_check_character), 422, "invalid-identifier"),
        "unknown category": (
            lambda: mutate(lambda r: r.update(category="gossip")),
            422,
            "unknown-category",
        ),
        "department not allowed": (wrong_kind, 403, "category-not-allowed"),
        "malformed signature": (
            lambda: with_signature(value="0x" + "11" * 65),
            401,
            "bad-signature",
        ),
        "foreign signature": (foreign_signature, 401, "signer-mismatch"),
        "unknown org": (unknown_org, 401, "unknown-org"),
        "replayed request": (replayed, 409, "replayed-request"),
        "stale timestamp": (stale, 401, "stale-request"),
        "oversized body": (oversized_body, 413, "payload-too-large"),
        "oversized batch": (oversized_batch, 413, "batch-too-large"),
    }


def test_bad_input_matrix(env: Env) -> None:
    """Each bad request: its own problem type, problem+json, and nothing stored."""
    cases = _bad_requests(env)
    seen_types = set()
    for name, (send, status, slug) in cases.items():
        before = env.counts()
        response = send()
        after = env.counts()
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), name
        problem = response.json()
        assert problem["type"] == PROBLEM + slug, (name, problem)
        assert problem["status"] == status
        assert problem.get("detail"), name
        if name == "replayed request":  # its first, valid request was stored, once
            assert after["record"] == before["record"] + 1, name
        else:
            assert after == before, name
        seen_types.add(slug)
    assert len(seen_types) == len(cases) - 1  # every case but the duplicate key has its own type


def test_suspended_org_is_refused(env: Env) -> None:
    market = env.client("market")
    org = bytes.fromhex(env.runtime.consortium["market"].org_id[2:])
    env.runtime.deployment.membership(env.chain).suspend(env.deployer, org, b"\x01" * 32)
    env.runtime.gateway.members.forget(org)
    before = env.counts()
    with pytest.raises(ClientError) as info:
        market.submit([env.record("market")])
    assert info.value.status == 403
    assert info.value.type == PROBLEM + "org-suspended"
    assert env.counts() == before


def test_rotated_key_is_refused_and_new_key_accepted(env: Env) -> None:
    from eth_account import Account

    tax = env.client("tax")
    org = bytes.fromhex(env.runtime.consortium["tax"].org_id[2:])
    new_key = Account.create()
    env.runtime.deployment.membership(env.chain).rotate_keys(
        tax.account, org, new_key.address, b"\x07" * 32
    )
    with pytest.raises(ClientError) as info:
        tax.submit([env.record("tax")])
    assert info.value.type == PROBLEM + "signer-mismatch"
    receipts = env.client("tax", account=new_key).submit([env.record("tax")])
    env.anchor()
    bundle = env.client("tax", account=new_key).proof(receipts[0]["leaf_hash"])
    view = NodeChainView(env.chain, env.runtime.deployment)
    assert verify_bundle(bundle, view, trusted=trust_root_from(env.runtime.deployment))


def test_full_bundles_only_for_the_submitting_department(env: Env) -> None:
    tax, market = env.client("tax"), env.client("market")
    rid = tax.submit([env.record("tax")])[0]["leaf_hash"]
    env.anchor()
    assert "record" in tax.proof(rid)
    with pytest.raises(ClientError) as info:
        market.proof(rid)
    assert info.value.status == 403
    assert info.value.type == PROBLEM + "forbidden"
    # a proof request's nonce cannot be reused for another request
    signed_at, nonce = int(chain_clock(env.chain)), os.urandom(32)
    sign = typed_signer(tax.account, tax.domain)
    body = {
        "org": hex0x(tax.org_id),
        "signed_at": signed_at,
        "nonce": hex0x(nonce),
        "value": hex0x(
            sign(
                "ProofRequest",
                {
                    "org": tax.org_id,
                    "recordId": bytes.fromhex(rid),
                    "signedAt": signed_at,
                    "nonce": nonce,
                },
            )
        ),
    }
    url = f"{env.url}/v1/records/{rid}/proof"
    assert env.http.post(url, json=body).status_code == 200
    again = env.http.post(url, json=body)  # the same request again: answered once only
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEM + "replayed-request"
    other = tax.submit([env.record("tax")])[0]["leaf_hash"]
    env.anchor()
    replay = env.http.post(f"{env.url}/v1/records/{other}/proof", json=body)
    assert replay.status_code == 401  # the signature covers the record id
    assert replay.json()["type"] == PROBLEM + "signer-mismatch"


def test_log_views(env: Env) -> None:
    tax = env.client("tax")
    receipts = tax.submit([env.record("tax") for _ in range(9)])
    env.anchor()
    cp = env.http.get(f"{env.url}/v1/logs/records/checkpoint").json()
    assert cp["size"] == 9
    assert cp["anchored"]["size"] == 9
    assert cp["anchored"]["root"] == cp["root"]
    from tests.integration.test_access_index import log_signer

    entries = env.http.post(
        f"{env.url}/v1/logs/records/entries", json=log_signer(env)("entries/records", 0, 9)
    ).json()["entries"]
    import hashlib

    assert [hashlib.sha256(b"\x00" + e.encode()).hexdigest() for e in entries] == [
        r["leaf_hash"] for r in receipts
    ]
    for e in entries:  # no identifier in the clear in a log entry
        assert "91610800" not in e
        assert json.loads(e)["kind"] == "record"
    proof = env.http.get(f"{env.url}/v1/logs/records/consistency?first=3&second=9").json()
    from gateway.domain.merkle import verify_consistency

    old_root = env.runtime.gateway.checkpoint("records")  # size 9 root from the gateway
    assert len(proof["proof"]) > 0
    assert old_root["size"] == 9
    bad = env.http.get(f"{env.url}/v1/logs/records/consistency?first=5&second=99")
    assert bad.status_code == 400
    assert bad.json()["type"] == PROBLEM + "log-out-of-range"
    assert env.http.get(f"{env.url}/v1/logs/other/checkpoint").status_code == 400
    assert env.http.get(f"{env.url}/v1/records/{'ab' * 32}/proof").status_code == 404
    assert verify_consistency  # imported for the reader: the auditor's check of these proofs
