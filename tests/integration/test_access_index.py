"""The access log is the truth, the ``access_decision`` rows only its index (issue 9, findings
3 and 8): an insider deleting, adding or re-attributing rows is named by ``check`` and by
``audit verify``, and the subject's and auditor's views show only what the entries say; the
entries name their subject by a per-entry keyed tag and are served to signed requests only."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway._access_index import (
    TAIL_BYTES,
    entry_rows,
    fast_entry_rows,
    fast_row_subject,
    row_subject,
    subject_tag,
    tag_key,
    tail_row_subject,
)
from gateway._audit import LogSigner, chain_checkpoints, verify_log
from gateway.client import build_log_request
from gateway.domain.canonical import canonicalize
from gateway.domain.merkle import leaf_hash
from gateway.domain.records import hex0x
from gateway.domain.signing import fast_typed_signer
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_lifecycle import bind_subject
from tests.integration.test_reads import DAY, PROBLEM, commitment_of, make_grant, org_id, read

COLUMNS = (
    "log_index",
    "requester",
    "subject_commitment",
    "record_id",
    "purpose",
    "decision",
    "reason",
    "basis",
    "grant_id",
    "decided_at",
)


def log_signer(env: Env, slug: str = "auditor") -> LogSigner:
    """``(action, start, end) -> body``: ``slug``'s signed LogRequests."""
    member = env.runtime.consortium[slug]
    sign = fast_typed_signer(member.account(), env.runtime.gateway.domain)

    def build(action: str, start: int, end: int) -> dict[str, Any]:
        return build_log_request(
            sign,
            org_id=bytes.fromhex(member.org_id[2:]),
            action=action,
            start=start,
            end=end,
            signed_at=int(chain_clock(env.chain)),
            nonce=os.urandom(32),
        )

    return build


def audit(env: Env) -> list[str]:
    cps = chain_checkpoints(
        env.runtime.deployment.checkpoint_log(env.chain), env.runtime.gateway.log_ids["access"]
    )
    report = verify_log(env.http, env.url, "access", cps, sign=log_signer(env), page=3)
    return [str(f) for f in report.findings]


def check(env: Env) -> list[str]:
    return [str(f) for f in env.runtime.gateway.integrity()]


def subject_accesses(env: Env, key: Any, subject: dict[str, str]) -> list[dict[str, Any]]:
    from gateway._subjects import subject_digest
    from gateway.domain.identifiers import parse_subject_id
    from gateway.domain.signing import typed_signer

    salt, nonce, signed_at = os.urandom(32), os.urandom(32), int(chain_clock(env.chain))
    parsed = parse_subject_id(subject["id"], kind=subject["kind"])
    body = {
        "subject": subject,
        "subject_salt": salt.hex(),
        "signed_at": signed_at,
        "nonce": hex0x(nonce),
        "signature": hex0x(
            typed_signer(key, env.runtime.gateway.domain)(
                "SubjectQuery",
                {
                    "subjectDigest": subject_digest(salt, parsed),
                    "action": "accesses",  # the route it is signed for
                    "signedAt": signed_at,
                    "nonce": nonce,
                },
            )
        ),
    }
    r = env.http.post(f"{env.url}/v1/subjects/accesses", json=body)
    assert r.status_code == 200, r.text
    return list(r.json()["decisions"])


def auditor_trace(env: Env, query: dict[str, Any]) -> list[dict[str, Any]]:
    auditor = env.runtime.consortium["auditor"]
    signed_at, nonce = int(chain_clock(env.chain)), os.urandom(32)
    sign = fast_typed_signer(auditor.account(), env.runtime.gateway.domain)
    body = {
        "auditor": auditor.org_id,
        "query": query,
        "signed_at": signed_at,
        "nonce": hex0x(nonce),
        "signature": hex0x(
            sign(
                "AuditQuery",
                {
                    "auditor": bytes.fromhex(auditor.org_id[2:]),
                    "queryHash": hashlib.sha256(canonicalize(query)).digest(),
                    "signedAt": signed_at,
                    "nonce": nonce,
                },
            )
        ),
    }
    r = env.http.post(f"{env.url}/v1/audit/trace", json=body)
    assert r.status_code == 200, r.text
    return list(r.json()["decisions"])


