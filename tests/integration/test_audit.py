"""`audit verify`: an insider deleting, editing or reordering access-log rows, or the gateway
withholding its newest entries, makes the auditor's check fail and name the place."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from gateway._audit import chain_checkpoints, verify_log
from tests.integration.conftest import Env
from tests.integration.test_access_index import log_signer
from tests.integration.test_reads import read


def _populate(env: Env) -> None:
    rec = env.record("tax")
    env.client("tax").submit([rec])
    for _ in range(6):
        read(
            env,
            "bank",
            subject=rec["subject"],
            purpose="loan_approval",
            categories=["tax_credit_rating"],
            grant_id=None,
        )
    env.anchor()
    for _ in range(3):  # a second checkpoint
        read(
            env,
            "court",
            subject=rec["subject"],
            purpose="public_procurement",
            categories=["admin_penalty"],
            grant_id=None,
        )
    env.anchor()


def _audit(env: Env) -> list[str]:
    cps = chain_checkpoints(
        env.runtime.deployment.checkpoint_log(env.chain), env.runtime.gateway.log_ids["access"]
    )
    report = verify_log(env.http, env.url, "access", cps, sign=log_signer(env), page=4)
    assert report.checkpoints == 2
    return [str(f) for f in report.findings]


def _sql(env: Env, *statements: str) -> None:
    with env.runtime.engine.begin() as conn:
        for st in statements:
            conn.execute(sa.text(st))


def test_audit_verify_passes_and_names_every_tampering(env: Env) -> None:
    _populate(env)
    assert _audit(env) == []
    with env.runtime.engine.connect() as conn:
        rows = {
            int(i): (bytes(e), bytes(h))
            for i, e, h in conn.execute(
                sa.text("SELECT idx, entry, leaf_hash FROM log_entry WHERE log_name = 'access'")
            )
        }

    with env.runtime.engine.connect() as conn:
        nodes = [
            (int(lv), int(i), bytes(h))
            for lv, i, h in conn.execute(
                sa.text("SELECT level, idx, hash FROM log_node WHERE log_name = 'access'")
            )
        ]

    def restore() -> None:
        with env.runtime.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM log_node WHERE log_name = 'access'"))
            for lv, i, h in nodes:
                conn.execute(
                    sa.text(
                        "INSERT INTO log_node (log_name, level, idx, hash) "
                        "VALUES ('access', :l, :i, :h)"
                    ),
                    {"l": lv, "i": i, "h": h},
                )
            conn.execute(sa.text("DELETE FROM log_entry WHERE log_name = 'access'"))
            for i, (e, h) in rows.items():
                conn.execute(
                    sa.text(
                        "INSERT INTO log_entry (log_name, idx, entry, leaf_hash) "
                        "VALUES ('access', :i, :e, :h)"
                    ),
                    {"i": i, "e": e, "h": h},
                )
            conn.execute(
                sa.text("UPDATE log_head SET size = :n WHERE log_name = 'access'"), {"n": len(rows)}
            )

    def edit(conn: sa.Connection) -> None:
        e, _ = rows[3]
        forged = e.replace(b'"decision":"deny"', b'"decision":"allow"')
        assert forged != e
        conn.execute(
            sa.text(
                "UPDATE log_entry SET entry = :e, leaf_hash = :h "
                "WHERE log_name = 'access' AND idx = 3"
            ),
            {"e": forged, "h": __import__("hashlib").sha256(b"\x00" + forged).digest()},
        )

    def reorder(conn: sa.Connection) -> None:
        (e2, h2), (e4, h4) = rows[2], rows[4]
        for idx, e, h in ((2, e4, b"\x00" * 32), (4, e2, h2), (2, e4, h4)):
            conn.execute(
                sa.text(
                    "UPDATE log_entry SET entry = :e, leaf_hash = :h "
                    "WHERE log_name = 'access' AND idx = :i"
                ),
                {"e": e, "h": h, "i": idx},
            )

    def rewrite(conn: sa.Connection) -> None:
        """The thorough insider: edits entry 3 and rewrites every stored hash to match."""
        entries = [rows[i][0] for i in sorted(rows)]
        entries[3] = entries[3].replace(b'"decision":"deny"', b'"decision":"allow"')
        _store_rewritten(conn, entries)

    def split(conn: sa.Connection) -> None:
        """An entry rewritten with a raw newline, hashes rewritten (it would read as two
        lines of the line-per-entry transfer)."""
        entries = [rows[i][0] for i in sorted(rows)]
        entries[1] = entries[1].replace(b'","', b'",\n"', 1)
        assert b"\n" in entries[1]
        _store_rewritten(conn, entries)

    def delete(conn: sa.Connection) -> None:
        conn.execute(sa.text("DELETE FROM log_entry WHERE log_name = 'access' AND idx = 5"))

    def withhold(conn: sa.Connection) -> None:  # hide the newest entries (and their rows)
        conn.execute(sa.text("DELETE FROM log_entry WHERE log_name = 'access' AND idx >= 7"))
        conn.execute(sa.text("UPDATE log_head SET size = 7 WHERE log_name = 'access'"))

    cases: dict[str, tuple[Callable[[sa.Connection], None], str]] = {
        # an honest gateway notices a row that no longer matches its stored hashes
        "edited row": (edit, "unavailable: access log[0:4]: "),
        "reordered rows": (reorder, "unavailable: access log[0:4]: "),
        "deleted row": (delete, "unavailable: access log[4:8]: "),
        # a thorough insider rewrites the hashes too: only the chain can tell
        "edited row, every hash rewritten": (rewrite, "mismatch: access log@6: "),
        "entry with a raw newline, hashes recomputed": (
            split,
            "unavailable: access log[0:4]: asked for 4 entries, got 5",
        ),
        "withheld newest entries": (
            withhold,
            "withheld: access log: the gateway serves 7 entries but the chain anchors 9",
        ),
    }
    for name, (tamper, expected) in cases.items():
        with env.runtime.engine.begin() as conn:
            tamper(conn)
        try:
            findings = _audit(env)
        finally:
            restore()
        assert findings, name
        assert findings[0].startswith(expected), (name, findings)
        if name == "edited row":
            assert "entry 3 does not match its stored leaf hash" in findings[0]
        if name == "reordered rows":
            assert "entry 2" in findings[0]
        if name.endswith("rewritten"):
            assert "entries [0, 6) differ from what was anchored" in findings[0]
        assert _audit(env) == [], f"restoring after {name!r} failed"


def _store_rewritten(conn: sa.Connection, entries: list[bytes]) -> None:
    """The thorough insider's tool: replace the access log's entries with ``entries`` and
    rewrite every stored leaf and subtree hash to match them."""
    from gateway.domain.merkle import leaf_hash, node_hash

    conn.execute(sa.text("DELETE FROM log_entry WHERE log_name = 'access'"))
    conn.execute(sa.text("DELETE FROM log_node WHERE log_name = 'access'"))
    level = [leaf_hash(e) for e in entries]
    for i, e in enumerate(entries):
        conn.execute(
            sa.text(
                "INSERT INTO log_entry (log_name, idx, entry, leaf_hash) "
                "VALUES ('access', :i, :e, :h)"
            ),
            {"i": i, "e": e, "h": level[i]},
        )
    lvl = 0
    while level:
        for i, h in enumerate(level):
            conn.execute(
                sa.text(
                    "INSERT INTO log_node (log_name, level, idx, hash) "
                    "VALUES ('access', :l, :i, :h)"
                ),
                {"l": lvl, "i": i, "h": h},
            )
        level = [node_hash(level[2 * i], level[2 * i + 1]) for i in range(len(level) // 2)]
        lvl += 1
