"""Insider edits of ``objection``, ``repair`` and ``free_text`` rows (issue 9, wave 2): each
filing, repair application and repair rejection is a leaf of the records log, their later
states follow from the status leaves, and ``creditchain check`` names every edited column
(``objection-row``, ``repair-row``, ``free-text``). Edits go through the engine on SQLite
against a running gateway; each is undone and the store is clean again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.conftest import Env
from tests.integration.test_lifecycle import (
    bind_subject,
    office_request,
    subject_file,
    subject_request,
    submit,
    transition,
)


@dataclass
class Scene:
    rid: str  # objection A (rejected), repair R1 (rejected), objection B (open)
    other: str  # another subject's record: repair R2 (approved)
    other_subject: str
    objection_rejected: int
    objection_open: int
    repair_rejected: int
    repair_approved: int
    keys: tuple[Any, Any]  # the two subjects' keys
    subjects: tuple[dict[str, str], dict[str, str]]


def _scene(env: Env) -> Scene:
    rid, rec = submit(env)
    key = bind_subject(env, rec["subject"])
    r = subject_request(
        env,
        key,
        rec["subject"],
        rid,
        "objection",
        {"reason": "not mine", "evidence_hash": "ab" * 32},
    )
    assert r.status_code == 201, r.text
    a = int(r.json()["objection"])
    assert transition(env, "tax", rid, "active", reason="objection-rejected").status_code == 200
    r = subject_request(env, key, rec["subject"], rid, "repair", {"reason": "paid the fine"})
    assert r.status_code == 201, r.text
    r1 = int(r.json()["repair"])
    r = office_request(
        env,
        f"/v1/repairs/{r1}/rejection",
        "reject-repair",
        r1.to_bytes(32, "big"),
        {"reason": "too early"},
    )
    assert r.status_code == 200, r.text
    r = subject_request(
        env, key, rec["subject"], rid, "objection", {"reason": "again", "evidence_hash": "cd" * 32}
    )
    assert r.status_code == 201, r.text
    b = int(r.json()["objection"])
    other, rec2 = submit(env)
    key2 = bind_subject(env, rec2["subject"])
    r = subject_request(env, key2, rec2["subject"], other, "repair", {"reason": "settled"})
    assert r.status_code == 201, r.text
    r2 = int(r.json()["repair"])
    assert transition(env, "credit-office", other, "repaired", reason="repair").status_code == 200
    with env.runtime.engine.connect() as conn:
        subject2 = conn.execute(
            sa.text("SELECT subject_commitment FROM record WHERE record_id = :r"), {"r": other}
        ).scalar_one()
    return Scene(
        rid, other, str(subject2), a, b, r1, r2, (key, key2), (rec["subject"], rec2["subject"])
    )


@contextmanager
def _edited(env: Env, table: str, row_id: int, **values: Any) -> Iterator[None]:
    """``UPDATE <table> SET … WHERE id = …``, undone afterwards."""
    cols = ", ".join(values)
    with env.runtime.engine.begin() as conn:
        before = conn.execute(
            sa.text(f"SELECT {cols} FROM {table} WHERE id = :i"), {"i": row_id}
        ).one()
        _update(conn, table, row_id, values)
    try:
        yield
    finally:
        with env.runtime.engine.begin() as conn:
            _update(conn, table, row_id, dict(before._mapping))


def _update(conn: sa.Connection, table: str, row_id: int, values: dict[str, Any]) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    conn.execute(sa.text(f"UPDATE {table} SET {sets} WHERE id = :id"), values | {"id": row_id})


def _value(env: Env, table: str, row_id: int, column: str) -> Any:
    with env.runtime.engine.connect() as conn:
        return conn.execute(
            sa.text(f"SELECT {column} FROM {table} WHERE id = :i"), {"i": row_id}
        ).scalar_one()


def _named(env: Env, where: str) -> set[str]:
    return {f.check for f in env.runtime.gateway.integrity() if f.where == where}


@pytest.fixture
def scene(sqlite_env: Env) -> Scene:
    s = _scene(sqlite_env)
    assert sqlite_env.runtime.gateway.integrity() == []
    return s


def test_each_filing_and_rejection_is_a_leaf_without_the_subject(
    sqlite_env: Env, scene: Scene
) -> None:
    env = sqlite_env
    with env.runtime.engine.connect() as conn:
        entries = [
            json.loads(bytes(e))
            for (e,) in conn.execute(
                sa.text("SELECT entry FROM log_entry WHERE log_name = 'records' ORDER BY idx")
            )
        ]
    kinds = [e["kind"] for e in entries if e["kind"] not in ("record", "status")]
    assert kinds == ["objection", "repair", "repair-rejection", "objection", "repair"]
    for e in entries:
        if e["kind"] in ("objection", "repair", "repair-rejection"):
            assert "subject" not in json.dumps(e).replace("subject_", "")
            assert set(e["request"]) == {"signature", "nonce", "signed_at"}
            assert len(e["reason"]) == 64  # a salted commitment, never the text
            assert "not mine" not in json.dumps(e)
            assert "too early" not in json.dumps(e)
    rejection = next(e for e in entries if e["kind"] == "repair-rejection")
    assert _value(env, "repair", scene.repair_rejected, "decided_by") == rejection["org"]


def _objection_edits(s: Scene) -> list[tuple[int, str, Any]]:
    a, b = s.objection_rejected, s.objection_open
    return [
        (b, "record_id", s.other),
        (b, "subject_commitment", s.other_subject),
        (b, "reason", "00" * 32),
        (b, "evidence_hash", "ee" * 32),
        (b, "filed_at", 1),
        (b, "deadline", 2**40),
        (b, "state", "rejected"),
        (a, "state", "open"),
        (a, "resolved_at", 5),
        (b, "resolved_at", 5),
        (a, "resolution", "11" * 32),
        (a, "resolution", None),
    ]


def test_every_objection_column_edit_is_named(sqlite_env: Env, scene: Scene) -> None:
    env = sqlite_env
    for row_id, column, value in _objection_edits(scene):
        with _edited(env, "objection", row_id, **{column: value}):
            assert "objection-row" in _named(env, f"objection {row_id}"), (column, value)
        assert env.runtime.gateway.integrity() == [], (column, value)


def _repair_edits(s: Scene) -> list[tuple[int, str, Any]]:
    r1, r2 = s.repair_rejected, s.repair_approved
    return [
        (r1, "record_id", s.other),
        (r2, "subject_commitment", "ab" * 32),
        (r1, "reason", "00" * 32),
        (r2, "filed_at", 7),
        (r1, "state", "pending"),
        (r2, "state", "rejected"),
        (r1, "decided_at", None),
        (r2, "decided_at", 9),
        (r1, "decided_by", "0x" + "99" * 32),
        (r2, "decided_by", None),
        (r1, "decision_reason", "22" * 32),
        (r2, "decision_reason", "33" * 32),
    ]


def test_every_repair_column_edit_is_named(sqlite_env: Env, scene: Scene) -> None:
    env = sqlite_env
    for row_id, column, value in _repair_edits(scene):
        with _edited(env, "repair", row_id, **{column: value}):
            assert "repair-row" in _named(env, f"repair {row_id}"), (column, value)
        assert env.runtime.gateway.integrity() == [], (column, value)


def test_every_free_text_column_edit_is_named(sqlite_env: Env, scene: Scene) -> None:
    env = sqlite_env
    with env.runtime.engine.connect() as conn:
        rows = {
            str(purpose): (int(tid), str(rid), bytes(envelope))
            for tid, rid, purpose, envelope in conn.execute(
                sa.text("SELECT id, record_id, purpose, envelope FROM free_text")
            )
        }
    assert {
        f"objection:{scene.objection_open}",
        f"repair:{scene.repair_rejected}",
        f"repair-decision:{scene.repair_rejected}",
        "status:0:reason",
    } <= set(rows)
    tid, _, envelope = rows[f"objection:{scene.objection_open}"]
    other_tid, _, other_envelope = rows[f"repair-decision:{scene.repair_rejected}"]
    flipped = envelope[:-1] + bytes([envelope[-1] ^ 1])
    for column, value in [
        ("record_id", scene.other),
        ("purpose", f"objection:{scene.objection_rejected + 1000}"),
        ("kek_id", "not-the-kek"),
        ("envelope", flipped),
        ("envelope", other_envelope),
    ]:
        with _edited(env, "free_text", tid, **{column: value}):
            assert "free-text" in _named(env, f"free_text {tid}"), column
        assert env.runtime.gateway.integrity() == [], column
    # a text sealed again for the same purpose (a new salt: the row opens, the commitment differs)
    from gateway._freetext import commit_text
    from gateway.store import FreeText, session_scope

    with session_scope(env.runtime.engine) as s:
        row = s.get(FreeText, other_tid)
        assert row is not None
        s.delete(row)
        s.flush()
        commit_text(
            env.runtime.gateway, s, scene.rid, f"repair-decision:{scene.repair_rejected}", "fine"
        )
    findings = env.runtime.gateway.integrity()
    assert [f.check for f in findings] == ["free-text"], findings


def test_a_deleted_row_or_text_is_named(sqlite_env: Env, scene: Scene) -> None:
    env = sqlite_env
    with env.runtime.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM objection WHERE id = :i"), {"i": scene.objection_open})
        conn.execute(
            sa.text("DELETE FROM free_text WHERE purpose = :p"),
            {"p": f"repair:{scene.repair_approved}"},
        )
    checks = {f.check for f in env.runtime.gateway.integrity()}
    assert checks == {"objection-row", "free-text"}


def test_a_repair_reopened_by_its_row_is_named_and_not_decided_again(
    sqlite_env: Env, scene: Scene
) -> None:
    """The row of a rejected application set back to pending: check names it, and a second
    rejection by the office is refused (its sealed decision text exists; so is an approved one's:
    its record is repaired as its leaves say; a leaf rejecting a settled repair would name a repair
    the log has settled)."""
    env = sqlite_env
    r1 = scene.repair_rejected
    with env.runtime.engine.begin() as conn:
        _update(conn, "repair", r1, {"state": "pending", "decided_at": None, "decided_by": None})
    assert "repair-row" in _named(env, f"repair {r1}")
    r = office_request(
        env,
        f"/v1/repairs/{r1}/rejection",
        "reject-repair",
        r1.to_bytes(32, "big"),
        {"reason": os.urandom(4).hex()},
    )
    assert r.status_code == 403, r.text
    assert _value(env, "repair", r1, "state") == "pending"
    # an approved application set back to pending: its record is repaired (as its leaves say)
    r2 = scene.repair_approved
    with env.runtime.engine.begin() as conn:
        _update(conn, "repair", r2, {"state": "pending"})
    r = office_request(
        env,
        f"/v1/repairs/{r2}/rejection",
        "reject-repair",
        r2.to_bytes(32, "big"),
        {"reason": os.urandom(4).hex()},
    )
    assert r.status_code == 403, r.text
    assert "repair-row" in _named(env, f"repair {r2}")


def _listed(env: Env) -> list[int]:
    r = office_request(env, "/v1/objections/query", "list-objections", b"\x00" * 32, {})
    assert r.status_code == 200, r.text
    return [o["objection"] for o in r.json()["objections"]]


def _file(env: Env, s: Scene, which: int) -> list[int]:
    r = subject_file(env, s.keys[which], s.subjects[which])
    assert r.status_code == 200, r.text
    return [o["objection"] for o in r.json()["objections"]]


def test_the_views_do_not_show_a_row_moved_or_rewritten(sqlite_env: Env, scene: Scene) -> None:
    """The office's objection list and the subject's file show an objection only when its
    sealed reason (sealed for its record and id) opens to the row's commitment and its subject
    is its record's: a row moved to another record or subject, or given another reason, is not
    shown (and check names it)."""
    env, b = sqlite_env, scene.objection_open
    assert _listed(env) == [b]
    assert _file(env, scene, 0) == [scene.objection_rejected, b]
    assert _file(env, scene, 1) == []
    for column, value in [
        ("reason", "00" * 32),
        ("record_id", scene.other),
        ("subject_commitment", scene.other_subject),
    ]:
        with _edited(env, "objection", b, **{column: value}):
            assert _listed(env) == [], column
            assert b not in _file(env, scene, 0), column
            assert _file(env, scene, 1) == [], column
            assert "objection-row" in _named(env, f"objection {b}"), column
    # both moved together to the other subject's record: its sealed reason does not open there
    with _edited(
        env, "objection", b, record_id=scene.other, subject_commitment=scene.other_subject
    ):
        assert _listed(env) == []
        assert _file(env, scene, 1) == []
    assert _listed(env) == [b]
