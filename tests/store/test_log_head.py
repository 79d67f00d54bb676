"""An altered ``log_head.size`` (issue 9, insider tamper): an append refuses it loudly instead of
overwriting stored entries (head lowered) or leaving a gap (head raised); nothing is written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store import DbLog, LogCorrupted, session_scope
from tests.store.test_log import LOG, append, db, entry, stored_nodes

__all__ = ["db"]


def _set_head(engine: Engine, size: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE log_head SET size = :s WHERE log_name = :n"), {"s": size, "n": LOG}
        )


def _entry_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM log_entry WHERE log_name = :n"), {"n": LOG}
            ).scalar_one()
        )


@pytest.mark.parametrize("head", [0, 3, 7, 9, 12, 16])
def test_an_append_refuses_a_head_that_disagrees_with_the_entries(db: Engine, head: int) -> None:
    append(db, [entry(i) for i in range(8)])
    nodes = stored_nodes(db)
    _set_head(db, head)
    with pytest.raises(LogCorrupted, match="head"):
        append(db, [entry(100), entry(101)])
    assert _entry_count(db) == 8
    assert stored_nodes(db) == nodes
    _set_head(db, 8)  # undone: appends go on where they belong
    assert append(db, [entry(100), entry(101)]) == [8, 9]


def test_an_empty_log_with_a_raised_head_refuses_too(db: Engine) -> None:
    _set_head(db, 1)
    with pytest.raises(LogCorrupted):
        append(db, [entry(0)])
    with session_scope(db, read_only=True) as s:
        assert DbLog(s, LOG).size() == 1  # the refused append moved nothing
