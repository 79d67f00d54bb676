"""One signature encoding for every signed request (issue 9, finding 9): the malleated twins of
a valid signature — the high-``s`` twin (``n - s``, ``v`` flipped: same signer) and ``v`` in
{0, 1} — are refused with one problem type (``bad-signature``) and write nothing, whatever
the signed type; and the relay dead-letters a transition the contract refuses instead of
holding back every later one."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from eth_account import Account

from gateway._lifecycle import _transition_json
from gateway.client import (
    build_office_request,
    build_subject_query,
    build_subject_request,
    build_subject_session,
)
from gateway.domain.canonical import canonicalize
from gateway.domain.records import hex0x
from gateway.domain.signing import SECP256K1_N, typed_signer
from gateway.store import StatusChange, session_scope
from node import StatusCode, StatusTransition, reason_code, sign_transition
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_lifecycle import bind_subject, on_chain, status, submit, transition
from tests.integration.test_reads import reader

PROBLEM = "https://creditchain.example/problems/"
TABLES = (
    "record",
    "submission",
    "log_entry",
    "log_node",
    "access_decision",
    "objection",
    "repair",
    "status_change",
)


def high_s(signature: bytes) -> bytes:
    """The other valid-looking signature of the same signer: ``(r, n - s, v ^ 1)``."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - signature[64],))


def low_v(signature: bytes) -> bytes:
    """The same signature with ``v`` as a recovery id (0 or 1)."""
    return signature[:64] + bytes((signature[64] - 27,))


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _twin(body: dict[str, Any], path: tuple[str, ...], twin: Callable[[bytes], bytes]) -> Any:
    doc = json.loads(json.dumps(body))
    parent = _get(doc, path[:-1])
    parent[path[-1]] = hex0x(twin(bytes.fromhex(parent[path[-1]][2:])))
    return doc


def _counts(env: Env) -> dict[str, int]:
    with env.runtime.engine.connect() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES
        }


def _office(env: Env, action: str, target: bytes, details: dict[str, Any]) -> dict[str, Any]:
    d = env.runtime.deployment
    return build_office_request(
        env.runtime.consortium["credit-office"].account(),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        org_id=bytes.fromhex(env.runtime.consortium["credit-office"].org_id[2:]),
        action=action,
        target=target,
        details=details,
        signed_at=int(chain_clock(env.chain)),
        nonce=os.urandom(32),
    )


def _subject_request(env: Env, key: Any, subject: Any, rid: str, action: str) -> dict[str, Any]:
    d = env.runtime.deployment
    details: dict[str, Any] = {"reason": "not mine"}
    if action == "objection":
        details["evidence_hash"] = "ab" * 32
    return build_subject_request(
        key,
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        subject=subject,
        record_id=rid,
        action=action,
        details=details,
        signed_at=int(chain_clock(env.chain)),
        nonce=os.urandom(32),
        salt=os.urandom(32),
    )


def _subject_query(
    env: Env, key: Any, subject: Any, session: Any = None, *, action: str = "accesses"
) -> dict[str, Any]:
    d = env.runtime.deployment
    return build_subject_query(
        key,
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        subject=subject,
        action=action,
        signed_at=int(chain_clock(env.chain)),
        nonce=os.urandom(32),
        salt=os.urandom(32),
        session=session,
    )


def _session(env: Env, subject: Any, session_key: str) -> dict[str, Any]:
    office = env.runtime.consortium["credit-office"]
    d = env.runtime.deployment
    return build_subject_session(
        office.account(),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        issuer=bytes.fromhex(office.org_id[2:]),
        subject=subject,
        session_key=session_key,
        issued_at=int(chain_clock(env.chain)),
        ttl=600,
        salt=os.urandom(32),
    )


def _transition_body(env: Env, rid: str) -> dict[str, Any]:
    from gateway.client import build_transition

    st = status(env, rid)
    d = env.runtime.deployment
    return build_transition(
        env.runtime.consortium["tax"].account(),
        chain_id=d.chain_id,
        record_status=d.address("RecordStatus"),
        record_id=rid,
        origin=st["origin"],
        current=st["status"],
        to="withdrawn",
        version=st["version"],
        actor=bytes.fromhex(env.runtime.consortium["tax"].org_id[2:]),
        reason="withdrawn-by-department",
        deadline=int(chain_clock(env.chain)) + 600,
    )