def _populate(env: Env) -> dict[str, Any]:
    """Subject A: a bank read allowed by a consent grant, a bank read denied, a court read of
    a category with no records; subject B: one bank read. Anchored."""
    a, b = env.record("tax"), env.record("tax")
    env.client("tax").submit([a, b])
    now = int(chain_clock(env.chain))
    gid = make_grant(
        env,
        subject=commitment_of(env, a["subject"]),
        grantee=org_id(env, "bank"),
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        start=now - DAY,
        end=now + 30 * DAY,
    )
    env.chain.mine(1)
    for kw in (
        {"slug": "bank", "subject": a["subject"], "grant_id": gid},
        {"slug": "bank", "subject": a["subject"], "grant_id": None},
        {"slug": "bank", "subject": b["subject"], "grant_id": None},
    ):
        slug = kw.pop("slug")
        read(env, slug, purpose="loan_approval", categories=["tax_credit_rating"], **kw)
    read(
        env,
        "court",
        subject=a["subject"],
        purpose="public_procurement",
        categories=["admin_penalty"],
        grant_id=None,
    )
    env.anchor()
    return {"a": a, "b": b, "grant": gid}


def _rows(env: Env) -> list[dict[str, Any]]:
    with env.runtime.engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(sa.text("SELECT * FROM access_decision ORDER BY id"))
        ]


def _restore(env: Env, rows: list[dict[str, Any]]) -> None:
    with env.runtime.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM access_decision"))
        conn.execute(
            sa.text(
                f"INSERT INTO access_decision (id, {', '.join(COLUMNS)}) "
                f"VALUES (:id, {', '.join(':' + c for c in COLUMNS)})"
            ),
            rows,
        )


_SHOWN = ("log_index", "requester", "subject", "record_id", "purpose", "decision", "reason")
_SHOWN_TOO = ("basis", "grant_id", "decided_at")


def _view(d: dict[str, Any]) -> tuple[Any, ...]:
    """Every column a view shows of a decision."""
    return tuple(d[k] for k in _SHOWN + _SHOWN_TOO)


def test_tampered_index_is_named_and_views_show_the_entries_truth(env: Env) -> None:
    p = _populate(env)
    a, b = p["a"], p["b"]
    key = bind_subject(env, a["subject"])
    assert check(env) == []
    assert audit(env) == []
    truth = [_view(d) for d in subject_accesses(env, key, a["subject"])]
    assert [(t[1], t[5], t[6]) for t in truth] == [
        (env.runtime.consortium["bank"].org_id, "allow", "allowed"),
        (env.runtime.consortium["bank"].org_id, "deny", "no-grant"),
        (env.runtime.consortium["court"].org_id, "allow", "no-records"),
    ]
    court = env.runtime.consortium["court"].org_id
    bank = env.runtime.consortium["bank"].org_id
    queries: list[dict[str, Any]] = [{"requester": bank}, {"requester": court}]
    queries.append({"subject": b["subject"]})
    traces = [[_view(d) for d in auditor_trace(env, q)] for q in queries]
    assert [len(t) for t in traces] == [3, 1, 1]
    rows = _rows(env)
    allowed = next(r for r in rows if r["decision"] == "allow" and r["grant_id"])
    target = allowed["id"]
    b_commitment = commitment_of(env, b["subject"]).hex()
    edits: dict[str, str] = {
        "subject_commitment": f"'{b_commitment}'",
        "requester": f"'{court}'",
        "record_id": "'" + "ab" * 32 + "'",
        "purpose": "'public_procurement'",
        "decision": "'deny'",
        "reason": "'no-grant'",
        "basis": "'statutory'",
        "grant_id": "NULL",
        "decided_at": "decided_at + 1",
        "log_index": "log_index + 1",
    }
    cases: dict[str, str] = {
        "deleted row": f"DELETE FROM access_decision WHERE id = {target}",
        **{
            f"re-attributed {col}": f"UPDATE access_decision SET {col} = {value} "
            f"WHERE id = {target}"
            for col, value in edits.items()
        },
        "row moved past the log": f"UPDATE access_decision SET log_index = 1000 "
        f"WHERE id = {target}",
        "duplicated row": "INSERT INTO access_decision (" + ", ".join(COLUMNS) + ") "
        "SELECT " + ", ".join(COLUMNS) + f" FROM access_decision WHERE id = {target}",
    }
    for name, statement in cases.items():
        with env.runtime.engine.begin() as conn:
            conn.execute(sa.text(statement))
        try:
            found_by_check = check(env)
            found_by_audit = audit(env)
            seen = [_view(d) for d in subject_accesses(env, key, a["subject"])]
            seen_traces = [[_view(d) for d in auditor_trace(env, q)] for q in queries]
        finally:
            _restore(env, rows)
        assert found_by_check, name
        assert all(f.startswith("access-index: access[") for f in found_by_check), name
        assert found_by_audit, name
        assert all(f.startswith("index: access log[") for f in found_by_audit), name
        if name != "duplicated row":
            assert any("has no index row" in f for f in found_by_check), name
            assert any("has no index row" in f for f in found_by_audit), name
        if name != "deleted row":
            assert any("the entry does not say" in f for f in found_by_check), name
        # the views: nothing the entries do not say; the row's lie never shows
        assert set(seen) <= set(truth), (name, seen)
        assert len(seen) == len(set(seen)), name  # a duplicated row counts once
        for seen_trace, trace in zip(seen_traces, traces, strict=True):
            assert set(seen_trace) <= set(trace), (name, seen_trace)
            assert len(seen_trace) == len(set(seen_trace)), name
        if name == "duplicated row":
            assert seen == truth
            assert seen_traces == traces
        if name in ("re-attributed requester", "re-attributed subject_commitment"):
            assert seen_traces[1:] == traces[1:], name  # not shown as court's, nor B's
        assert check(env) == [], f"restoring after {name!r} failed"


