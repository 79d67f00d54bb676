"""Insider edits of the record columns _bound.py does not bind (issue 9, wave 2): legal_hold,
retain_until, dedup_key, kek_id, receipt, erased_at, submission_id.

Each edit is named by ``check`` (gateway/_columns.py) and, where a decision reads the column,
that decision refuses or re-derives it; undoing the edit leaves ``check`` clean.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from gateway import _kek
from gateway._holds import hold_entry
from gateway.client import ClientError
from gateway.domain.canonical import canonicalize
from gateway.store import DbLog, session_scope
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_lifecycle import office_request, status, submit
from tests.integration.test_reads import org_id

OLD = "2001-01-05"  # a market record decided then is long past its retention


@contextmanager
def _edited(env: Env, record_id: str, **values: Any) -> Iterator[None]:
    """``UPDATE record SET …`` for one row, undone afterwards."""
    cols = ", ".join(values)
    with env.runtime.engine.begin() as conn:
        before = dict(
            conn.execute(
                sa.text(f"SELECT {cols} FROM record WHERE record_id = :r"), {"r": record_id}
            )
            .one()
            ._mapping
        )
        _update(conn, record_id, values)
    try:
        yield
    finally:
        with env.runtime.engine.begin() as conn:
            _update(conn, record_id, before)


def _update(conn: sa.Connection, record_id: str, values: dict[str, Any]) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    conn.execute(
        sa.text(f"UPDATE record SET {sets} WHERE record_id = :rid"), values | {"rid": record_id}
    )


def _checks(env: Env, record_id: str) -> set[str]:
    return {f.check for f in env.runtime.gateway.integrity() if record_id in f.where}


def _hold(env: Env, rid: str, hold: bool) -> None:
    r = office_request(
        env, f"/v1/records/{rid}/hold", "legal-hold", bytes.fromhex(rid), {"hold": hold}
    )
    assert r.status_code == 200, r.text


def test_a_cleared_hold_is_caught_and_retention_does_not_erase(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    held, _ = submit(env, "market", decision_date=OLD)
    _hold(env, held, True)
    assert env.runtime.gateway.integrity() == []
    with _edited(env, held, legal_hold=False):
        assert _checks(env, held) == {"record-hold"}
        with caplog.at_level(logging.ERROR, logger="creditchain.lifecycle"):
            assert env.runtime.lifecycle.retention_step() == 0
        assert status(env, held)["status"] == "active"
        assert any(held in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert env.runtime.gateway.integrity() == []
    # released by the office (a second hold leaf): the next pass erases it
    _hold(env, held, False)
    assert env.runtime.gateway.integrity() == []
    assert env.runtime.lifecycle.retention_step() == 1
    assert status(env, held)["status"] == "erased"
    assert env.runtime.gateway.integrity() == []


def test_a_hold_set_in_the_row_alone_is_caught(env: Env) -> None:
    rid, _ = submit(env, "market")
    with _edited(env, rid, legal_hold=True):
        assert _checks(env, rid) == {"record-hold"}
    assert env.runtime.gateway.integrity() == []


def test_hold_details_are_exactly_the_hold(env: Env) -> None:
    rid, _ = submit(env, "market")
    r = office_request(
        env,
        f"/v1/records/{rid}/hold",
        "legal-hold",
        bytes.fromhex(rid),
        {"hold": True, "note": "free text stays out of the log"},
    )
    assert r.status_code == 422, r.text


def test_retain_until_edits_are_caught_and_retention_recomputes(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    fresh, _ = submit(env, "market")
    old, _ = submit(env, "market", decision_date=OLD)
    env.runtime.lifecycle.retention_step()  # erases `old`
    assert status(env, old)["status"] == "erased"
    assert env.runtime.gateway.integrity() == []
    with _edited(env, fresh, retain_until=0):  # ended, says the row
        assert _checks(env, fresh) == {"record-retention"}
        with caplog.at_level(logging.ERROR, logger="creditchain.lifecycle"):
            assert env.runtime.lifecycle.retention_step() == 0
        assert status(env, fresh)["status"] == "active"
        assert any(fresh in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    still, _ = submit(env, "market", decision_date=OLD)
    with _edited(env, still, retain_until=2**62):  # kept past retention
        assert _checks(env, still) == {"record-retention"}
    with _edited(env, still, retain_until=None):  # NULL: the retention worker fills it in
        assert _checks(env, still) == set()
    assert env.runtime.gateway.integrity() == []


def test_a_dedup_key_edit_is_caught(env: Env) -> None:
    rid, _ = submit(env)
    with _edited(env, rid, dedup_key=os.urandom(32)):
        assert _checks(env, rid) == {"record-dedup"}
    assert env.runtime.gateway.integrity() == []


def test_a_resubmission_is_not_answered_with_another_records_receipt(env: Env) -> None:
    one, rec = submit(env)
    two, _ = submit(env)
    with env.runtime.engine.connect() as conn:
        key = conn.execute(
            sa.text("SELECT dedup_key FROM record WHERE record_id = :r"), {"r": one}
        ).scalar_one()
    with _edited(env, one, dedup_key=os.urandom(32)), _edited(env, two, dedup_key=key):
        assert {"record-dedup"} <= _checks(env, two)
        with pytest.raises(ClientError) as caught:
            env.client("tax").submit([rec])  # the same record again, a fresh request
        assert caught.value.status == 409, caught.value.problem
    (again,) = env.client("tax").submit([rec])
    assert again["leaf_hash"] == one
    assert env.runtime.gateway.integrity() == []


def test_a_kek_id_edit_is_caught_and_retire_reads_the_envelope(env: Env) -> None:
    rid, _ = submit(env)
    old = env.runtime.secrets.active_kek.kek_id
    with _edited(env, rid, kek_id="someone-else"):
        assert _checks(env, rid) == {"record-kek"}
    assert env.runtime.gateway.integrity() == []
    # rotated, not yet re-wrapped; the row claims the new KEK already: rewrap skips it, and
    # retiring must still keep the old KEK its envelope is under
    keys_dir = env.runtime.settings.keys_dir
    env.runtime.secrets.keks.grace = 0  # no submission races this retire
    new = _kek.rotate(keys_dir, env.runtime.engine)
    with _edited(env, rid, kek_id=new.kek_id):
        assert _checks(env, rid) == {"record-kek"}
        keyring, active = _kek.load_keyring(keys_dir)
        _kek.rewrap_all(env.runtime.engine, keyring, active)
        assert _kek.retire(keys_dir, env.runtime.engine) == []
    assert old in _kek.load_keyring(keys_dir)[0]
    assert env.runtime.gateway.integrity() == []
    # undone: re-wrapped, then the old KEK goes
    keyring, active = _kek.load_keyring(keys_dir)
    assert _kek.rewrap_all(env.runtime.engine, keyring, active) == 1
    assert _kek.retire(keys_dir, env.runtime.engine) == [old]


def test_a_receipt_edit_is_caught_and_not_served(env: Env) -> None:
    rid, _ = submit(env)
    other, _ = submit(env)
    url = f"{env.url}/v1/records/{rid}/receipt"
    assert env.http.get(url).status_code == 200
    with env.runtime.engine.connect() as conn:
        foreign = conn.execute(
            sa.text("SELECT receipt FROM record WHERE record_id = :r"), {"r": other}
        ).scalar_one()
    with _edited(env, rid, receipt=foreign):
        assert _checks(env, rid) == {"record-receipt"}
        r = env.http.get(url)
        assert r.status_code == 409, r.text
    with _edited(env, rid, receipt="{}"):
        assert _checks(env, rid) == {"record-receipt"}
    assert env.http.get(url).status_code == 200
    assert env.runtime.gateway.integrity() == []


def test_an_erased_at_edit_is_caught(env: Env) -> None:
    live, _ = submit(env)
    gone, _ = submit(env, "market", decision_date=OLD)
    assert env.runtime.lifecycle.retention_step() == 1
    assert env.runtime.gateway.integrity() == []
    with _edited(env, live, erased_at=12345):
        assert _checks(env, live) == {"record-erased-at"}
    with _edited(env, gone, erased_at=12345):
        assert _checks(env, gone) == {"record-erased-at"}
    with _edited(env, gone, erased_at=None):
        assert _checks(env, gone) == {"record-erased-at"}
    assert env.runtime.gateway.integrity() == []


def test_a_submission_id_edit_is_harmless(env: Env) -> None:
    one, _ = submit(env)
    two, _ = submit(env)
    with env.runtime.engine.connect() as conn:
        other = conn.execute(
            sa.text("SELECT submission_id FROM record WHERE record_id = :r"), {"r": two}
        ).scalar_one()
    with _edited(env, one, submission_id=other):
        assert _checks(env, one) == set()  # nothing decides on it
        assert status(env, one)["status"] == "active"


def test_a_forged_release_leaf_does_not_count(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """The insider clears the row *and* appends a hold leaf releasing it, signed by no office."""
    held, _ = submit(env, "market", decision_date=OLD)
    _hold(env, held, True)
    forged = hold_entry(
        record_id=held,
        hold=False,
        org="0x" + org_id(env, "credit-office").hex(),
        details_hash=hashlib.sha256(canonicalize({"hold": False})).digest(),
        signed_at=int(chain_clock(env.chain)),
        nonce="0x" + os.urandom(32).hex(),
        signature="0x" + os.urandom(64).hex() + "1b",
        now=int(chain_clock(env.chain)),
    )
    with session_scope(env.runtime.engine) as s:
        (index,) = DbLog(s, "records").append([forged])
    with _edited(env, held, legal_hold=False):
        findings = env.runtime.gateway.integrity()
        assert {(f.check, f.where) for f in findings} >= {
            ("record-hold", f"record {held}"),
            ("hold-leaf", f"records[{index}]"),
        }, findings
        with caplog.at_level(logging.ERROR, logger="creditchain.lifecycle"):
            assert env.runtime.lifecycle.retention_step() == 0
        assert status(env, held)["status"] == "active"
