"""Smaller request holes (issue 9, finding 11): a ``ProofRequest`` is answered once; a
``SubjectQuery`` is good at the route it was signed for only; refusals after the signature
checks out (suspended organisation, not the submitting department) are logged access
decisions, with their access receipt."""

from __future__ import annotations

import os
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.client import ClientError
from tests.integration.conftest import Env
from tests.integration.test_lifecycle import bind_subject, submit
from tests.integration.test_reads import read
from tests.integration.test_signatures import _proof_body, _subject_query

PROBLEM = "https://creditchain.example/problems/"


def _access_log(env: Env) -> list[dict[str, Any]]:
    with env.runtime.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT requester, record_id, purpose, decision, reason, log_index"
                " FROM access_decision ORDER BY id"
            )
        ).all()
    return [dict(r._mapping) for r in rows]


def _suspend(env: Env, slug: str) -> None:
    org = bytes.fromhex(env.runtime.consortium[slug].org_id[2:])
    env.runtime.deployment.membership(env.chain).suspend(env.deployer, org, b"\x01" * 32)
    env.runtime.gateway.members.forget(org)


def test_a_proof_request_is_answered_once(sqlite_env: Env) -> None:
    env = sqlite_env
    rid, _ = submit(env)
    body = _proof_body(env, rid)
    url = f"{env.url}/v1/records/{rid}/proof"
    assert env.http.post(url, json=body).status_code in (200, 202)
    again = env.http.post(url, json=body)
    assert again.status_code == 409, again.text
    assert again.json()["type"] == PROBLEM + "replayed-request"


@pytest.mark.parametrize(
    ("signed_for", "sent_to"), [("accesses", "records"), ("records", "accesses")]
)
def test_a_subject_query_is_good_at_its_own_route_only(
    sqlite_env: Env, signed_for: str, sent_to: str
) -> None:
    env = sqlite_env
    _, rec = submit(env)
    key = bind_subject(env, rec["subject"])
    body = _subject_query(env, key, rec["subject"], action=signed_for)
    moved = env.http.post(f"{env.url}/v1/subjects/{sent_to}", json=body)
    assert moved.status_code == 403, moved.text  # recovers to some other key: nobody's
    ok = env.http.post(f"{env.url}/v1/subjects/{signed_for}", json=body)
    assert ok.status_code == 200, ok.text  # and the refusal spent no nonce


def test_a_proof_request_by_another_department_is_a_logged_decision(sqlite_env: Env) -> None:
    env = sqlite_env
    rid, _ = submit(env)
    with pytest.raises(ClientError) as info:
        env.client("market").proof(rid)
    assert info.value.status == 403
    assert info.value.type == PROBLEM + "forbidden"
    assert info.value.problem["reason"] == "not-submitting-department"
    receipt = info.value.problem["access_receipt"]
    (logged,) = _access_log(env)
    assert logged["requester"] == env.runtime.consortium["market"].org_id
    assert (logged["record_id"], logged["purpose"]) == (rid, "proof-bundle")
    assert (logged["decision"], logged["reason"]) == ("deny", "not-submitting-department")
    assert receipt["index"] == logged["log_index"]


def test_a_suspended_departments_proof_request_is_a_logged_decision(sqlite_env: Env) -> None:
    env = sqlite_env
    rid, _ = submit(env)
    _suspend(env, "tax")
    with pytest.raises(ClientError) as info:
        env.client("tax").proof(rid)
    assert info.value.type == PROBLEM + "org-suspended"
    assert "access_receipt" in info.value.problem
    (logged,) = _access_log(env)
    assert (logged["record_id"], logged["reason"]) == (rid, "org-suspended")


@pytest.mark.parametrize("by", ["subject", "record"])
def test_a_suspended_readers_read_is_a_logged_decision(sqlite_env: Env, by: str) -> None:
    env = sqlite_env
    rid, rec = submit(env)
    _suspend(env, "bank")
    where: dict[str, Any] = {"subject": rec["subject"]} if by == "subject" else {"record_id": rid}
    code, problem = read(
        env,
        "bank",
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        grant_id=None,
        **where,
    )
    assert code == 403
    assert problem["type"] == PROBLEM + "org-suspended"
    assert "access_receipt" in problem
    (logged,) = _access_log(env)
    assert logged["requester"] == env.runtime.consortium["bank"].org_id
    assert (logged["decision"], logged["reason"]) == ("deny", "org-suspended")
    assert logged["record_id"] == (rid if by == "record" else None)
    # the subject sees the refusal in its own trace
    key = bind_subject(env, rec["subject"])
    trace = env.http.post(
        f"{env.url}/v1/subjects/accesses", json=_subject_query(env, key, rec["subject"])
    )
    assert trace.status_code == 200, trace.text
    assert [d["reason"] for d in trace.json()["decisions"]] == ["org-suspended"]


def test_an_audit_query_by_a_non_auditor_is_a_logged_decision(sqlite_env: Env) -> None:
    import hashlib

    from gateway.domain.canonical import canonicalize
    from gateway.domain.records import hex0x
    from gateway.domain.signing import typed_signer
    from tests.integration.conftest import chain_clock

    env = sqlite_env
    bank = env.runtime.consortium["bank"]
    query = {"requester": bank.org_id}
    signed_at, nonce = int(chain_clock(env.chain)), os.urandom(32)
    value = typed_signer(bank.account(), env.runtime.gateway.domain)(
        "AuditQuery",
        {
            "auditor": bytes.fromhex(bank.org_id[2:]),
            "queryHash": hashlib.sha256(canonicalize(query)).digest(),
            "signedAt": signed_at,
            "nonce": nonce,
        },
    )
    body = {
        "auditor": bank.org_id,
        "query": query,
        "signed_at": signed_at,
        "nonce": hex0x(nonce),
        "signature": hex0x(value),
    }
    r = env.http.post(f"{env.url}/v1/audit/trace", json=body)
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == "not-an-auditor"
    assert "access_receipt" in r.json()
    (logged,) = _access_log(env)
    assert (logged["requester"], logged["purpose"]) == (bank.org_id, "audit-trace")
    assert (logged["decision"], logged["reason"]) == ("deny", "not-an-auditor")