def test_entries_need_a_signed_request_and_a_requester_reads_its_own(env: Env) -> None:
    p = _populate(env)
    size = env.http.get(f"{env.url}/v1/logs/access/checkpoint").json()["size"]
    assert size == 4
    for log in ("access", "records"):
        r = env.http.get(f"{env.url}/v1/logs/{log}/entries", params={"start": 0, "end": 1})
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == PROBLEM + "unauthenticated"
    url = f"{env.url}/v1/logs/access/entries"
    whole = env.http.post(url, json=log_signer(env)("entries/access", 0, size))
    assert whole.status_code == 200, whole.text
    entries = whole.json()["entries"]
    assert all(isinstance(e, str) for e in entries)
    # what `audit verify` reads of each entry without parsing it all is what the JSON says
    for i, e in enumerate(entries):
        assert fast_entry_rows(i, e.encode()) == entry_rows(i, json.loads(e))
    # the leaf hashes are public and rebuild the tree of the entries
    leaves = env.http.get(f"{env.url}/v1/logs/access/leaves", params={"start": 0, "end": size})
    assert leaves.json()["leaves"] == [leaf_hash(e.encode()).hex() for e in entries]
    binary = env.http.get(
        f"{env.url}/v1/logs/access/leaves",
        params={"start": 0, "end": size},
        headers={"accept": "application/octet-stream"},
    )
    assert binary.content == b"".join(leaf_hash(e.encode()) for e in entries)
    # a requester: its own entries only
    mine = env.http.post(url, json=log_signer(env, "court")("entries/access", 0, size)).json()
    court = env.runtime.consortium["court"].org_id
    assert [e is not None for e in mine["entries"]] == [
        json.loads(e)["requester"] == court for e in entries
    ]
    assert sum(e is not None for e in mine["entries"]) == 1
    # … and nothing of the records log, nor the index
    records = env.http.post(
        f"{env.url}/v1/logs/records/entries", json=log_signer(env, "court")("entries/records", 0, 1)
    )
    assert records.status_code == 403
    index = env.http.post(
        f"{env.url}/v1/logs/access/index", json=log_signer(env, "bank")("index/access", 0, size)
    )
    assert index.status_code == 403
    # the action is bound: an index request is no entries request; a replay is refused
    body = log_signer(env)("index/access", 0, size)
    assert env.http.post(url, json=body).status_code == 401
    body = log_signer(env)("entries/access", 0, size)
    assert env.http.post(url, json=body).status_code == 200
    assert env.http.post(url, json=body).status_code == 409
    # the range is signed too
    body = log_signer(env)("entries/access", 0, 1)
    assert env.http.post(url, json={**body, "end": size}).status_code == 401
    del p


def test_no_plain_commitment_in_any_public_or_requester_answer(env: Env) -> None:
    rec = env.record("tax")
    env.client("tax").submit([rec])
    commitment = commitment_of(env, rec["subject"])
    answers: list[str] = []
    for _ in range(2):
        status, answer = read(
            env,
            "bank",
            subject=rec["subject"],
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            grant_id=None,
        )
        assert status == 403
        answers.append(json.dumps(answer))
    env.anchor()
    for path, params in (
        ("/v1/logs/access/checkpoint", {}),
        ("/v1/logs/access/leaves", {"start": 0, "end": 2}),
        ("/v1/logs/access/inclusion", {"index": 0, "size": 2}),
        ("/v1/logs/access/consistency", {"first": 1, "second": 2}),
    ):
        r = httpx.get(env.url + path, params=params)
        assert r.status_code == 200, (path, r.text)
        answers.append(r.text)
    own = env.http.post(
        f"{env.url}/v1/logs/access/entries", json=log_signer(env, "bank")("entries/access", 0, 2)
    ).json()["entries"]
    answers.append(json.dumps(own))
    for text in answers:
        assert commitment.hex() not in text.lower()
    # two entries of one subject share no value naming it: fresh salt, different tag
    first, second = (json.loads(e) for e in own)
    assert first["v"] == second["v"] == 2
    assert "subject" not in first
    assert first["subject_salt"] != second["subject_salt"]
    assert first["subject_tag"] != second["subject_tag"]
    for e in (first, second):  # the gateway (holding the pepper) can tell whose they are
        assert (
            subject_tag(
                tag_key(env.runtime.secrets.pepper), bytes.fromhex(e["subject_salt"]), commitment
            ).hex()
            == e["subject_tag"]
        )


