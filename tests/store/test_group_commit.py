"""Group commit of access-log entries (gateway/_group_commit.py), on SQLite and PostgreSQL.

Concurrent callers share transactions; each returns only once its own entry is committed; a
replayed nonce is refused to its caller alone; a failed transaction is reported to every
caller in it and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway._group_commit import GroupCommitter, PendingAccess
from gateway.domain.merkle import MemoryTree, leaf_hash
from gateway.store import DbLog, session_scope


def pending(i: int, *, nonce: str | None = None, requester: str = "0xaa") -> PendingAccess:
    return PendingAccess(
        org_id=requester,
        nonce=nonce or f"0x{i:064x}",
        request_digest=hashlib.sha256(b"%d" % i).digest(),
        received_at=1_800_000_000 + i,
        entry=b'{"entry":%d}' % i,
        decisions=[
            {
                "requester": requester,
                "subject_commitment": "ab" * 32,
                "record_id": None,
                "purpose": "loan_approval",
                "decision": "allow",
                "reason": "no-records",
                "basis": None,
                "grant_id": None,
                "decided_at": 1_800_000_000 + i,
            }
        ],
    )


def rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_concurrent_callers_share_transactions_and_all_land(migrated: Engine) -> None:
    committer = GroupCommitter(migrated)
    n = 200
    barrier = threading.Barrier(20)

    def one(i: int) -> int:
        if i < 20:
            barrier.wait()  # a burst: the first twenty arrive together
        item = committer.commit(pending(i))
        assert item.index is not None
        assert not item.replayed
        # durable when commit() returns: a fresh connection sees it
        with session_scope(migrated, read_only=True) as s:
            assert DbLog(s, "access").size() > item.index
        return item.index

    with ThreadPoolExecutor(20) as pool:
        indices = list(pool.map(one, range(n)))
    assert sorted(indices) == list(range(n))
    assert committer.batches < n  # some transactions held several entries
    assert rows(migrated, "access_decision") == n
    assert rows(migrated, "submission") == n
    # the stored tree is the tree of the entries in index order
    with session_scope(migrated, read_only=True) as s:
        log = DbLog(s, "access")
        entries = log.entries(0, n)
        tree = MemoryTree(leaf_hash(e) for e in entries)
        assert sorted(entries) == sorted(pending(i).entry for i in range(n))
        assert log.root(n) == tree.root()
    with migrated.connect() as conn:
        linked = conn.execute(
            sa.text("SELECT count(DISTINCT log_index) FROM access_decision")
        ).scalar_one()
    assert linked == n


def test_a_replayed_nonce_is_refused_alone(migrated: Engine) -> None:
    committer = GroupCommitter(migrated)
    first = committer.commit(pending(1, nonce="0x01"))
    assert first.index == 0
    again = committer.commit(pending(2, nonce="0x01"))
    assert again.replayed
    assert again.index is None
    other_org = committer.commit(pending(3, nonce="0x01", requester="0xbb"))
    assert other_org.index == 1  # nonces are per organisation
    # a replay inside one shared transaction: only the second use is refused
    batch = [pending(4, nonce="0x04"), pending(5, nonce="0x04"), pending(6, nonce="0x06")]
    committer._write(batch)
    assert [b.replayed for b in batch] == [False, True, False]
    assert [b.index for b in batch] == [2, None, 3]
    assert rows(migrated, "access_decision") == 4


def test_a_failed_transaction_is_reported_to_every_caller_and_leaves_nothing(
    migrated: Engine,
) -> None:
    committer = GroupCommitter(migrated)
    committer.commit(pending(0))
    bad = pending(2)
    bad.decisions = [{**bad.decisions[0], "decision": None}]  # NOT NULL column
    batch = [pending(1), bad]
    committer._write(batch)
    assert all(b.index is None and b.error is not None for b in batch)
    assert rows(migrated, "access_decision") == 1
    assert rows(migrated, "submission") == 1
    with session_scope(migrated, read_only=True) as s:
        assert DbLog(s, "access").size() == 1
    # and through commit(): the error is raised to the caller
    with pytest.raises(sa.exc.IntegrityError):
        committer.commit(bad)
    # the next caller is not affected
    assert committer.commit(pending(3)).index == 1


def test_the_raw_sqlite_statements_name_every_column_of_their_tables() -> None:
    """The SQLite fast path writes plain SQL: it must match the tables (migrations) exactly."""
    from gateway import _group_commit as g

    columns = {c.name for c in g._DECISIONS.columns} - {"id"}
    assert set(g._DECISION_COLUMNS) == columns
    assert g._INSERT_DECISIONS_SQLITE.count("?") == len(columns)
    for name in g._DECISION_COLUMNS:
        assert name in g._INSERT_DECISIONS_SQLITE
    nonce_columns = {c.name for c in g._NONCES.columns} - {"id"}
    assert all(name in g._CLAIM_SQLITE_RAW for name in nonce_columns)


@pytest.mark.parametrize("delta", [-1, 1])
def test_an_altered_head_is_refused_to_every_caller(migrated: Engine, delta: int) -> None:
    """The group commit's append (on SQLite, driven on the driver's cursor) checks the head
    against the stored entries like DbLog.append: a lowered or raised ``log_head.size`` is
    refused and the transaction leaves nothing."""
    from gateway.store import LogCorrupted

    committer = GroupCommitter(migrated)
    for i in range(3):
        committer.commit(pending(i))
    with migrated.begin() as conn:
        conn.execute(
            sa.text("UPDATE log_head SET size = size + :d WHERE log_name = 'access'"), {"d": delta}
        )
    batch = [pending(10), pending(11)]
    committer._write(batch)
    assert all(isinstance(b.error, LogCorrupted) and b.index is None for b in batch)
    assert rows(migrated, "access_decision") == 3
    assert rows(migrated, "submission") == 3
    assert rows(migrated, "log_entry") == 3


def test_each_batch_is_one_transaction_in_the_tree(migrated: Engine) -> None:
    """Batches of every size after the first land where DbLog.append would put them."""
    committer = GroupCommitter(migrated)
    items = [pending(i) for i in range(40)]
    cut = [1, 2, 5, 1, 13, 18]
    pos = 0
    for n in cut:
        committer._write(items[pos : pos + n])
        pos += n
    assert [it.index for it in items] == list(range(40))
    with session_scope(migrated, read_only=True) as s:
        log = DbLog(s, "access")
        tree = MemoryTree(leaf_hash(it.entry) for it in items)
        assert log.checkpoint() == (40, tree.root())


def test_an_entry_without_decision_rows_adds_none(migrated: Engine) -> None:
    """A cross-city forward's entry carries no decision rows: it lands in the log, and no
    row of NULLs lands in ``access_decision`` (on PostgreSQL an insert of an empty parameter
    list did exactly that, and the forward answered 500)."""
    committer = GroupCommitter(migrated)
    first = committer.commit(pending(1))
    bare = pending(2)
    bare.decisions = []
    assert committer.commit(bare).index == 1
    batch = [pending(3), pending(4)]
    batch[1].decisions = []
    committer._write(batch)
    assert [b.index for b in batch] == [2, 3]
    assert first.index == 0
    assert rows(migrated, "access_decision") == 2
    with migrated.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM access_decision WHERE log_index IS NULL")
            ).scalar_one()
            == 0
        )