def _proof_body(env: Env, rid: str) -> dict[str, Any]:
    org = env.runtime.consortium["tax"]
    signed_at, nonce = int(chain_clock(env.chain)), os.urandom(32)
    value = typed_signer(org.account(), env.runtime.gateway.domain)(
        "ProofRequest",
        {
            "org": bytes.fromhex(org.org_id[2:]),
            "recordId": bytes.fromhex(rid),
            "signedAt": signed_at,
            "nonce": nonce,
        },
    )
    return {"org": org.org_id, "signed_at": signed_at, "nonce": hex0x(nonce), "value": hex0x(value)}


def _audit_body(env: Env) -> dict[str, Any]:
    import hashlib

    auditor = env.runtime.consortium["auditor"]
    query = {"requester": env.runtime.consortium["bank"].org_id}
    signed_at, nonce = int(chain_clock(env.chain)), os.urandom(32)
    value = typed_signer(auditor.account(), env.runtime.gateway.domain)(
        "AuditQuery",
        {
            "auditor": bytes.fromhex(auditor.org_id[2:]),
            "queryHash": hashlib.sha256(canonicalize(query)).digest(),
            "signedAt": signed_at,
            "nonce": nonce,
        },
    )
    return {
        "auditor": auditor.org_id,
        "query": query,
        "signed_at": signed_at,
        "nonce": hex0x(nonce),
        "signature": hex0x(value),
    }


Case = Callable[[Env, dict[str, Any]], tuple[str, dict[str, Any], tuple[str, ...]]]
"""(env, fixtures) -> (path, a valid body, where its signature is)."""

CASES: dict[str, Case] = {
    "CreditRecord": lambda env, f: (
        "/v1/records",
        env.client("tax").build([env.record("tax")]),
        ("signature", "value"),
    ),
    "CreditRecordBatch": lambda env, f: (
        "/v1/records",
        env.client("tax").build([env.record("tax"), env.record("tax")]),
        ("signature", "value"),
    ),
    "ProofRequest": lambda env, f: (
        f"/v1/records/{f['rid']}/proof",
        _proof_body(env, f["rid"]),
        ("value",),
    ),
    "ReadRequest": lambda env, f: (
        "/v1/reads",
        reader(env, "bank").build(
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            category_mask=env.runtime.gateway.catalog.category_mask(["tax_credit_rating"]),
            subject=f["subject"],
        ),
        ("signature",),
    ),
    "SubjectQuery-accesses": lambda env, f: (
        "/v1/subjects/accesses",
        _subject_query(env, f["key"], f["subject"]),
        ("signature",),
    ),
    "SubjectQuery-records": lambda env, f: (
        "/v1/subjects/records",
        _subject_query(env, f["key"], f["subject"], action="records"),
        ("signature",),
    ),
    "SubjectSession": lambda env, f: (
        "/v1/subjects/accesses",
        _subject_query(
            env,
            f["session_key"],
            f["subject"],
            _session(env, f["subject"], f["session_key"].address),
        ),
        ("session", "signature"),
    ),
    "AuditQuery": lambda env, f: ("/v1/audit/trace", _audit_body(env), ("signature",)),
    "SubjectRequest-objection": lambda env, f: (
        f"/v1/records/{f['rid']}/objections",
        _subject_request(env, f["key"], f["subject"], f["rid"], "objection"),
        ("signature",),
    ),
    "SubjectRequest-repair": lambda env, f: (
        f"/v1/records/{f['rid']}/repairs",
        _subject_request(env, f["key"], f["subject"], f["rid"], "repair"),
        ("signature",),
    ),
    "OfficeRequest": lambda env, f: (
        f"/v1/records/{f['rid']}/hold",
        _office(env, "legal-hold", bytes.fromhex(f["rid"]), {"hold": True}),
        ("signature",),
    ),
    "Transition": lambda env, f: (
        f"/v1/records/{f['rid']}/status",
        _transition_body(env, f["rid"]),
        ("signature",),
    ),
}


