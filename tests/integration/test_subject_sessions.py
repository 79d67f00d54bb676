"""A subject without a key of its own acts through a short-lived session a credit office
certified (docs/formats.md §9.1): who read my file, my file, an objection; every way a
session can be wrong is refused with its own problem; every subject request works once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from gateway.client import (
    SESSION_MAX_SECONDS,
    ClientError,
    SubjectClient,
    build_subject_query,
    build_subject_session,
)
from gateway.domain.records import hex0x
from gateway.domain.signing import typed_signer
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_reads import read

PROBLEM = "https://creditchain.example/problems/"


def _session(
    env: Env,
    subject: dict[str, str],
    session_key: str,
    *,
    by: str = "credit-office",
    start: int | None = None,
    ttl: int = 600,
) -> dict[str, Any]:
    office = env.runtime.consortium[by]
    d = env.runtime.deployment
    return build_subject_session(
        office.account(),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        issuer=bytes.fromhex(office.org_id[2:]),
        subject=subject,
        session_key=session_key,
        issued_at=int(chain_clock(env.chain)) if start is None else start,
        ttl=ttl,
        salt=os.urandom(32),
    )


def _query(
    env: Env, key: LocalAccount, subject: dict[str, str], session: dict[str, Any] | None
) -> dict[str, Any]:
    d = env.runtime.deployment
    return build_subject_query(
        key,
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        subject=subject,
        action="accesses",
        signed_at=int(chain_clock(env.chain)),
        nonce=os.urandom(32),
        salt=os.urandom(32),
        session=session,
    )


def _subject_client(
    env: Env, key: LocalAccount, subject: dict[str, str], session: dict[str, Any] | None
) -> SubjectClient:
    d = env.runtime.deployment
    return SubjectClient(
        env.url,
        key,
        subject,
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        session=session,
        http=env.http,
        clock=lambda: chain_clock(env.chain),
    )


def _bank_reads_without_a_grant(env: Env, subject: dict[str, str]) -> None:
    """A read the subject will see in its trace: denied (no grant), logged."""
    status, _ = read(
        env,
        "bank",
        subject=subject,
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        grant_id=None,
    )
    assert status == 403


def _post(env: Env, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    r = env.http.post(f"{env.url}/v1/subjects/accesses", json=body)
    return r.status_code, r.json()


def test_a_session_shows_the_subject_its_trace_and_file_and_files_an_objection(env: Env) -> None:
    rec = env.record("tax")
    (receipt,) = env.client("tax").submit([rec])
    _bank_reads_without_a_grant(env, rec["subject"])
    env.anchor()

    # no key is bound to this subject in Grants: only a session can speak for it
    session_key = Account.create()
    session = _session(env, rec["subject"], session_key.address)
    with _subject_client(env, session_key, rec["subject"], session) as me:
        trace = me.accesses()
        assert [(d["requester"], d["decision"], d["reason"]) for d in trace["decisions"]] == [
            (env.runtime.consortium["bank"].org_id, "deny", "no-grant")
        ]
        assert trace["decisions"][0]["inclusion"] is not None  # anchored: provable
        (mine,) = me.records()["records"]
        assert mine["record_id"] == receipt["leaf_hash"]
        assert mine["fields"] == rec["fields"]
        objection = me.object(receipt["leaf_hash"], "not my debt", "ab" * 32)
        assert objection["status"] == "objected"

    # without the session the same key is nobody
    with _subject_client(env, session_key, rec["subject"], None) as nobody:
        with pytest.raises(ClientError) as refused:
            nobody.accesses()
        assert refused.value.status == 403


def test_every_subject_query_is_accepted_once(env: Env) -> None:
    rec = env.record("tax")
    env.client("tax").submit([rec])
    key = Account.create()
    body = _query(env, key, rec["subject"], _session(env, rec["subject"], key.address))
    assert _post(env, body)[0] == 200
    status, problem = _post(env, body)
    assert status == 409
    assert problem["type"] == PROBLEM + "replayed-request"


def _refusal(env: Env, body: dict[str, Any]) -> tuple[int, str, str | None]:
    status, problem = _post(env, body)
    return status, str(problem.get("type", "")).removeprefix(PROBLEM), problem.get("reason")


def test_every_wrong_session_is_refused(env: Env) -> None:
    rec = env.record("tax")
    other = env.record("tax")
    env.client("tax").submit([rec, other])
    subject = rec["subject"]
    key = Account.create()
    now = int(chain_clock(env.chain))
    good = _session(env, subject, key.address)

    cases: dict[str, tuple[dict[str, Any], tuple[int, str, str | None]]] = {}
    cases["expired"] = (
        _query(env, key, subject, _session(env, subject, key.address, start=now - 700, ttl=600)),
        (403, "forbidden", "session-expired"),
    )
    cases["not yet valid"] = (
        _query(env, key, subject, _session(env, subject, key.address, start=now + 120)),
        (403, "forbidden", "session-not-yet-valid"),
    )
    cases["issued by a bank"] = (
        _query(env, key, subject, _session(env, subject, key.address, by="bank")),
        (403, "forbidden", "credit-office-required"),
    )
    cases["signed by another key than the session's"] = (
        _query(env, Account.create(), subject, good),
        (403, "forbidden", None),
    )
    # the session names rec's subject: presented for another subject it recovers to nobody
    cases["another subject's session"] = (
        _query(env, key, other["subject"], good),
        (401, "signer-mismatch", None),
    )
    cases["lifetime stretched after signing"] = (
        _query(env, key, subject, {**good, "expires_at": good["expires_at"] + 60}),
        (401, "signer-mismatch", None),
    )
    cases["longer than the maximum"] = (
        _query(env, key, subject, _long_session(env, subject, key.address, now)),
        (422, "malformed-request", None),
    )
    cases["a member missing"] = (
        _query(env, key, subject, {k: v for k, v in good.items() if k != "issuer"}),
        (422, "malformed-request", None),
    )
    got = {name: _refusal(env, body) for name, (body, _) in cases.items()}
    assert got == {name: want for name, (_, want) in cases.items()}
    assert _post(env, _query(env, key, subject, good))[0] == 200  # the control


def _long_session(env: Env, subject: dict[str, str], session_key: str, now: int) -> dict[str, Any]:
    """A session one second longer than allowed, signed correctly (the builder refuses it)."""
    from gateway._subjects import subject_digest
    from gateway.domain.identifiers import parse_subject_id

    office = env.runtime.consortium["credit-office"]
    salt = os.urandom(32)
    message = {
        "subjectDigest": subject_digest(
            salt, parse_subject_id(subject["id"], kind=subject["kind"])
        ),
        "sessionKey": session_key,
        "issuer": bytes.fromhex(office.org_id[2:]),
        "issuedAt": now,
        "expiresAt": now + SESSION_MAX_SECONDS + 1,
    }
    signature = typed_signer(office.account(), env.runtime.gateway.domain)(
        "SubjectSession", message
    )
    return {
        "issuer": office.org_id,
        "session_key": session_key,
        "subject_salt": salt.hex(),
        "issued_at": now,
        "expires_at": now + SESSION_MAX_SECONDS + 1,
        "signature": hex0x(signature),
    }


def test_the_builder_refuses_overlong_sessions(env: Env) -> None:
    with pytest.raises(ValueError, match="900"):
        _session(env, env.record("tax")["subject"], Account.create().address, ttl=901)


def test_the_cli_issues_a_session_and_shows_the_subject_who_read_its_file(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``subject session`` as the credit office, then ``subject accesses`` and ``subject
    records`` with the session file, against the running gateway."""
    import json
    import time

    # eth-tester's blocks run ahead of the wall clock; the office key was registered in one
    wall = time.time
    ahead = chain_clock(env.chain) - wall()
    monkeypatch.setattr(time, "time", lambda: wall() + ahead)

    from typer.testing import CliRunner

    from gateway.cli import app

    rec = env.record("tax")
    (receipt,) = env.client("tax").submit([rec])
    _bank_reads_without_a_grant(env, rec["subject"])
    manifest = tmp_path / "manifest.json"
    env.runtime.deployment.save(manifest)
    where = ["--data-dir", str(env.runtime.settings.data_dir), "--manifest", str(manifest)]
    session_file = tmp_path / "session.json"
    who = f"{rec['subject']['kind']}:{rec['subject']['id']}"
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            *("subject", "session", "--as", "credit-office", "--subject", who),
            *("--out", str(session_file), *where),
        ],
    )
    assert made.exit_code == 0, made.output
    assert rec["subject"]["id"] not in made.output  # the identifier is not echoed
    assert session_file.stat().st_mode & 0o077 == 0

    shown = runner.invoke(
        app,
        ["subject", "accesses", "--url", env.url, "--session", str(session_file), "--json", *where],
    )
    assert shown.exit_code == 0, shown.output
    decisions = json.loads(shown.output)["decisions"]
    assert [(d["requester"], d["decision"]) for d in decisions] == [
        (env.runtime.consortium["bank"].org_id, "deny")
    ]
    listed = runner.invoke(
        app, ["subject", "records", "--url", env.url, "--session", str(session_file), *where]
    )
    assert listed.exit_code == 0, listed.output
    assert receipt["leaf_hash"] in listed.output

    # a session file without its key, and a bad subject: one line, usage exit
    session_file.write_text(json.dumps({"subject": rec["subject"]}))
    broken = runner.invoke(
        app, ["subject", "accesses", "--url", env.url, "--session", str(session_file), *where]
    )
    assert broken.exit_code == 2
    assert "not a session file" in broken.output
    bad = runner.invoke(
        app,
        [
            *("subject", "session", "--as", "credit-office", "--subject", "nokind"),
            *("--out", "x", *where),
        ],
    )
    assert bad.exit_code == 2
