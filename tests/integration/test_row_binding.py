"""Insider edits of record rows (issue 9, finding 2): the log decides, not the row.

An operator with the database but no keys edits a ``record`` row. Every path that decides on
it — reads, the opened proof bundle, lifecycle transitions, the public status — refuses
(reads log the denial ``record-unverified``), and ``creditchain check`` names the row.
Edits are applied in-process through the engine, on SQLite, against a running gateway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from gateway._bound import FACT_COLUMNS, RowFacts, chain_statuses, check_rows, row_problems
from gateway.client import ClientError, SubjectClient
from gateway.domain.canonical import canonicalize
from gateway.domain.merkle import leaf_hash
from gateway.errors import RecordUnverified
from node import GrantBasis
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_lifecycle import bind_subject
from tests.integration.test_reads import DAY, commitment_of, entry_of, make_grant, org_id, read

CATEGORY = "tax_credit_rating"


@contextmanager
def _edited(env: Env, record_id: str, **values: Any) -> Iterator[None]:
    """``UPDATE record SET …`` for one row, undone afterwards."""
    cols = ", ".join(values)
    with env.runtime.engine.begin() as conn:
        before = conn.execute(
            sa.text(f"SELECT {cols} FROM record WHERE record_id = :r"), {"r": record_id}
        ).one()
        _update(conn, record_id, values)
    try:
        yield
    finally:
        with env.runtime.engine.begin() as conn:
            _update(conn, record_id, dict(before._mapping))


def _update(conn: sa.Connection, record_id: str, values: dict[str, Any]) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    conn.execute(
        sa.text(f"UPDATE record SET {sets} WHERE record_id = :rid"), values | {"rid": record_id}
    )


def _row(env: Env, record_id: str) -> Any:
    with env.runtime.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM record WHERE record_id = :r"), {"r": record_id}
        ).one()


def _findings(env: Env, record_id: str) -> set[str]:
    return {f.check for f in env.runtime.gateway.integrity() if record_id in str(f)}


def _submit(env: Env, rec: dict[str, Any]) -> str:
    (receipt,) = env.client("tax").submit([rec])
    return str(receipt["leaf_hash"])


def _read_by_id(
    env: Env, record_id: str, grant: bytes, category: str = CATEGORY
) -> tuple[int, dict[str, Any]]:
    return read(
        env,
        "bank",
        record_id=record_id,
        purpose="loan_approval",
        categories=[category],
        grant_id=grant,
    )


def _setup(env: Env) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Two subjects' records and a consent grant to the bank for each."""
    one, two = env.record("tax"), env.record("tax")
    now = int(chain_clock(env.chain))
    grants = [
        make_grant(
            env,
            subject=commitment_of(env, rec["subject"]),
            grantee=org_id(env, "bank"),
            purpose="loan_approval",
            categories=[CATEGORY],
            start=now - DAY,
            end=now + 30 * DAY,
            basis=GrantBasis.CONSENT,
        )
        for rec in (one, two)
    ]
    return one, two, grants[0], grants[1]


def _subject_client(env: Env, subject: dict[str, str]) -> SubjectClient:
    d = env.runtime.deployment
    return SubjectClient(
        env.url,
        bind_subject(env, subject),
        subject,
        chain_id=d.chain_id,
        membership=d.address("Membership"),
        http=env.http,
        clock=lambda: chain_clock(env.chain),
    )


def _released_nothing(env: Env, status: int, answer: dict[str, Any], reason: str) -> None:
    """With a basis for the category, a refused record is answered like no record at all (200,
    nothing released: no existence oracle); the access log keeps the record's true reason."""
    assert status == 200, answer
    assert answer["records"] == [], answer
    assert [d["reason"] for d in entry_of(env, answer)["decisions"]] == [reason], answer


def _unverified(env: Env, status: int, answer: dict[str, Any]) -> None:
    _released_nothing(env, status, answer, "record-unverified")


def test_a_repaired_record_set_active_is_not_released(env: Env) -> None:
    """Reproduction 1: ``UPDATE record SET status='active'`` on a repaired record (with or
    without rewinding its version and deleting its status_change rows)."""

    one, _, grant, _ = _setup(env)
    rid = _submit(env, one)
    env.runtime.lifecycle.office_transition(rid, "repaired", reason="repair-approved")
    env.anchor()
    status, answer = _read_by_id(env, rid, grant)
    _released_nothing(env, status, answer, "record-not-shareable")
    assert env.runtime.gateway.integrity() == []

    with _edited(env, rid, status="active"):
        status, answer = _read_by_id(env, rid, grant)
        _unverified(env, status, answer)
        assert "record-row" in _findings(env, rid)

    # the whole row rewound to version 0 and the status_change rows deleted: the chain's
    # RecordStatus (version 1, repaired) and the orphaned status leaf still say otherwise
    with env.runtime.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM status_change WHERE record_id = :r"), {"r": rid})
    with _edited(env, rid, status="active", status_version=0):
        status, answer = _read_by_id(env, rid, grant)
        _unverified(env, status, answer)
        findings = env.runtime.gateway.integrity()
        checks = {f.check for f in findings}
        assert {"record-row", "status-leaf"} <= checks, findings


