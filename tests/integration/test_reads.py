"""Consent-gated reads: the authorization matrix, revocation, the access log, the subject's
and the auditor's traces."""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from typing import Any

from gateway.client import ClientError, ReaderClient
from gateway.domain.identifiers import parse_subject_id, subject_commitment
from gateway.domain.policy import purpose_id
from node import GrantBasis, GrantParams
from tests.integration.conftest import Env, chain_clock

PROBLEM = "https://creditchain.example/problems/"
DAY = 86_400


def reader(env: Env, slug: str) -> ReaderClient:
    org = env.runtime.consortium[slug]
    d = env.runtime.deployment
    return ReaderClient(
        env.url,
        org.account(),
        bytes.fromhex(org.org_id[2:]),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=env.http,
        clock=lambda: chain_clock(env.chain),
    )


def org_id(env: Env, slug: str) -> bytes:
    return bytes.fromhex(env.runtime.consortium[slug].org_id[2:])


def commitment_of(env: Env, subject: dict[str, str]) -> bytes:
    return subject_commitment(
        env.runtime.secrets.pepper, parse_subject_id(subject["id"], kind=subject["kind"])
    )


def make_grant(
    env: Env,
    *,
    subject: bytes,
    grantee: bytes,
    purpose: str,
    categories: list[str],
    start: int,
    end: int,
    basis: GrantBasis = GrantBasis.CONSENT,
    by: str = "credit-office",
) -> bytes:
    grants = env.runtime.deployment.grants(env.chain)
    params = GrantParams(
        subject=subject,
        grantee=grantee,
        purpose=purpose_id(purpose),
        categories=env.runtime.gateway.catalog.category_mask(categories),
        valid_from=start,
        valid_until=end,
        basis=basis,
        evidence_hash=os.urandom(32),
    )
    nonce = os.urandom(32)
    grants.create_grant(env.runtime.consortium[by].account(), params, nonce)
    return params.grant_id(nonce)