@pytest.mark.parametrize("twin", [high_s, low_v], ids=["high-s", "v-0-or-1"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_malleated_twins_are_refused_for_every_signed_type(
    sqlite_env: Env, case: str, twin: Callable[[bytes], bytes]
) -> None:
    env = sqlite_env
    rid, rec = submit(env)
    fixtures = {
        "rid": rid,
        "subject": rec["subject"],
        "key": bind_subject(env, rec["subject"]),
        "session_key": Account.create(),
    }
    path, body, where = CASES[case](env, fixtures)
    before = _counts(env)
    r = env.http.post(f"{env.url}{path}", json=_twin(body, where, twin))
    assert r.status_code == 401, r.text
    assert r.json()["type"] == PROBLEM + "bad-signature"
    assert _counts(env) == before
    assert status(env, rid)["version"] == 0
    # the untouched request passes the signature check (the bank's read without a grant is
    # then denied): the test is not vacuous, and the refusal spent no nonce
    ok = env.http.post(f"{env.url}{path}", json=body)
    assert ok.status_code in (200, 201, 202, 403), ok.text
    assert ok.status_code != 403 or ok.json()["type"] == PROBLEM + "access-denied"


def _plant_refused_transition(env: Env, rid: str) -> None:
    """A pending outbox row the contract will refuse (signed by a key that is not the actor's),
    as an insider or a bug could leave one."""
    st = status(env, rid)
    actor = bytes.fromhex(env.runtime.consortium["tax"].org_id[2:])
    t = StatusTransition(
        record_id=bytes.fromhex(rid),
        origin=bytes.fromhex(st["origin"][2:]),
        to=StatusCode.WITHDRAWN,
        successor=b"\x00" * 32,
        reason=reason_code("withdrawn"),
        evidence=b"\x11" * 32,
        actor=actor,
        version=st["version"],
        deadline=int(chain_clock(env.chain)) + 3600,
    )
    d = env.runtime.deployment
    signature = sign_transition(Account.create(), d.chain_id, d.address("RecordStatus"), t)
    now = int(chain_clock(env.chain))
    with session_scope(env.runtime.engine) as s:
        s.add(
            StatusChange(
                record_id=rid,
                version=t.version,
                from_status=st["status"],
                to_status="withdrawn",
                transition=json.dumps(_transition_json(t)),
                signature=hex0x(signature),
                actor=hex0x(actor),
                log_index=0,
                state="pending",
                created_at=now,
                updated_at=now,
            )
        )


def _outbox(env: Env, rid: str) -> list[StatusChange]:
    with session_scope(env.runtime.engine, read_only=True) as s:
        return list(s.exec(sa.select(StatusChange).where(StatusChange.record_id == rid)).scalars())  # type: ignore[call-overload]


def test_a_refused_transition_is_dead_lettered_and_later_ones_reach_the_chain(
    sqlite_env: Env,
) -> None:
    env = sqlite_env
    lifecycle = env.runtime.lifecycle
    assert lifecycle is not None
    poisoned, _ = submit(env)
    _plant_refused_transition(env, poisoned)
    later, _ = submit(env)
    r = transition(env, "tax", later, "withdrawn", reason="withdrawn-by-department")
    assert r.status_code == 200, r.text
    assert on_chain(env, later).status == StatusCode.WITHDRAWN  # not held back
    (row,) = _outbox(env, poisoned)
    assert (row.state, row.attempts) == ("pending", 1)  # tried again on the next passes
    assert row.failure
    for _ in range(lifecycle.relay_attempts - 1):
        lifecycle.relay()
    (row,) = _outbox(env, poisoned)
    assert (row.state, row.attempts) == ("failed", lifecycle.relay_attempts)
    assert row.failure
    lifecycle.relay()  # a dead letter is not sent again
    (row,) = _outbox(env, poisoned)
    assert row.attempts == lifecycle.relay_attempts
    health = env.http.get(f"{env.url}/v1/health").json()
    assert health["relay_failed"] == 1
    # and the queue keeps flowing
    third, _ = submit(env)
    assert transition(env, "tax", third, "withdrawn", reason="w").status_code == 200
    assert on_chain(env, third).status == StatusCode.WITHDRAWN
