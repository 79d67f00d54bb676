"""Record lifecycle over HTTP on a running gateway (embedded chain, SQLite and PostgreSQL):
objection -> rejection / correction, credit repair, withdrawal, legal hold, retention erasure,
erasure by crypto-shredding, and the on-chain RecordStatus kept in step."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from gateway._reads import subject_digest
from gateway.client import (
    build_office_request,
    build_subject_request,
    build_transition,
)
from gateway.domain.envelope import Envelope, open_
from gateway.domain.identifiers import parse_subject_id, subject_commitment
from gateway.domain.signing import typed_signer
from node import StatusCode
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_reads import make_grant, org_id, read

DAY = 86_400


def submit(env: Env, slug: str = "tax", **fields: Any) -> tuple[str, dict[str, Any]]:
    rec = env.record(slug, **fields)
    (receipt,) = env.client(slug).submit([rec])
    return receipt["leaf_hash"], rec


def status(env: Env, record_id: str) -> dict[str, Any]:
    r = env.http.get(f"{env.url}/v1/records/{record_id}/status")
    assert r.status_code == 200, r.text
    return dict(r.json())


def transition(
    env: Env, slug: str, record_id: str, to: str, *, reason: str, **kw: Any
) -> httpx.Response:
    st = status(env, record_id)
    d = env.runtime.deployment
    body = build_transition(
        env.runtime.consortium[slug].account(),
        chain_id=d.chain_id,
        record_status=d.address("RecordStatus"),
        record_id=record_id,
        origin=st["origin"],
        current=kw.pop("current", st["status"]),
        to=to,
        version=kw.pop("version", st["version"]),
        actor=org_id(env, slug),
        reason=reason,
        deadline=int(chain_clock(env.chain)) + 600,
        **kw,
    )
    return env.http.post(f"{env.url}/v1/records/{record_id}/status", json=body)


def bind_subject(env: Env, subject: dict[str, str]) -> Any:
    key = Account.create()
    commitment = subject_commitment(
        env.runtime.secrets.pepper, parse_subject_id(subject["id"], kind=subject["kind"])
    )
    env.runtime.deployment.grants(env.chain).bind_subject_key(
        env.runtime.consortium["credit-office"].account(), commitment, key.address
    )
    return key


def subject_request(
    env: Env, key: Any, subject: dict[str, str], record_id: str, action: str, details: Any
) -> httpx.Response:
    d = env.runtime.deployment
    body = build_subject_request(
        key,
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        subject=subject,
        record_id=record_id,
        action=action,
        details=details,
        signed_at=int(chain_clock(env.chain)),
        nonce=os.urandom(32),
        salt=os.urandom(32),
    )
    path = "objections" if action == "objection" else "repairs"
    return env.http.post(f"{env.url}/v1/records/{record_id}/{path}", json=body)


def office_request(env: Env, path: str, action: str, target: bytes, details: Any) -> httpx.Response:
    d = env.runtime.deployment
    body = build_office_request(
        env.runtime.consortium["credit-office"].account(),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        org_id=org_id(env, "credit-office"),
        action=action,
        target=target,
        details=details,
        signed_at=int(chain_clock(env.chain)),
        nonce=os.urandom(32),
    )
    return env.http.post(f"{env.url}{path}", json=body)


def _sqlite_files(env: Env) -> list[Path]:
    """The database file and its WAL/SHM companions (SQLite only)."""
    url = env.runtime.settings.db_url
    if not url.startswith("sqlite:///"):
        return []
    db = Path(url.removeprefix("sqlite:///"))
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def subject_file(env: Env, key: Any, subject: dict[str, str]) -> httpx.Response:
    salt, nonce, signed_at = os.urandom(32), os.urandom(32), int(chain_clock(env.chain))
    parsed = parse_subject_id(subject["id"], kind=subject["kind"])
    sign = typed_signer(key, env.runtime.gateway.domain)
    body = {
        "subject": subject,
        "subject_salt": salt.hex(),
        "signed_at": signed_at,
        "nonce": "0x" + nonce.hex(),
        "signature": "0x"
        + sign(
            "SubjectQuery",
            {
                "subjectDigest": subject_digest(salt, parsed),
                "action": "records",
                "signedAt": signed_at,
                "nonce": nonce,
            },
        ).hex(),
    }
    return env.http.post(f"{env.url}/v1/subjects/records", json=body)


def on_chain(env: Env, record_id: str) -> Any:
    return env.runtime.deployment.record_status(env.chain).state(bytes.fromhex(record_id))


def test_objection_marks_the_record_then_a_rejection_restores_it(env: Env) -> None:
    rid, rec = submit(env)
    key = bind_subject(env, rec["subject"])
    r = subject_request(
        env,
        key,
        rec["subject"],
        rid,
        "objection",
        {"reason": "wrong rating", "evidence_hash": "ab" * 32},
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "objected"
    assert status(env, rid)["status"] == "objected"
    chain = on_chain(env, rid)
    assert chain.status == StatusCode.OBJECTED
    assert chain.actor == org_id(env, "credit-office")
    assert chain.origin == org_id(env, "tax")
    # readers see it as objected while it is unresolved
    now = int(chain_clock(env.chain))
    gid = make_grant(
        env,
        subject=b"\x00" * 32,
        grantee=org_id(env, "bank"),
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        start=now - DAY,
        end=now + 30 * DAY,
        basis=__import__("node").GrantBasis.STATUTORY,
    )
    code, answer = read(
        env,
        "bank",
        subject=rec["subject"],
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        grant_id=gid,
    )
    assert code == 200
    assert answer["records"][0]["objected"] is True
    # the credit office sees the open objection; none is overdue yet
    listed = office_request(env, "/v1/objections/query", "list-objections", b"\x00" * 32, {})
    assert listed.status_code == 200, listed.text
    assert [o["record_id"] for o in listed.json()["objections"]] == [rid]
    assert listed.json()["overdue"] == 0
    # the department rejects the objection: active again, objection closed
    r = transition(env, "tax", rid, "active", reason="objection-rejected")
    assert r.status_code == 200, r.text
    assert status(env, rid)["status"] == "active"
    assert on_chain(env, rid).status == StatusCode.ACTIVE
    assert on_chain(env, rid).version == 2
    listed = office_request(env, "/v1/objections/query", "list-objections", b"\x00" * 32, {})
    assert listed.json()["objections"] == []


def test_correction_supersedes_and_only_the_new_version_is_shared(env: Env) -> None:
    rid, rec = submit(env)
    new_rec = dict(rec)
    new_rec["fields"] = dict(rec["fields"], rating="B")
    (receipt,) = env.client("tax").submit([new_rec])
    new_id = receipt["leaf_hash"]
    # another department may not correct it; the successor rule is enforced
    r = transition(env, "market", rid, "corrected", reason="correction", successor=new_id)
    assert r.status_code == 403
    assert r.json()["reason"] == "not-origin-or-credit-office"
    r = transition(env, "tax", rid, "corrected", reason="correction", successor=rid)
    assert r.status_code == 403
    assert r.json()["reason"] == "successor-rule"
    r = transition(env, "tax", rid, "corrected", reason="correction", successor=new_id)
    assert r.status_code == 200, r.text
    st = status(env, rid)
    assert (st["status"], st["successor"]) == ("corrected", new_id)
    chain = on_chain(env, rid)
    assert chain.status == StatusCode.CORRECTED
    assert chain.successor.hex() == new_id
    # a replayed (stale) signature is refused
    r = transition(env, "tax", rid, "erased", reason="x", version=0, current="active")
    assert r.status_code == 409
    assert r.json()["type"].endswith("/stale-version")


def test_repair_withdraws_from_sharing_and_erasure_shreds(env: Env) -> None:
    rid, rec = submit(env)
    key = bind_subject(env, rec["subject"])
    r = subject_request(env, key, rec["subject"], rid, "repair", {"reason": "fulfilled duties"})
    assert r.status_code == 201, r.text
    # a department may not grant repair; the credit office may
    assert transition(env, "tax", rid, "repaired", reason="credit-repair").status_code == 403
    r = transition(env, "credit-office", rid, "repaired", reason="credit-repair")
    assert r.status_code == 200, r.text
    assert on_chain(env, rid).status == StatusCode.REPAIRED
    now = int(chain_clock(env.chain))
    gid = make_grant(
        env,
        subject=b"\x00" * 32,
        grantee=org_id(env, "bank"),
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        start=now - DAY,
        end=now + 30 * DAY,
        basis=__import__("node").GrantBasis.STATUTORY,
    )
    code, answer = read(
        env,
        "bank",
        subject=rec["subject"],
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        grant_id=gid,
    )
    # the bank has a basis: 200, nothing released, and no hint that a repaired record exists;
    # the access log keeps the true decision
    assert code == 200
    assert answer["records"] == []
    index = answer["access_receipt"]["index"]
    logged = json.loads(env.runtime.gateway.entries("access", index, index + 1)["entries"][0])
    assert [d["reason"] for d in logged["decisions"]] == ["record-not-shareable"]
    # ... but its subject still sees it in its own file
    mine = subject_file(env, key, rec["subject"])
    assert mine.status_code == 200, mine.text
    (entry,) = mine.json()["records"]
    assert (entry["record_id"], entry["status"]) == (rid, "repaired")
    assert entry["fields"] == rec["fields"]
    assert subject_file(env, Account.create(), rec["subject"]).status_code == 403
    # what must disappear: the envelope's wrapped data key and ciphertext, and the plaintext
    with env.runtime.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            f"SELECT envelope FROM record WHERE record_id = '{rid}'"
        ).scalar_one()
    envelope = Envelope.from_bytes(bytes(stored))
    plaintext = open_(
        bytes(stored),
        aad_record_id=bytes.fromhex(rid),
        category=rec["category"],
        keyring=env.runtime.secrets.keyring,
    )
    secrets_of_record = [envelope.wrapped_key, envelope.ciphertext[:32], plaintext]
    db_files = _sqlite_files(env)
    if db_files:  # the scan is a test of itself: before erasure it finds them
        assert all(any(x in f.read_bytes() for f in db_files) for x in secrets_of_record[:2])
    # erasure: crypto-shredded, certificate logged and on chain
    r = transition(env, "tax", rid, "erased", reason="erasure-request")
    assert r.status_code == 200, r.text
    for f in _sqlite_files(env):
        raw = f.read_bytes()
        for x in secrets_of_record:
            assert x not in raw, f"{f.name} still holds erased bytes"
    with env.runtime.engine.connect() as conn:
        envelope = conn.exec_driver_sql(
            f"SELECT envelope FROM record WHERE record_id = '{rid}'"
        ).scalar_one()
    assert envelope is None
    assert on_chain(env, rid).status == StatusCode.ERASED
    env.anchor()
    cert = env.http.get(f"{env.url}/v1/records/{rid}/erasure").json()
    assert cert["leaf"]["event"]["to"] == "erased"
    assert cert["inclusion"] is not None
    assert cert["chain"]["tx_hash"]
    # nothing re-creates a key: resubmitting the erased record returns its receipt, no envelope
    (again,) = env.client("tax").submit([rec])
    assert again["leaf_hash"] == rid
    with env.runtime.engine.connect() as conn:
        assert (
            conn.exec_driver_sql(
                f"SELECT envelope FROM record WHERE record_id = '{rid}'"
            ).scalar_one()
            is None
        )
    (entry,) = subject_file(env, key, rec["subject"]).json()["records"]
    assert (entry["status"], entry["fields"]) == ("erased", None)
    # erased is terminal
    assert transition(env, "tax", rid, "active", reason="undo").status_code == 403


def test_retention_erases_unless_held(env: Env) -> None:
    # a record whose retention ended long ago (decision dates far in the past)
    old, _ = submit(env, "market", decision_date="2001-01-05")
    held, _ = submit(env, "market", decision_date="2001-01-05")
    fresh, _ = submit(env, "market")
    r = office_request(
        env, f"/v1/records/{held}/hold", "legal-hold", bytes.fromhex(held), {"hold": True}
    )
    assert r.status_code == 200, r.text
    lc = env.runtime.lifecycle
    erased = lc.retention_step()
    assert erased == 1
    assert status(env, old)["status"] == "erased"
    assert status(env, held)["status"] == "active"
    assert status(env, fresh)["status"] == "active"
    assert on_chain(env, old).status == StatusCode.ERASED
    # releasing the hold lets the next pass erase it
    office_request(
        env, f"/v1/records/{held}/hold", "legal-hold", bytes.fromhex(held), {"hold": False}
    )
    assert lc.retention_step() == 1
    assert status(env, held)["status"] == "erased"


def test_an_overdue_objection_is_flagged_to_the_credit_office(env: Env) -> None:
    rid, rec = submit(env)
    key = bind_subject(env, rec["subject"])
    r = subject_request(env, key, rec["subject"], rid, "objection", {"reason": "not mine"})
    assert r.status_code == 422  # details need an evidence hash
    r = subject_request(
        env,
        key,
        rec["subject"],
        rid,
        "objection",
        {"reason": "not mine", "evidence_hash": "ef" * 32},
    )
    assert r.status_code == 201, r.text
    deadline = r.json()["deadline"]
    env.chain.advance_time(16 * DAY)  # past the 15-day deadline
    listed = office_request(
        env, "/v1/objections/query", "list-objections", b"\x00" * 32, {"overdue": True}
    )
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["objections"]
    assert (item["record_id"], item["deadline"], item["overdue"]) == (rid, deadline, True)
    # only a credit office may list them
    d = env.runtime.deployment
    body = build_office_request(
        env.runtime.consortium["tax"].account(),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        org_id=org_id(env, "tax"),
        action="list-objections",
        target=b"\x00" * 32,
        details={},
        signed_at=int(chain_clock(env.chain)),
        nonce=os.urandom(32),
    )
    r = env.http.post(f"{env.url}/v1/objections/query", json=body)
    assert r.status_code == 403
    assert r.json()["reason"] == "credit-office-required"


def test_a_repair_can_be_rejected_with_a_reason(env: Env) -> None:
    rid, rec = submit(env)
    key = bind_subject(env, rec["subject"])
    r = subject_request(env, key, rec["subject"], rid, "repair", {"reason": "paid the fine"})
    repair_id = r.json()["repair"]
    target = int(repair_id).to_bytes(32, "big")
    r = office_request(
        env, f"/v1/repairs/{repair_id}/rejection", "reject-repair", target, {"reason": "too early"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "rejected"
    # decided once; the record stays active and shared
    r = office_request(
        env, f"/v1/repairs/{repair_id}/rejection", "reject-repair", target, {"reason": "again"}
    )
    assert r.status_code == 403
    assert status(env, rid)["status"] == "active"
    # someone else's key cannot file for this subject
    other = Account.create()
    r = subject_request(env, other, rec["subject"], rid, "repair", {"reason": "x"})
    assert r.status_code == 403


def test_key_rotation_never_gives_an_erased_record_a_key(env: Env) -> None:
    from gateway import _kek

    rid, _ = submit(env)
    keep, _ = submit(env)
    assert transition(env, "tax", rid, "erased", reason="erasure").status_code == 200
    _kek.rotate(env.runtime.settings.keys_dir, env.runtime.engine)
    keyring, active = _kek.load_keyring(env.runtime.settings.keys_dir)
    _kek.rewrap_all(env.runtime.engine, keyring, active)
    with env.runtime.engine.connect() as conn:
        rows = dict(
            conn.exec_driver_sql(
                f"SELECT record_id, envelope FROM record WHERE record_id IN ('{rid}', '{keep}')"
            ).all()
        )
    assert rows[rid] is None
    assert rows[keep] is not None