def read(env: Env, slug: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    cats = kw.pop("categories")
    mask = env.runtime.gateway.catalog.category_mask(cats)
    try:
        return 200, reader(env, slug).read(categories=cats, category_mask=mask, **kw)
    except ClientError as exc:
        return exc.status, dict(exc.problem)


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------

REQUESTERS = ("bank", "court")
PURPOSES = ("loan_approval", "public_procurement", "employment_screening")
CATEGORIES = ("tax_credit_rating", "utility_arrears", "admin_penalty")
GRANT_STATES = (
    "none",
    "live",
    "expired",
    "not-yet-valid",
    "revoked",
    "other-grantee",
    "other-purpose",
)
STATUSES = ("active", "objected", "repaired")
SUBMITTER = {"tax_credit_rating": "tax", "utility_arrears": "water", "admin_penalty": "market"}


@dataclass(frozen=True)
class Cell:
    requester: str
    subject: int
    purpose: str
    category: str
    grant: str


# Which of REQUESTERS may state which purpose (catalog ``holders``): a bank (financial
# institution) states loan approval, a court (department) procurement and employment screening.
HOLDS = {
    "loan_approval": {"bank"},
    "public_procurement": {"court"},
    "employment_screening": {"court"},
}


def expected(env: Env, cell: Cell, status: str) -> str:
    """The spec, written out independently of gateway/domain/policy.py."""
    catalog = env.runtime.gateway.catalog
    kinds = {"bank": "financial_institution", "court": "department"}
    assert {r for r in REQUESTERS if catalog.purpose(cell.purpose).may_hold(kinds[r])} == HOLDS[
        cell.purpose
    ]  # the catalog says what this table says
    if cell.requester not in HOLDS[cell.purpose]:
        return "requester-kind-excludes-purpose"
    release = {
        "loan_approval": {"tax_credit_rating", "utility_arrears", "admin_penalty"},
        "public_procurement": {"tax_credit_rating", "admin_penalty"},
        "employment_screening": set(),
    }
    assert {c for c in CATEGORIES if catalog.purpose(cell.purpose).allows(c)} == release[
        cell.purpose
    ]  # the catalog says what this table says
    if cell.category not in release[cell.purpose]:
        return "purpose-excludes-category"
    if status == "repaired":
        return "record-not-shareable"
    if cell.category == "admin_penalty":  # public during its disclosure period
        return "allowed"
    return {
        "none": "no-grant",
        "live": "allowed",
        "expired": "grant-expired",
        "not-yet-valid": "grant-not-yet-valid",
        "revoked": "grant-revoked",
        "other-grantee": "grant-other-grantee",
        "other-purpose": "grant-other-purpose",
    }[cell.grant]


def test_authorization_matrix(sqlite_env: Env) -> None:
    env = sqlite_env
    subjects = [env.record("tax")["subject"] for _ in range(2)]
    # three records per subject and category, one per status
    records: dict[tuple[int, str, str], str] = {}
    for s, category, status in itertools.product(range(2), CATEGORIES, STATUSES):
        slug = SUBMITTER[category]
        rec = env.record(slug, category)
        rec["subject"] = subjects[s]
        if category == "utility_arrears":
            rec["fields"]["overdue_months"] = len(records) + 1
        if category == "admin_penalty":
            rec["fields"]["fine_amount_fen"] = 100_000 + len(records)
        (receipt,) = env.client(slug).submit([rec])
        records[(s, category, status)] = receipt["leaf_hash"]
    for (_, _, status), rid in records.items():
        if status != "active":  # a real, logged and relayed transition (rows are not edited)
            env.runtime.lifecycle.office_transition(rid, status, reason="matrix")
    env.anchor()

    now = int(chain_clock(env.chain))
    grants_client = env.runtime.deployment.grants(env.chain)
    cells = [
        Cell(*c)
        for c in itertools.product(REQUESTERS, range(2), PURPOSES, CATEGORIES, GRANT_STATES)
    ]
    grant_of: dict[Cell, bytes | None] = {}
    for cell in cells:
        if cell.grant == "none":
            grant_of[cell] = None
            continue
        grantee = org_id(env, "water" if cell.grant == "other-grantee" else cell.requester)
        purpose = "admin_approval" if cell.grant == "other-purpose" else cell.purpose
        start, end = {
            "expired": (now - DAY, now + 3600),  # over once time moves on below
            "not-yet-valid": (now + 10 * DAY, now + 20 * DAY),
        }.get(cell.grant, (now - DAY, now + 100 * DAY))
        gid = make_grant(
            env,
            subject=commitment_of(env, subjects[cell.subject]),
            grantee=grantee,
            purpose=purpose,
            categories=[cell.category],
            start=start,
            end=end,
        )
        if cell.grant == "revoked":
            grants_client.revoke_grant(env.runtime.consortium["credit-office"].account(), gid)
        grant_of[cell] = gid
    env.chain.advance_time(2 * 3600)  # the "expired" grants end; every other state holds

    unauthorized_2xx = 0
    checked = 0
    for cell in cells:
        status_code, answer = read(
            env,
            cell.requester,
            subject=subjects[cell.subject],
            purpose=cell.purpose,
            categories=[cell.category],
            grant_id=grant_of[cell],
        )
        want = {st: expected(env, cell, st) for st in STATUSES}
        allowed_ids = {
            records[(cell.subject, cell.category, st)] for st, w in want.items() if w == "allowed"
        }
        if allowed_ids:
            assert status_code == 200, (cell, answer)
            got = {r["record_id"] for r in answer["records"]}
            assert got == allowed_ids, (cell, answer)
            allowance = env.runtime.gateway.catalog.purpose(cell.purpose).release[cell.category]
            assert set(answer) == {"decision", "records", "access_receipt"}  # no counts
            for r in answer["records"]:
                assert set(r["fields"]) <= set(allowance), cell
                assert r["fields"], cell
                assert r["objected"] == (r["status"] == "objected")
        else:
            if status_code == 200:
                unauthorized_2xx += 1
            assert status_code == 403, (cell, answer)
            assert answer["type"] == PROBLEM + "access-denied"
            first = next(w for w in want.values() if w != "allowed")
            assert answer["reason"] == first, (cell, answer)
            assert "reasons" not in answer  # no counts: the access log keeps them
            assert (
                answer["access_receipt"]["log_id"]
                == "0x" + env.runtime.gateway.log_ids["access"].hex()
            )
        # the access log holds this decision per record, with the reason
        entry = json.loads(
            env.runtime.gateway.entries(
                "access", answer["access_receipt"]["index"], answer["access_receipt"]["index"] + 1
            )["entries"][0]
        )
        by_record = {d["record"]: d for d in entry["decisions"]}
        for st in STATUSES:
            d = by_record[records[(cell.subject, cell.category, st)]]
            assert d["reason"] == want[st], (cell, st, d)
            assert d["allowed"] == (want[st] == "allowed")
        checked += len(STATUSES)
    assert unauthorized_2xx == 0
    assert checked == len(cells) * len(STATUSES)
    print(
        f"\nauthorization matrix: {len(cells)} requests, {checked} record decisions, "
        f"0 unauthorized 2xx"
    )


def test_revocation_stops_reads_from_the_next_confirmed_block(sqlite_env: Env) -> None:
    env = sqlite_env
    rec = env.record("tax")
    env.client("tax").submit([rec])
    now = int(chain_clock(env.chain))
    gid = make_grant(
        env,
        subject=commitment_of(env, rec["subject"]),
        grantee=org_id(env, "bank"),
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        start=now - DAY,
        end=now + 30 * DAY,
    )
    env.runtime.reader.confirmations = 2  # the running app's reader: 2 confirmations
    env.runtime.reader.block_cache_seconds = 0  # exact: no reuse of the last block seen
    env.chain.mine(2)
    assert (
        read(
            env,
            "bank",
            subject=rec["subject"],
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            grant_id=gid,
        )[0]
        == 200
    )
    env.runtime.deployment.grants(env.chain).revoke_grant(
        env.runtime.consortium["credit-office"].account(), gid
    )
    # the revocation is in the head block, not yet confirmed: reads still see the grant
    assert (
        read(
            env,
            "bank",
            subject=rec["subject"],
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            grant_id=gid,
        )[0]
        == 200
    )
    env.chain.mine(2)
    status, answer = read(
        env,
        "bank",
        subject=rec["subject"],
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        grant_id=gid,
    )
    assert status == 403
    assert answer["reason"] == "grant-revoked"


def test_statutory_grant_for_any_subject(env: Env) -> None:
    rec = env.record("tax")
    env.client("tax").submit([rec])
    now = int(chain_clock(env.chain))
    gid = make_grant(
        env,
        subject=b"\x00" * 32,
        grantee=org_id(env, "court"),
        purpose="public_procurement",
        categories=["tax_credit_rating"],
        start=now - DAY,
        end=now + DAY,
        basis=GrantBasis.STATUTORY,
    )
    status, answer = read(
        env,
        "court",
        subject=rec["subject"],
        purpose="public_procurement",
        categories=["tax_credit_rating"],
        grant_id=gid,
    )
    assert status == 200
    assert answer["records"][0]["basis"] == "statutory"
    assert set(answer["records"][0]["fields"]) == {"evaluation_year", "rating"}


def test_subject_sees_every_decision_and_auditor_traces(env: Env) -> None:
    from eth_account import Account

    from gateway._reads import subject_digest
    from gateway.domain.records import hex0x
    from gateway.domain.signing import typed_signer

    rec = env.record("tax")
    env.client("tax").submit([rec])
    read(
        env,
        "bank",
        subject=rec["subject"],
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        grant_id=None,
    )  # denied: no grant
    read(
        env,
        "court",
        subject=rec["subject"],
        purpose="public_procurement",
        categories=["admin_penalty"],
        grant_id=None,
    )  # allowed: no penalty records → none
    env.anchor()

    # the subject, with its own key bound by the credit office
    key = Account.create()
    commitment = commitment_of(env, rec["subject"])
    env.runtime.deployment.grants(env.chain).bind_subject_key(
        env.runtime.consortium["credit-office"].account(), commitment, key.address
    )
    salt, nonce, signed_at = os.urandom(32), os.urandom(32), int(chain_clock(env.chain))
    subject = parse_subject_id(rec["subject"]["id"], kind=rec["subject"]["kind"])
    sign = typed_signer(key, env.runtime.gateway.domain)
    body = {
        "subject": rec["subject"],
        "subject_salt": salt.hex(),
        "signed_at": signed_at,
        "nonce": hex0x(nonce),
        "signature": hex0x(
            sign(
                "SubjectQuery",
                {
                    "subjectDigest": subject_digest(salt, subject),
                    "action": "accesses",
                    "signedAt": signed_at,
                    "nonce": nonce,
                },
            )
        ),
    }
    answer = env.http.post(f"{env.url}/v1/subjects/accesses", json=body).json()
    decisions = answer["decisions"]
    assert [(d["requester"], d["decision"], d["reason"]) for d in decisions] == [
        (env.runtime.consortium["bank"].org_id, "deny", "no-grant"),
        (env.runtime.consortium["court"].org_id, "allow", "no-records"),
    ]
    from gateway.domain.merkle import leaf_hash, verify_inclusion

    cp = answer["checkpoint"]
    for d in decisions:
        assert verify_inclusion(
            leaf_hash(d["entry"].encode()),
            d["log_index"],
            cp["size"],
            [bytes.fromhex(p) for p in d["inclusion"]],
            bytes.fromhex(cp["root"]),
        )
    # someone else's key is refused
    body["signature"] = hex0x(
        typed_signer(Account.create(), env.runtime.gateway.domain)(
            "SubjectQuery",
            {
                "subjectDigest": subject_digest(salt, subject),
                "action": "accesses",
                "signedAt": signed_at,
                "nonce": nonce,
            },
        )
    )
    refused = env.http.post(f"{env.url}/v1/subjects/accesses", json=body)
    assert refused.status_code == 403

    # the auditor's trace by requester
    auditor = env.runtime.consortium["auditor"]
    query = {"requester": env.runtime.consortium["bank"].org_id}
    import hashlib

    from gateway.domain.canonical import canonicalize

    signed_at, nonce = int(chain_clock(env.chain)), os.urandom(32)
    asign = typed_signer(auditor.account(), env.runtime.gateway.domain)
    audit = {
        "auditor": auditor.org_id,
        "query": query,
        "signed_at": signed_at,
        "nonce": hex0x(nonce),
        "signature": hex0x(
            asign(
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
    trace = env.http.post(f"{env.url}/v1/audit/trace", json=audit)
    assert trace.status_code == 200, trace.text
    assert [d["reason"] for d in trace.json()["decisions"]] == ["no-grant"]
    # a bank cannot audit
    bank = env.runtime.consortium["bank"]
    bsign = typed_signer(bank.account(), env.runtime.gateway.domain)
    audit_as_bank = {
        **audit,
        "auditor": bank.org_id,
        "signature": hex0x(
            bsign(
                "AuditQuery",
                {
                    "auditor": bytes.fromhex(bank.org_id[2:]),
                    "queryHash": hashlib.sha256(canonicalize(query)).digest(),
                    "signedAt": signed_at,
                    "nonce": nonce,
                },
            )
        ),
    }
    assert env.http.post(f"{env.url}/v1/audit/trace", json=audit_as_bank).status_code == 403


def test_read_bad_input(env: Env) -> None:
    bank = reader(env, "bank")
    body = bank.build(
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        category_mask=env.runtime.gateway.catalog.category_mask(["tax_credit_rating"]),
        subject=env.record("tax")["subject"],
    )
    url = f"{env.url}/v1/reads"
    for change, status, slug in (
        ({"purpose": "gossip"}, 422, "unknown-purpose"),
        ({"categories": ["nope"]}, 422, "unknown-category"),
        ({"subject": None, "subject_salt": None}, 422, "malformed-request"),
        ({"signature": "0x" + "22" * 65}, 401, "bad-signature"),
    ):
        r = env.http.post(url, json={**body, **change})
        assert r.status_code == status, (change, r.text)
        assert r.json()["type"] == PROBLEM + slug
    assert env.http.post(url, json=body).status_code in (200, 403)
    again = env.http.post(url, json=body)  # the same signed request twice
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEM + "replayed-request"


# ---------------------------------------------------------------------------------------------
# Issue 9: purposes are not self-declared, both clocks judge a grant, no existence oracle
# ---------------------------------------------------------------------------------------------


def entry_of(env: Env, answer: dict[str, Any]) -> dict[str, Any]:
    """The access-log entry a read's receipt points to."""
    index = answer["access_receipt"]["index"]
    raw = env.runtime.gateway.entries("access", index, index + 1)["entries"][0]
    return dict(json.loads(raw))


def test_a_purpose_is_held_only_by_the_org_kinds_the_catalog_names(env: Env) -> None:
    """A bank or a utility may not state the credit office's purpose to get every field of a
    public record: refused, with the reason, and logged per record. The credit office may; a
    bank stating its own purpose gets its own (smaller) allowance."""
    penalty = env.record("market")
    env.client("market").submit([penalty])
    kw: dict[str, Any] = {
        "subject": penalty["subject"],
        "categories": ["admin_penalty"],
        "grant_id": None,
    }
    for slug in ("bank", "water"):
        status, answer = read(env, slug, purpose="credit_repair_review", **kw)
        assert status == 403, (slug, answer)
        assert answer["type"] == PROBLEM + "access-denied"
        assert answer["reason"] == "requester-kind-excludes-purpose"
        entry = entry_of(env, answer)
        assert entry["decision"] == "deny"
        assert [d["reason"] for d in entry["decisions"]] == ["requester-kind-excludes-purpose"]
    status, answer = read(env, "credit-office", purpose="credit_repair_review", **kw)
    assert status == 200
    assert answer["records"][0]["fields"] == penalty["fields"]
    status, answer = read(env, "bank", purpose="loan_approval", **kw)
    assert status == 200
    allowance = env.runtime.gateway.catalog.purpose("loan_approval").release["admin_penalty"]
    assert set(answer["records"][0]["fields"]) == set(allowance)
    assert len(allowance) < len(penalty["fields"])

    # the chain accepts a grant naming a purpose the grantee's kind may not hold (Grants does
    # not know the catalog): the gateway refuses it at read time
    tax = env.record("tax")
    env.client("tax").submit([tax])
    now = int(chain_clock(env.chain))
    gid = make_grant(
        env,
        subject=commitment_of(env, tax["subject"]),
        grantee=org_id(env, "bank"),
        purpose="credit_repair_review",
        categories=["tax_credit_rating"],
        start=now - DAY,
        end=now + DAY,
    )
    status, answer = read(
        env,
        "bank",
        subject=tax["subject"],
        purpose="credit_repair_review",
        categories=["tax_credit_rating"],
        grant_id=gid,
    )
    assert status == 403
    assert answer["reason"] == "requester-kind-excludes-purpose"


def test_an_ended_grant_is_refused_by_the_gateway_clock_on_a_quiet_chain(env: Env) -> None:
    """No block is mined after the grant: the latest block still lies inside its validity, but
    the gateway's own clock is past its end. Refused, and the entry names the clock."""
    rec = env.record("tax")
    env.client("tax").submit([rec])
    now = int(chain_clock(env.chain))
    gid = make_grant(
        env,
        subject=commitment_of(env, rec["subject"]),
        grantee=org_id(env, "bank"),
        purpose="loan_approval",
        categories=["tax_credit_rating"],
        start=now - DAY,
        end=now + 30,
    )
    kw: dict[str, Any] = {
        "subject": rec["subject"],
        "purpose": "loan_approval",
        "categories": ["tax_credit_rating"],
        "grant_id": gid,
    }
    assert read(env, "bank", **kw)[0] == 200  # live on both clocks

    gateway = env.runtime.gateway
    ahead = 60  # the gateway's clock moves on; the chain mines nothing
    gateway.clock = lambda: chain_clock(env.chain) + ahead
    org = env.runtime.consortium["bank"]
    d = env.runtime.deployment
    late = ReaderClient(
        env.url,
        org.account(),
        bytes.fromhex(org.org_id[2:]),
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=env.http,
        clock=gateway.clock,
    )
    try:
        late.read(category_mask=gateway.catalog.category_mask(kw["categories"]), **kw)
    except ClientError as exc:
        status, answer = exc.status, dict(exc.problem)
    else:
        raise AssertionError("an ended grant released data")
    assert status == 403
    assert answer["reason"] == "grant-expired"
    entry = entry_of(env, answer)
    block_ts = entry["clock"]["block"]
    assert block_ts == env.chain.w3.eth.get_block(entry["block"])["timestamp"]
    assert block_ts < now + 30 <= entry["clock"]["gateway"] == entry["decided_at"]
    assert [(x["reason"], x["clock"]) for x in entry["decisions"]] == [("grant-expired", "gateway")]
    assert entry["policy"] == gateway.catalog.policy_revision


def _same_answer(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two answers equal but for their own receipts (whose shape is equal too)."""
    assert set(a) == set(b)
    assert {k: v for k, v in a.items() if k != "access_receipt"} == {
        k: v for k, v in b.items() if k != "access_receipt"
    }
    assert set(a["access_receipt"]) == set(b["access_receipt"])


def test_no_basis_says_nothing_about_existence_or_number(env: Env) -> None:
    """Without a basis, a subject with three records and one with none get the same answer
    (status, body, receipt shape); only the access log holds the per-record decisions."""
    full = env.record("tax")
    more = [env.record("tax") for _ in range(2)]
    env.client("tax").submit([full] + [{**m, "subject": full["subject"]} for m in more])
    empty = env.record("tax")  # never submitted: no record of this subject
    answers = []
    for rec in (full, empty):
        status, answer = read(
            env,
            "bank",
            subject=rec["subject"],
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            grant_id=None,
        )
        assert status == 403, answer
        answers.append(answer)
    _same_answer(*answers)
    assert answers[0]["reason"] == "no-grant"
    assert "reasons" not in answers[0]
    logged = [entry_of(env, a) for a in answers]
    assert [d["reason"] for d in logged[0]["decisions"]] == ["no-grant"] * 3
    assert logged[1]["decisions"] == []
    assert logged[0]["decision"] == logged[1]["decision"] == "deny"
    trace = env.runtime.reader.trace(subject=commitment_of(env, empty["subject"]))
    assert [(t["decision"], t["reason"]) for t in trace] == [("deny", "no-grant")]

    # with a basis (a public category, the bank's own purpose), a repaired record (sharing
    # ended) and no record answer alike too: 200 and nothing, no counts
    repaired = env.record("market")
    (receipt,) = env.client("market").submit([repaired])
    env.runtime.lifecycle.office_transition(receipt["leaf_hash"], "repaired", reason="test")
    none = env.record("market")
    answers = []
    for rec in (repaired, none):
        status, answer = read(
            env,
            "bank",
            subject=rec["subject"],
            purpose="loan_approval",
            categories=["admin_penalty"],
            grant_id=None,
        )
        assert status == 200, answer
        answers.append(answer)
    _same_answer(*answers)
    assert answers[0]["records"] == []
    assert [d["reason"] for d in entry_of(env, answers[0])["decisions"]] == ["record-not-shareable"]


def test_a_read_by_unknown_record_id_answers_like_one_without_basis(env: Env) -> None:
    """By record id: a record that exists but may not be read, and an id that names no record,
    get the same logged denial (no 404 telling them apart)."""
    rec = env.record("tax")
    (receipt,) = env.client("tax").submit([rec])
    answers = []
    for rid in (receipt["leaf_hash"], os.urandom(32).hex()):
        status, answer = read(
            env,
            "bank",
            record_id=rid,
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            grant_id=None,
        )
        assert status == 403, answer
        answers.append(answer)
        entry = entry_of(env, answer)
        assert entry["record"] == rid
        assert entry["reason"] == "no-grant"
    _same_answer(*answers)
    assert [d["record"] for d in entry_of(env, answers[0])["decisions"]] == [receipt["leaf_hash"]]
    assert entry_of(env, answers[1])["decisions"] == []
