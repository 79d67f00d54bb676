"""Free texts of the lifecycle stay out of the logs and the rows (issue 9, finding 8b): a
transition's reason and note, an objection's and a repair application's reason and the
office's decision reason are logged, stored and sent on chain as salted commitments only; the
texts are sealed (envelope, KEK keyring) for the views entitled to them, and an erasure
shreds them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import sqlalchemy as sa

from gateway._freetext import open_text
from gateway.client import build_office_request
from gateway.store import DbLog, FreeText, StatusChange, session_scope
from node import reason_code
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_lifecycle import (
    bind_subject,
    office_request,
    on_chain,
    subject_file,
    subject_request,
    submit,
    transition,
)


def _texts(env: Env, slug: str, rid: str) -> httpx.Response:
    org = env.runtime.consortium[slug]
    d = env.runtime.deployment
    body = build_office_request(
        org.account(),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        org_id=bytes.fromhex(org.org_id[2:]),
        action="status-texts",
        target=bytes.fromhex(rid),
        details={},
        signed_at=int(chain_clock(env.chain)),
        nonce=os.urandom(32),
    )
    return env.http.post(f"{env.url}/v1/records/{rid}/status/texts", json=body)


def _text(what: str) -> str:
    return f"{what} {os.urandom(6).hex()} é"  # distinctive, non-ASCII too


def _in_the_clear(env: Env, texts: list[str]) -> list[str]:
    """Where any of ``texts`` appears in the database (every column of every table, and the
    SQLite files' raw bytes)."""
    needles = [t.encode("utf-8") for t in texts]
    found = []
    with env.runtime.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")).all():
                for value in row:
                    raw = value.encode("utf-8") if isinstance(value, str) else value
                    if isinstance(raw, bytes | memoryview) and any(
                        n in bytes(raw) for n in needles
                    ):
                        found.append(f"{table}: {value!r}")
    url = env.runtime.settings.db_url
    db = Path(url.removeprefix("sqlite:///"))
    for path in (db, Path(f"{db}-wal")):
        if path.exists() and any(n in path.read_bytes() for n in needles):
            found.append(str(path))
    return found


def test_free_texts_are_committed_in_the_log_and_sealed_in_the_store(sqlite_env: Env) -> None:
    env = sqlite_env
    rid, rec = submit(env)
    key = bind_subject(env, rec["subject"])
    objection, repair, decision = _text("objection"), _text("repair"), _text("decision")
    reason, note = _text("reason"), _text("note")
    r = subject_request(
        env,
        key,
        rec["subject"],
        rid,
        "objection",
        {"reason": objection, "evidence_hash": "ab" * 32},
    )
    assert r.status_code == 201, r.text
    # the credit office sees the objection's reason
    listed = office_request(env, "/v1/objections/query", "list-objections", b"\x00" * 32, {})
    assert [o["reason"] for o in listed.json()["objections"]] == [objection]
    # and the subject sees its own objection's reason in its file
    mine = subject_file(env, key, rec["subject"])
    assert mine.status_code == 200, mine.text
    assert [(o["record_id"], o["reason"]) for o in mine.json()["objections"]] == [(rid, objection)]
    r = subject_request(env, key, rec["subject"], rid, "repair", {"reason": repair})
    assert r.status_code == 201, r.text
    repair_id = r.json()["repair"]
    r = office_request(
        env,
        f"/v1/repairs/{repair_id}/rejection",
        "reject-repair",
        repair_id.to_bytes(32, "big"),
        {"reason": decision},
    )
    assert r.status_code == 200, r.text
    r = transition(env, "tax", rid, "active", reason=reason, note=note)
    assert r.status_code == 200, r.text

    # the department (and a credit office) see the transition's texts; a bank does not
    for slug, code in (("tax", 200), ("credit-office", 200), ("bank", 403)):
        r = _texts(env, slug, rid)
        assert r.status_code == code, (slug, r.text)
    texts_seen = {
        t["version"]: (t["reason"], t["note"]) for t in _texts(env, "tax", rid).json()["texts"]
    }
    assert texts_seen[on_chain(env, rid).version - 1] == (reason, note)

    texts = [objection, repair, decision, reason, note]
    assert _in_the_clear(env, texts) == []
    # the chain holds the reason's commitment, not its (unsalted, guessable) hash
    assert on_chain(env, rid).reason != reason_code(reason)
    # the sealed texts open to the texts, and match the logged commitments
    with session_scope(env.runtime.engine, read_only=True) as s:
        gw = env.runtime.gateway
        version = on_chain(env, rid).version - 1
        assert open_text(gw, s, rid, f"status:{version}:reason") == reason
        assert open_text(gw, s, rid, f"status:{version}:note") == note
        assert open_text(gw, s, rid, f"repair-decision:{repair_id}") == decision
        # the logged status event names the commitments
        (change,) = [
            c
            for c in s.exec(sa.select(StatusChange).where(StatusChange.record_id == rid)).scalars()
            if c.version == version
        ]  # type: ignore[call-overload]
        (entry,) = DbLog(s, "records").entries(change.log_index, change.log_index + 1)
    event = json.loads(entry)["event"]
    assert event["reason"] == on_chain(env, rid).reason.hex()
    assert event["note"] is not None
    assert len(event["note"]) == 64

    # erasure shreds the record's texts with its envelope
    r = transition(env, "tax", rid, "erased", reason=_text("erasure"))
    assert r.status_code == 200, r.text
    with session_scope(env.runtime.engine, read_only=True) as s:
        assert s.exec(sa.select(FreeText).where(FreeText.record_id == rid)).first() is None  # type: ignore[call-overload]


def test_kek_rotation_rewraps_the_sealed_texts(sqlite_env: Env) -> None:
    from gateway import _kek
    from gateway.domain.envelope import open_

    env = sqlite_env
    rid, rec = submit(env)
    key = bind_subject(env, rec["subject"])
    reason = _text("objection")
    r = subject_request(
        env, key, rec["subject"], rid, "objection", {"reason": reason, "evidence_hash": "ab" * 32}
    )
    assert r.status_code == 201, r.text
    keys_dir = env.runtime.settings.keys_dir
    old = env.runtime.secrets.active_kek
    env.runtime.secrets.keks.grace = 0  # no submission races this test's retire
    new = _kek.rotate(keys_dir, env.runtime.engine)
    assert env.runtime.secrets.active_kek == new  # the serving gateway seals with it now
    keyring, active = _kek.load_keyring(keys_dir)
    # the record, the objection's reason, the office transition's reason (objection-filed)
    assert _kek.pending(env.runtime.engine, active) == 3
    assert _kek.retire(keys_dir, env.runtime.engine) == []  # still needed
    assert _kek.rewrap_all(env.runtime.engine, keyring, active) == 3
    assert _kek.pending(env.runtime.engine, active) == 0
    assert _kek.retire(keys_dir, env.runtime.engine) == [old.kek_id]
    keyring2, _ = _kek.load_keyring(keys_dir)
    with session_scope(env.runtime.engine, read_only=True) as s:
        (text,) = s.exec(  # type: ignore[call-overload]
            sa.select(FreeText).where(FreeText.record_id == rid, FreeText.purpose == "objection:1")
        ).scalars()
    assert text.kek_id == new.kek_id
    plain = open_(
        text.envelope,
        aad_record_id=bytes.fromhex(rid),
        category=f"free-text/{text.purpose}",
        keyring=keyring2,
    )
    assert json.loads(plain)["text"] == reason
