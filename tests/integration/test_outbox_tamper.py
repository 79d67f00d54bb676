"""Insider edits of the outbox tables (issue 9, wave 2): ``anchor``, ``submission`` (request
nonces), ``kek``, ``log_head`` and the relay columns of ``status_change``.

Each case edits one column of one row on a populated gateway, asks ``check``
(``Gateway.integrity()``) for the finding that names it, then undoes the edit and expects a
clean check. Where a decision reads the column, the decision is exercised under the edit too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.errors import ChainDisagrees
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_reads import DAY, commitment_of, make_grant, org_id, reader

CATEGORY = "tax_credit_rating"
Edit = Callable[[sa.Connection], Callable[[sa.Connection], None]]


def _one(conn: sa.Connection, sql: str, **p: Any) -> Any:
    return conn.execute(sa.text(sql), p).one()


def _set(conn: sa.Connection, sql: str, **p: Any) -> None:
    conn.execute(sa.text(sql), p)


@contextmanager
def _tampered(env: Env, apply: Edit) -> Iterator[None]:
    with env.runtime.engine.begin() as conn:
        undo = apply(conn)
    try:
        yield
    finally:
        with env.runtime.engine.begin() as conn:
            undo(conn)


def _column(table: str, column: str, where: str, value: Any, key: str = "id") -> Edit:
    """``UPDATE table SET column = value`` for the row ``where`` selects, undone afterwards."""

    def apply(conn: sa.Connection) -> Callable[[sa.Connection], None]:
        k, old = _one(conn, f"SELECT {key}, {column} FROM {table} WHERE {where}")
        new = value(old) if callable(value) else value
        sql = f"UPDATE {table} SET {column} = :v WHERE {key} = :k"
        _set(conn, sql, v=new, k=k)
        return lambda c: _set(c, sql, v=old, k=k)

    return apply


def _deleted(table: str, where: str) -> Edit:
    def apply(conn: sa.Connection) -> Callable[[sa.Connection], None]:
        row = conn.execute(sa.text(f"SELECT * FROM {table} WHERE {where}")).one()._mapping
        _set(conn, f"DELETE FROM {table} WHERE id = :k", k=row["id"])
        cols = ", ".join(row.keys())
        vals = ", ".join(f":{k}" for k in row)
        return lambda c: _set(c, f"INSERT INTO {table} ({cols}) VALUES ({vals})", **dict(row))

    return apply


def _deleted_kek(conn: sa.Connection) -> Callable[[sa.Connection], None]:
    rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM kek"))]
    _set(conn, "DELETE FROM kek")

    def undo(c: sa.Connection) -> None:
        for r in rows:
            _set(
                c,
                "INSERT INTO kek (kek_id, created_at, retired_at) VALUES (:k, :c, :r)",
                k=r["kek_id"],
                c=r["created_at"],
                r=r["retired_at"],
            )

    return undo


def _prepared_with(conn: sa.Connection, **changes: Any) -> Callable[[sa.Connection], None]:
    """A prepared anchor row after the newest, with ``changes`` (root, size) made to it."""
    size, root = _one(
        conn, "SELECT size, root FROM anchor WHERE log_name = 'records' ORDER BY size DESC LIMIT 1"
    )
    values = {"size": size + 1, "root": bytes(root)} | changes
    _set(
        conn,
        "INSERT INTO anchor (log_name, size, root, from_size, state, created_at, updated_at) "
        "VALUES ('records', :size, :root, :from_size, 'prepared', 0, 0)",
        from_size=size,
        **values,
    )
    return lambda c: _set(c, "DELETE FROM anchor WHERE state = 'prepared'")


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + bytes(data[1:])


def _head(log: str, delta: int) -> Edit:
    def apply(conn: sa.Connection) -> Callable[[sa.Connection], None]:
        (size,) = _one(conn, "SELECT size FROM log_head WHERE log_name = :n", n=log)
        _set(conn, "UPDATE log_head SET size = :s WHERE log_name = :n", s=size + delta, n=log)
        return lambda c: _set(c, "UPDATE log_head SET size = :s WHERE log_name = :n", s=size, n=log)

    return apply


def _populate(env: Env) -> dict[str, Any]:
    """Records (one alone, a batch of three), two anchors of each log, a read (an access entry
    with its nonce), a relayed status change."""
    tax = env.client("tax")
    rec = env.record("tax")
    (first,) = tax.submit([rec])
    tax.submit([env.record("tax") for _ in range(3)])
    env.anchor()
    now = int(chain_clock(env.chain))
    grant = make_grant(
        env,
        subject=commitment_of(env, rec["subject"]),
        grantee=org_id(env, "bank"),
        purpose="loan_approval",
        categories=[CATEGORY],
        start=now - DAY,
        end=now + 30 * DAY,
    )
    bank = reader(env, "bank")
    mask = env.runtime.gateway.catalog.category_mask([CATEGORY])
    body = bank.build(
        purpose="loan_approval",
        categories=[CATEGORY],
        category_mask=mask,
        record_id=first["leaf_hash"],
        grant_id=grant,
    )
    assert env.http.post(f"{env.url}/v1/reads", json=body).status_code == 200
    other = env.record("tax")
    (second,) = tax.submit([other])
    env.runtime.lifecycle.office_transition(second["leaf_hash"], "repaired", reason="r")
    env.runtime.lifecycle.relay()
    env.anchor()
    return {"read": body, "repaired": second["leaf_hash"]}


def _checks(env: Env) -> set[str]:
    return {f.check for f in env.runtime.gateway.integrity()}


CONFIRMED = "state = 'confirmed' AND log_name = 'records' ORDER BY size DESC LIMIT 1"
OLDER = "state = 'confirmed' AND log_name = 'records' ORDER BY size LIMIT 1"
ACCESS_NONCE = (
    "id = (SELECT max(id) FROM submission WHERE id NOT IN (SELECT submission_id FROM record))"
)
RECORDS_NONCE = "id = (SELECT min(id) FROM submission)"
CHANGE = "id = (SELECT max(id) FROM status_change)"

CASES: dict[str, tuple[Edit, set[str]]] = {
    # anchor
    "anchor.root of the newest confirmed row": (
        _column("anchor", "root", CONFIRMED, _flip),
        {"anchor-row"},
    ),
    "anchor.size of the newest confirmed row": (
        _column("anchor", "size", CONFIRMED, lambda s: s + 1),
        {"anchor-row"},
    ),
    "anchor.size of an older confirmed row": (
        _column("anchor", "size", OLDER, lambda s: s - 1),
        {"anchor-row"},
    ),
    "anchor.block_number": (
        _column("anchor", "block_number", OLDER, lambda b: b + 1),
        {"anchor-row"},
    ),
    "anchor.tx_hash": (_column("anchor", "tx_hash", CONFIRMED, "0x" + "ab" * 32), {"anchor-row"}),
    "anchor.state confirmed -> prepared (newest)": (
        _column("anchor", "state", CONFIRMED, "prepared"),
        set(),  # an open row at the chain's size: the worker settles it again (harmless)
    ),
    "anchor.state of a confirmed row deleted (newest)": (
        _deleted("anchor", CONFIRMED),
        {"anchor-row"},
    ),
    "anchor.log_name": (_column("anchor", "log_name", OLDER, "nosuchlog"), {"anchor-row"}),
    "anchor.root of a prepared row": (
        lambda c: _prepared_with(c, root=b"\x01" * 32),
        {"anchor-row"},
    ),
    "anchor.size of a prepared row beyond the log": (
        lambda c: _prepared_with(c, size=10_000),
        {"anchor-row"},
    ),
    "anchor.from_size": (_column("anchor", "from_size", CONFIRMED, 0), set()),  # read by none
    "anchor.created_at": (_column("anchor", "created_at", CONFIRMED, 1), set()),
    "anchor.updated_at": (_column("anchor", "updated_at", CONFIRMED, 1), set()),
    "anchor.block_hash": (_column("anchor", "block_hash", CONFIRMED, "0x" + "ef" * 32), set()),
    # submission (request nonces)
    "submission row of a read deleted": (_deleted("submission", ACCESS_NONCE), {"nonce-row"}),
    "submission.nonce of a read": (
        _column("submission", "nonce", ACCESS_NONCE, "0x" + "00" * 32),
        {"nonce-row"},
    ),
    "submission.org_id of a read": (
        _column("submission", "org_id", ACCESS_NONCE, "0x" + "11" * 32),
        {"nonce-row"},
    ),
    "submission.nonce of a records submission (as good as deleted)": (
        _column("submission", "nonce", RECORDS_NONCE, "0x" + "00" * 32),
        {"nonce-row"},
    ),
    "submission.request_digest of a records submission": (
        _column("submission", "request_digest", RECORDS_NONCE, _flip),
        {"nonce-row"},
    ),
    "submission.received_at": (_column("submission", "received_at", RECORDS_NONCE, 1), set()),
    "submission.request_digest of a read": (
        _column("submission", "request_digest", ACCESS_NONCE, _flip),
        set(),  # read by nothing: a read's nonce is claimed once whatever the digest
    ),
    # kek: metadata only, read by no decision (keys/kek.json decides)
    "kek.retired_at": (_column("kek", "retired_at", "1 = 1", 1, key="kek_id"), set()),
    "kek.created_at": (_column("kek", "created_at", "1 = 1", 1, key="kek_id"), set()),
    "kek.kek_id": (_column("kek", "kek_id", "1 = 1", "forged", key="kek_id"), set()),
    "kek row deleted": (_deleted_kek, set()),
    # log_head
    "log_head.size of records lowered": (_head("records", -1), {"log-head"}),
    "log_head.size of access raised": (_head("access", +2), {"log-head"}),
    # status_change relay columns
    "status_change.state confirmed -> pending": (
        _column("status_change", "state", CHANGE, "pending"),
        {"relay-row"},
    ),
    "status_change.state confirmed -> failed": (
        _column("status_change", "state", CHANGE, "failed"),
        {"relay-row"},
    ),
    "status_change.tx_hash": (
        _column("status_change", "tx_hash", CHANGE, "0x" + "cd" * 32),
        {"relay-row"},
    ),
    "status_change.attempts": (_column("status_change", "attempts", CHANGE, 99), set()),
    "status_change.failure": (_column("status_change", "failure", CHANGE, "forged"), set()),
    "status_change.created_at": (_column("status_change", "created_at", CHANGE, 1), set()),
    "status_change.updated_at": (_column("status_change", "updated_at", CHANGE, 1), set()),
}


def test_outbox_tamper_matrix(env: Env) -> None:
    _populate(env)
    assert env.runtime.gateway.integrity() == []
    for name, (apply, expected) in CASES.items():
        with _tampered(env, apply):
            findings = env.runtime.gateway.integrity()
            named = {f.check for f in findings}
            if expected:
                assert expected <= named, (name, findings)
            else:
                assert findings == [], (name, findings)
        assert env.runtime.gateway.integrity() == [], f"undo of {name!r} failed"


def _served(env: Env, record_id: str) -> tuple[int, int, int]:
    checkpoint = env.http.get(f"{env.url}/v1/logs/records/checkpoint")
    proof = env.http.get(f"{env.url}/v1/records/{record_id}/proof")
    access = env.http.get(f"{env.url}/v1/logs/access/checkpoint")
    return checkpoint.status_code, proof.status_code, access.status_code


def test_a_served_checkpoint_is_one_the_chain_holds(env: Env) -> None:
    """The checkpoint served with proofs and at /v1/logs/*/checkpoint comes from an anchor row
    only once the chain holds that row (size, root, block, tx): an edited row is a 503."""
    (receipt,) = env.client("tax").submit([env.record("tax")])
    env.anchor()
    rid = receipt["leaf_hash"]
    assert _served(env, rid) == (200, 200, 200)
    good = env.http.get(f"{env.url}/v1/logs/records/checkpoint").json()["anchored"]
    newest = "state = 'confirmed' AND log_name = 'records'"
    for edit in (
        _column("anchor", "root", newest, _flip),
        _column("anchor", "size", newest, lambda s: s + 1),
        _column("anchor", "block_number", newest, lambda b: b + 1),
        _column("anchor", "tx_hash", newest, "0x" + "ab" * 32),
    ):
        with _tampered(env, edit):
            checkpoint, proof, _ = _served(env, rid)
            assert (checkpoint, proof) == (503, 503)
        assert env.http.get(f"{env.url}/v1/logs/records/checkpoint").json()["anchored"] == good


def test_an_edited_prepared_row_is_never_anchored(env: Env) -> None:
    """The first checkpoint of a log has no consistency proof for the contract to check: the
    anchoring worker itself refuses a row whose root is not the log's (ChainDisagrees)."""
    env.client("tax").submit([env.record("tax") for _ in range(3)])
    with env.runtime.engine.begin() as conn:
        (size,) = _one(conn, "SELECT size FROM log_head WHERE log_name = 'records'")
        _set(
            conn,
            "INSERT INTO anchor (log_name, size, root, from_size, state, created_at, updated_at) "
            "VALUES ('records', :s, :r, 0, 'prepared', 0, 0)",
            s=size,
            r=b"\x07" * 32,
        )
    assert "anchor-row" in _checks(env)
    with pytest.raises(ChainDisagrees, match="anchor table was altered"):
        env.runtime.anchorer.step(force=True)
    client = env.runtime.deployment.checkpoint_log(env.chain)
    assert client.latest(env.runtime.gateway.log_ids["records"]) is None


def test_a_read_replayed_after_its_nonce_row_is_deleted_is_named(env: Env) -> None:
    """Deleting a read's nonce row lets its signed body be replayed inside the window: the
    replay appends a second access entry with the same signer and nonce, which check names."""
    body = _populate(env)["read"]
    assert env.http.post(f"{env.url}/v1/reads", json=body).status_code == 409  # replay refused
    with env.runtime.engine.begin() as conn:
        _set(conn, f"DELETE FROM submission WHERE {ACCESS_NONCE}")
    assert "nonce-row" in _checks(env)
    assert env.http.post(f"{env.url}/v1/reads", json=body).status_code == 200  # replayed
    assert "nonce-reuse" in _checks(env)


def test_a_pending_change_marked_confirmed_is_named_and_never_relayed(env: Env) -> None:
    """``state = 'confirmed'`` on a change the relay has not sent: the relay skips it (the
    chain lags the log) and check names it; undone, the next relay pass sends it."""
    (receipt,) = env.client("tax").submit([env.record("tax")])
    env.runtime.lifecycle.relay_inline = False
    env.runtime.lifecycle.office_transition(receipt["leaf_hash"], "repaired", reason="r")
    env.anchor()
    assert env.runtime.gateway.integrity() == []  # pending, not on chain yet: consistent
    with _tampered(env, _column("status_change", "state", CHANGE, "confirmed")):
        assert "relay-row" in _checks(env)
        assert env.runtime.lifecycle.relay() == 0
        assert "relay-row" in _checks(env)
    assert env.runtime.lifecycle.relay() == 1
    assert env.runtime.gateway.integrity() == []
