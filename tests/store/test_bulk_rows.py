"""The bulk-row helpers of batch-native ingest (gateway/store/_log.py): one driver-level
statement per batch, on SQLite and PostgreSQL, inside the caller's transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.store import Record
from gateway.store import Submission as SubmissionRow
from gateway.store._log import insert_rows, present_keys

RECORD: sa.Table = Record.__table__  # type: ignore[attr-defined]
SUBMISSION: sa.Table = SubmissionRow.__table__  # type: ignore[attr-defined]


def _dicts(n: int, submission_id: int, first: int = 0) -> list[dict[str, object]]:
    return [
        {
            "record_id": f"{first + i:064x}",
            "log_index": first + i,
            "org_id": "0x" + "11" * 32,
            "category": "admin_penalty",
            "subject_commitment": "22" * 32,
            "commitment": f"{first + i:064x}",
            "dedup_key": (first + i).to_bytes(32, "big"),
            "envelope": b"\x01sealed",
            "kek_id": "kek-1",
            "status": "active",
            "received_at": 1_795_660_000,
            "receipt": "{}",
            "submission_id": submission_id,
            "retain_until": 2**62,
            "successor": None,
            "status_version": 0,
            "legal_hold": False,
            "erased_at": None,
        }
        for i in range(n)
    ]


def _rows(n: int, submission_id: int, first: int = 0) -> list[tuple[object, ...]]:
    return [tuple(d.values()) for d in _dicts(n, submission_id, first)]


COLUMNS = list(_dicts(1, 0)[0])


def _submission(conn: sa.Connection) -> int:
    conn.execute(
        sa.insert(SUBMISSION).values(
            org_id="0x" + "11" * 32, nonce="0x" + "33" * 32, request_digest=b"d", received_at=1
        )
    )
    return int(conn.execute(sa.select(sa.func.max(SUBMISSION.c.id))).scalar_one())


def test_rows_inserted_in_bulk_read_back_as_the_orm_writes_them(migrated: Engine) -> None:
    with migrated.begin() as conn:
        sid = _submission(conn)
        insert_rows(conn, RECORD, COLUMNS, _rows(300, sid))
    with migrated.connect() as conn:
        got = conn.execute(sa.select(RECORD).order_by(RECORD.c.log_index)).mappings().all()
    assert len(got) == 300
    assert dict(got[7]) == _dicts(300, sid)[7]
    assert got[0]["legal_hold"] is False


def test_present_keys_finds_exactly_the_stored_ones(migrated: Engine) -> None:
    with migrated.begin() as conn:
        sid = _submission(conn)
        insert_rows(conn, RECORD, COLUMNS, _rows(50, sid))
    wanted = [i.to_bytes(32, "big") for i in range(40, 1040)]  # 10 stored, 990 not
    with migrated.connect() as conn:
        assert present_keys(conn, RECORD, "dedup_key", wanted) == set(wanted[:10])
        assert present_keys(conn, RECORD, "dedup_key", []) == set()


def test_a_refused_row_rolls_the_whole_batch_back(migrated: Engine) -> None:
    with migrated.begin() as conn:
        sid = _submission(conn)
        insert_rows(conn, RECORD, COLUMNS, _rows(5, sid))
    rows = _rows(5, sid, first=5) + _rows(1, sid, first=2)  # the last one's keys are taken
    with pytest.raises(IntegrityError), migrated.begin() as conn:
        insert_rows(conn, RECORD, COLUMNS, rows)
    with migrated.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(RECORD)).scalar_one() == 5


def test_unknown_columns_are_refused_before_any_sql(migrated: Engine) -> None:
    with migrated.begin() as conn:
        with pytest.raises(ValueError, match="no such column"):
            insert_rows(conn, RECORD, ["record_id", "nope; DROP TABLE record"], [("x", 1)])
        with pytest.raises(ValueError, match="no column"):
            present_keys(conn, RECORD, "nope", [b"x"])
