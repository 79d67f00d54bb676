"""Insider tampering with the gateway's database: every case is caught by a named check, on
SQLite and PostgreSQL. Each case is applied, checked, and undone, on one populated gateway."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from gateway.domain.merkle import leaf_hash, node_hash
from tests.integration.conftest import Env


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@contextmanager
def _tampered(
    env: Env, apply: Callable[[sa.Connection], Callable[[sa.Connection], None]]
) -> Iterator[None]:
    """Apply a change (which returns its own undo), yield, undo it."""
    with env.runtime.engine.begin() as conn:
        undo = apply(conn)
    try:
        yield
    finally:
        with env.runtime.engine.begin() as conn:
            undo(conn)


def _one(conn: sa.Connection, sql: str, **p: Any) -> Any:
    return conn.execute(sa.text(sql), p).one()


def _set(conn: sa.Connection, sql: str, **p: Any) -> None:
    conn.execute(sa.text(sql), p)


def _envelope_byte(region: str) -> Callable[[sa.Connection], Callable[[sa.Connection], None]]:
    def apply(conn: sa.Connection) -> Callable[[sa.Connection], None]:
        rid, env_bytes = _one(conn, "SELECT record_id, envelope FROM record WHERE log_index = 4")
        env_bytes = bytes(env_bytes)
        kek_len = env_bytes[1]
        at = {"wrapped key": 2 + kek_len + 20, "ciphertext": len(env_bytes) - 20}[region]
        _set(
            conn,
            "UPDATE record SET envelope = :e WHERE record_id = :r",
            e=_flip(env_bytes, at),
            r=rid,
        )
        return lambda c: _set(
            c, "UPDATE record SET envelope = :e WHERE record_id = :r", e=env_bytes, r=rid
        )

    return apply


def _leaf_entry(conn: sa.Connection) -> Callable[[sa.Connection], None]:
    (entry,) = _one(conn, "SELECT entry FROM log_entry WHERE log_name='records' AND idx = 7")
    entry = bytes(entry)
    changed = entry.replace(b'"received_at":', b'"received_at":1', 1)
    _set(conn, "UPDATE log_entry SET entry = :e WHERE log_name='records' AND idx = 7", e=changed)
    return lambda c: _set(
        c, "UPDATE log_entry SET entry = :e WHERE log_name='records' AND idx = 7", e=entry
    )


def _subtree_hash(conn: sa.Connection) -> Callable[[sa.Connection], None]:
    (h,) = _one(conn, "SELECT hash FROM log_node WHERE log_name='records' AND level=2 AND idx=1")
    h = bytes(h)
    _set(
        conn,
        "UPDATE log_node SET hash = :h WHERE log_name='records' AND level=2 AND idx=1",
        h=_flip(h, 0),
    )
    return lambda c: _set(
        c, "UPDATE log_node SET hash = :h WHERE log_name='records' AND level=2 AND idx=1", h=h
    )


def _deleted_row(conn: sa.Connection) -> Callable[[sa.Connection], None]:
    entry, leaf = _one(
        conn, "SELECT entry, leaf_hash FROM log_entry WHERE log_name='records' AND idx = 5"
    )
    _set(conn, "DELETE FROM log_entry WHERE log_name='records' AND idx = 5")
    return lambda c: _set(
        c,
        "INSERT INTO log_entry (log_name, idx, entry, leaf_hash) VALUES ('records', 5, :e, :l)",
        e=bytes(entry),
        l=bytes(leaf),
    )


def _inserted_row(conn: sa.Connection) -> Callable[[sa.Connection], None]:
    (size,) = _one(conn, "SELECT size FROM log_head WHERE log_name='records'")
    forged = b'{"kind":"record","forged":true}'
    _set(
        conn,
        "INSERT INTO log_entry (log_name, idx, entry, leaf_hash) VALUES ('records', :i, :e, :l)",
        i=size,
        e=forged,
        l=leaf_hash(forged),
    )
    return lambda c: _set(c, "DELETE FROM log_entry WHERE log_name='records' AND idx = :i", i=size)


def _reordered_rows(conn: sa.Connection) -> Callable[[sa.Connection], None]:
    """Swap two entries (with their leaf hashes): the stored tree no longer matches."""
    a = _one(conn, "SELECT entry, leaf_hash FROM log_entry WHERE log_name='records' AND idx=2")
    b = _one(conn, "SELECT entry, leaf_hash FROM log_entry WHERE log_name='records' AND idx=3")

    def put(c: sa.Connection, idx: int, row: Any) -> None:
        _set(
            c,
            "UPDATE log_entry SET entry = :e, leaf_hash = :l WHERE log_name='records' AND idx = :i",
            e=bytes(row[0]),
            l=bytes(row[1]),
            i=idx,
        )

    put(conn, 2, (b[0], b"\x00" * 32))  # leaf_hash is unique per log: swap through a placeholder
    put(conn, 3, a)
    put(conn, 2, b)

    def undo(c: sa.Connection) -> None:
        put(c, 2, (a[0], b"\x00" * 32))
        put(c, 3, b)
        put(c, 2, a)

    return undo


def _consistent_rewrite(conn: sa.Connection) -> Callable[[sa.Connection], None]:
    """The careful insider: swap two entries AND rewrite every stored hash to match. Only the
    chain's checkpoints (and the records that point at their leaves) can tell."""
    rows = conn.execute(
        sa.text("SELECT idx, entry, leaf_hash FROM log_entry WHERE log_name='records' ORDER BY idx")
    ).all()
    nodes = conn.execute(
        sa.text("SELECT level, idx, hash FROM log_node WHERE log_name='records'")
    ).all()
    entries = [bytes(r[1]) for r in rows]
    entries[2], entries[3] = entries[3], entries[2]
    _set(conn, "DELETE FROM log_entry WHERE log_name='records'")
    _set(conn, "DELETE FROM log_node WHERE log_name='records'")
    level = [leaf_hash(e) for e in entries]
    for i, e in enumerate(entries):
        _set(
            conn,
            "INSERT INTO log_entry (log_name, idx, entry, leaf_hash) "
            "VALUES ('records', :i, :e, :l)",
            i=i,
            e=e,
            l=level[i],
        )
    lvl = 0
    while level:
        for i, h in enumerate(level):
            _set(
                conn,
                "INSERT INTO log_node (log_name, level, idx, hash) VALUES ('records', :lv, :i, :h)",
                lv=lvl,
                i=i,
                h=h,
            )
        level = [node_hash(level[2 * i], level[2 * i + 1]) for i in range(len(level) // 2)]
        lvl += 1

    def undo(c: sa.Connection) -> None:
        _set(c, "DELETE FROM log_entry WHERE log_name='records'")
        _set(c, "DELETE FROM log_node WHERE log_name='records'")
        for r in rows:
            _set(
                c,
                "INSERT INTO log_entry (log_name, idx, entry, leaf_hash) "
                "VALUES ('records', :i, :e, :l)",
                i=r[0],
                e=bytes(r[1]),
                l=bytes(r[2]),
            )
        for n in nodes:
            _set(
                c,
                "INSERT INTO log_node (log_name, level, idx, hash) VALUES ('records', :lv, :i, :h)",
                lv=n[0],
                i=n[1],
                h=bytes(n[2]),
            )

    return undo


def _record_repointed(conn: sa.Connection) -> Callable[[sa.Connection], None]:
    _set(conn, "UPDATE record SET log_index = -1 WHERE log_index = 8")
    _set(conn, "UPDATE record SET log_index = 8 WHERE log_index = 9")
    _set(conn, "UPDATE record SET log_index = 9 WHERE log_index = -1")

    def undo(c: sa.Connection) -> None:
        _set(c, "UPDATE record SET log_index = -1 WHERE log_index = 9")
        _set(c, "UPDATE record SET log_index = 9 WHERE log_index = 8")
        _set(c, "UPDATE record SET log_index = 8 WHERE log_index = -1")

    return undo


CASES: dict[str, tuple[Callable[[sa.Connection], Callable[[sa.Connection], None]], set[str]]] = {
    "flipped byte in a stored ciphertext": (_envelope_byte("ciphertext"), {"envelope"}),
    "flipped byte in a wrapped data key": (_envelope_byte("wrapped key"), {"envelope"}),
    "flipped byte in a leaf entry": (_leaf_entry, {"entry-hash"}),
    "flipped stored subtree hash": (_subtree_hash, {"subtree-hash"}),
    "deleted log row": (_deleted_row, {"log-contiguity"}),
    "inserted log row": (_inserted_row, {"log-head"}),
    "reordered log rows": (_reordered_rows, {"entry-hash"}),
    "reordered and every hash rewritten": (_consistent_rewrite, {"anchored-root"}),
    "record pointed at another leaf": (_record_repointed, {"record-leaf"}),
}


def test_tamper_matrix(env: Env) -> None:
    tax, market = env.client("tax"), env.client("market")
    tax.submit([env.record("tax") for _ in range(6)])
    market.submit([env.record("market") for _ in range(6)])
    env.anchor()
    assert env.runtime.gateway.integrity() == []
    for name, (apply, expected) in CASES.items():
        with _tampered(env, apply):
            findings = env.runtime.gateway.integrity()
            named = {f.check for f in findings}
            assert expected <= named, (name, findings)
            assert findings, name
        assert env.runtime.gateway.integrity() == [], f"undo of {name!r} failed"


def test_a_tampered_leaf_is_never_served_as_proven(env: Env) -> None:
    tax = env.client("tax")
    receipts = tax.submit([env.record("tax") for _ in range(10)])
    env.anchor()
    with _tampered(env, _subtree_hash):
        bad = env.http.get(f"{env.url}/v1/records/{receipts[0]['leaf_hash']}/proof")
        assert bad.status_code == 404
        assert "does not verify" in bad.json()["detail"]
    good = env.http.get(f"{env.url}/v1/records/{receipts[0]['leaf_hash']}/proof")
    assert good.status_code == 200