def test_a_row_moved_to_another_subject_is_not_released_to_its_reader(env: Env) -> None:
    """Reproduction 2: ``SET subject_commitment=<another subject's>``: a reader holding the
    other subject's consent must not receive the record."""

    one, two, _, grant_two = _setup(env)
    rid = _submit(env, one)
    _submit(env, two)
    env.anchor()
    other = commitment_of(env, two["subject"]).hex()
    file_one, file_two = (_subject_client(env, rec["subject"]) for rec in (one, two))
    with _edited(env, rid, subject_commitment=other):
        status, answer = read(
            env,
            "bank",
            subject=two["subject"],
            purpose="loan_approval",
            categories=[CATEGORY],
            grant_id=grant_two,
        )
        assert status == 200, answer  # subject two's own record is still released
        assert rid not in {r["record_id"] for r in answer["records"]}
        reasons = [d["reason"] for d in entry_of(env, answer)["decisions"]]
        assert sorted(reasons) == ["allowed", "record-unverified"], reasons
        status, answer = _read_by_id(env, rid, grant_two)
        _unverified(env, status, answer)
        # nor is it in subject two's own file
        assert rid not in {r["record_id"] for r in file_two.records()["records"]}
        assert "record-row" in _findings(env, rid)
    assert _findings(env, rid) == set()
    assert rid in {r["record_id"] for r in file_one.records()["records"]}


def test_a_row_moved_to_another_department_is_not_opened_for_it(env: Env) -> None:
    """Reproduction 3: ``SET org_id=<another department>``: that department's signed proof
    request must not get the record and its salt."""

    one, *_ = _setup(env)
    rid = _submit(env, one)
    env.anchor()
    market = env.runtime.consortium["market"].org_id
    with pytest.raises(ClientError) as refused:
        env.client("market").proof(rid)
    assert refused.value.status == 403  # not its record
    with _edited(env, rid, org_id=market):
        with pytest.raises(ClientError) as refused:
            env.client("market").proof(rid)
        assert refused.value.status == 409, refused.value.problem
        assert refused.value.problem["type"].endswith("record-unverified")
        # nor does the origin department get it while the row lies
        with pytest.raises(ClientError):
            env.client("tax").proof(rid)
        assert "record-row" in _findings(env, rid)
    assert env.client("tax").proof(rid)["record"]["subject"] == one["subject"]


EDITS: dict[str, Callable[[Env, dict[str, str]], dict[str, Any]]] = {
    "org_id": lambda env, o: {"org_id": env.runtime.consortium["market"].org_id},
    "category": lambda env, o: {"category": "admin_penalty"},
    "subject_commitment": lambda env, o: {"subject_commitment": o["subject"]},
    "commitment": lambda env, o: {"commitment": "00" * 32},
    "status": lambda env, o: {"status": "objected"},
    "status_version": lambda env, o: {"status_version": 1},
    "successor": lambda env, o: {"successor": o["record_id"]},
    "received_at": lambda env, o: {"received_at": 1},
    "log_index": lambda env, o: {"log_index": int(o["log_index"]) + 1000},
    "envelope": lambda env, o: {"envelope": None},
}


def test_every_column_a_decision_reads_is_bound(env: Env) -> None:
    """Each column a decision reads, edited alone: the read is denied ``record-unverified``
    and ``check`` names the row; undone, the read is allowed and ``check`` is clean."""

    one, two, grant, _ = _setup(env)
    rid = _submit(env, one)
    other_id = _submit(env, two)
    env.anchor()
    other_row = _row(env, other_id)
    other = {
        "subject": other_row.subject_commitment,
        "record_id": other_id,
        "log_index": str(other_row.log_index),
    }
    assert _read_by_id(env, rid, grant)[0] == 200
    for column, edit in EDITS.items():
        values = edit(env, other)
        with _edited(env, rid, **values):
            # asked for the category the row claims (an edit to a public category included)
            status, answer = _read_by_id(env, rid, grant, values.get("category", CATEGORY))
            _unverified(env, status, answer)
            assert "record-row" in _findings(env, rid), column
        assert _read_by_id(env, rid, grant)[0] == 200, column
    assert env.runtime.gateway.integrity() == []