@pytest.mark.parametrize("allowed", [True, False])
def test_v1_entries_still_give_their_index_rows(allowed: bool) -> None:
    grant = "0x" + "11" * 32
    entry = {
        "v": 1,
        "kind": "access",
        "requester": "0x" + "AA" * 32,
        "subject": "cd" * 32,
        "purpose": "loan_approval",
        "grant": grant,
        "decided_at": 7,
        "decisions": [
            {
                "record": "ef" * 32,
                "allowed": allowed,
                "reason": "allowed" if allowed else "no-grant",
                "basis": "consent" if allowed else None,
                "fields": [],
            }
        ],
    }
    assert entry_rows(5, entry) == [
        (
            5,
            "0x" + "aa" * 32,
            "cd" * 32,
            "ef" * 32,
            "loan_approval",
            "allow" if allowed else "deny",
            "allowed" if allowed else "no-grant",
            "consent" if allowed else None,
            grant if allowed else None,
            7,
        )
    ]


def test_the_index_answer_reads_the_salt_as_the_json_says() -> None:
    key, salt, commitment = os.urandom(32), os.urandom(16), os.urandom(32)
    entry = canonicalize(
        {
            "block": 1,
            "kind": "access",
            "subject_salt": salt.hex(),
            "subject_tag": subject_tag(key, salt, commitment).hex(),
            "v": 2,
        }
    )
    expected = row_subject(key, json.loads(entry), commitment.hex())
    assert expected == subject_tag(key, salt, commitment).hex()
    assert fast_row_subject(key, entry, commitment.hex()) == expected
    v1 = canonicalize({"block": 1, "kind": "access", "subject": commitment.hex(), "v": 1})
    assert fast_row_subject(key, v1, commitment.hex()) == commitment.hex()
    assert fast_row_subject(key, b'{"block":1,"subject_salt":"zz"}', commitment.hex()) is None


def test_the_audit_reads_odd_entries_as_the_json_says() -> None:
    base = {
        "block": 1,
        "categories": ["tax_credit_rating"],
        "decided_at": 9,
        "decision": "deny",
        "decisions": [],
        "grant": None,
        "kind": "access",
        "purpose": "loan_approval",
        "reason": "allowed",
        "record": None,
        "requester": "0x" + "AB" * 32,
        "sig": {"value": "0x00"},
        "subject_digest": None,
        "subject_salt": "00" * 16,
        "subject_tag": "11" * 32,
        "v": 2,
    }
    decision = {
        "allowed": False,
        "basis": None,
        "fields": [],
        "grant": None,
        "reason": "no-grant",
        "record": "22" * 32,
    }
    for entry in (
        base,  # no records: one no-records row
        {**base, "decisions": [decision, {**decision, "allowed": True, "grant": "0x" + "33" * 32}]},
        {**base, "purpose": 'odd"purpose\\', "decisions": [decision]},  # escapes: parsed whole
        {**base, "kind": "record"},  # not an access entry: no rows
    ):
        raw = canonicalize(entry)
        expected = entry_rows(3, entry) if entry["kind"] == "access" else []
        assert fast_entry_rows(3, raw) == expected, entry


def test_the_index_answer_reads_the_salt_from_the_entrys_end() -> None:
    key, salt, commitment = os.urandom(32), os.urandom(16), os.urandom(32)
    entry = canonicalize(
        {
            "block": 1,
            "kind": "access",
            "purpose": "loan_approval",
            "subject_salt": salt.hex(),
            "subject_tag": subject_tag(key, salt, commitment).hex(),
            "v": 2,
        }
    )
    tail = entry[-TAIL_BYTES:]
    assert tail_row_subject(key, tail, commitment.hex()) == subject_tag(key, salt, commitment).hex()
    v1 = canonicalize({"block": 1, "kind": "access", "subject": "00" * 32, "v": 1})
    assert tail_row_subject(key, v1[-TAIL_BYTES:], commitment.hex()) is None  # read it whole