def test_lifecycle_and_status_refuse_an_edited_row(env: Env) -> None:
    """Transitions (who may transition: the origin; from which status) and the public
    status answer from the log, not from an edited row."""

    one, *_ = _setup(env)
    rid = _submit(env, one)
    env.anchor()
    response = env.http.get(f"{env.url}/v1/records/{rid}/status")
    assert response.status_code == 200
    with _edited(env, rid, status="withdrawn", status_version=1):
        response = env.http.get(f"{env.url}/v1/records/{rid}/status")
        assert response.status_code == 409, response.text
        with pytest.raises(RecordUnverified):
            env.runtime.lifecycle.office_transition(rid, "objected", reason="objection-filed")
    assert env.runtime.lifecycle.office_transition(rid, "objected", reason="x")["version"] == 1
    assert env.runtime.gateway.integrity() == []


def test_a_transition_not_yet_relayed_is_not_an_edit(sqlite_env: Env) -> None:
    """The chain may lag the log (a transition logged, its relay pending): the row is bound,
    reads decide on the logged status, and ``check`` is clean before and after the relay."""
    env = sqlite_env
    one, _, grant, _ = _setup(env)
    rid = _submit(env, one)
    env.runtime.lifecycle.relay_inline = False
    env.runtime.lifecycle.office_transition(rid, "objected", reason="objection-filed")
    assert env.runtime.deployment.record_status(env.chain).state(bytes.fromhex(rid)).version == 0
    status, answer = _read_by_id(env, rid, grant)
    assert status == 200, answer
    assert answer["records"][0]["status"] == "objected"
    assert env.runtime.gateway.integrity() == []
    assert env.runtime.lifecycle.relay() == 1
    assert _read_by_id(env, rid, grant)[0] == 200
    assert env.runtime.gateway.integrity() == []


def test_rows_of_version_1_leaves_bind_by_their_plain_commitment() -> None:
    """Logs are append-only: a row whose leaf was written before the subject tag (v1) still
    binds, by the plain subject commitment its leaf holds; another subject's does not."""
    subject, other, commitment = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    entry = {
        "v": 1,
        "kind": "record",
        "org": "0x" + "ab" * 32,
        "category": CATEGORY,
        "subject": subject.hex(),
        "commitment": commitment.hex(),
        "sig": {},
        "received_at": 7,
    }
    data = canonicalize(entry)
    facts = RowFacts(
        record_id=leaf_hash(data).hex(),
        log_index=0,
        org_id=entry["org"],
        category=CATEGORY,
        subject_commitment=subject.hex(),
        commitment=commitment.hex(),
        status="active",
        status_version=0,
        successor=None,
        received_at=7,
        erased=False,
    )
    pepper = b"\x09" * 32
    assert row_problems(facts, data, [], ("active", 0), pepper) == []
    moved = dataclasses.replace(facts, subject_commitment=other.hex())
    assert row_problems(moved, data, [], ("active", 0), pepper) == [
        "subject_commitment is not the leaf's subject"
    ]
    assert row_problems(facts, data, [], ("repaired", 1), pepper) != []


def test_a_row_read_just_before_a_transition_is_not_an_edit(sqlite_env: Env) -> None:
    """Under READ COMMITTED (PostgreSQL) a transition may commit between a read's row SELECT
    and its leaves' SELECT: the row read first is an earlier state, not an edit. Replayed here
    deterministically: rows read, a transition applied, the rows then checked."""
    env = sqlite_env
    gw = env.runtime.gateway
    one, *_ = _setup(env)
    rid = _submit(env, one)
    block = chain_statuses(gw).advance(env.chain.head())
    stale_select = sa.select(*FACT_COLUMNS).where(sa.column("record_id") == rid)
    with env.runtime.engine.connect() as conn:
        stale = conn.execute(stale_select).all()
    env.runtime.lifecycle.office_transition(rid, "objected", reason="objection-filed")
    with env.runtime.engine.connect() as conn:
        assert check_rows(gw, conn, stale, block=block) == {}
    # an edit is not excused: the row rewound to before the transition, read and checked
    with (
        _edited(env, rid, status="active", status_version=0),
        env.runtime.engine.connect() as conn,
    ):
        edited = conn.execute(stale_select).all()
        assert set(check_rows(gw, conn, edited, block=block)) == {rid}
