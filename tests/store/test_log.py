"""DbLog against the in-memory reference (MemoryTree), on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.domain.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    Node,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from gateway.store import (
    MAX_ENTRIES_PER_READ,
    DbLog,
    DuplicateEntry,
    InvalidRange,
    LogCorrupted,
    NotFound,
    StoreError,
    make_engine,
    session_scope,
    upgrade,
)
from tests.store.conftest import BACKENDS, StatementCounter, new_database

LOG = "records"


def entry(i: int, tag: str = "t") -> bytes:
    return b'{"i":%d,"tag":"%s"}' % (i, tag.encode())


@pytest.fixture
def db(migrated: Engine) -> Engine:
    with session_scope(migrated) as session:
        DbLog(session, LOG).ensure()
    return migrated


def append(engine: Engine, entries: Sequence[bytes], log: str = LOG) -> list[int]:
    with session_scope(engine) as session:
        return DbLog(session, log).append(entries)


@pytest.fixture
def reader(db: Engine) -> Iterator[DbLog]:
    with session_scope(db, read_only=True) as session:
        yield DbLog(session, LOG)


def stored_nodes(engine: Engine, log: str = LOG) -> dict[Node, bytes]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT level, idx, hash FROM log_node WHERE log_name = :n"), {"n": log}
        ).all()
    return {(int(level), int(idx)): bytes(h) for level, idx, h in rows}


def memory_nodes(tree: MemoryTree) -> dict[Node, bytes]:
    return {(level, i): h for level, hashes in enumerate(tree.levels) for i, h in enumerate(hashes)}


# ---------------------------------------------------------------------------------------------
# Against the reference
# ---------------------------------------------------------------------------------------------


def test_random_batches_match_memory_tree(db: Engine) -> None:
    rng = random.Random(9162)
    tree = MemoryTree()
    entries: list[bytes] = []
    with session_scope(db, read_only=True) as session:
        assert DbLog(session, LOG).root() == EMPTY_ROOT
        assert DbLog(session, LOG).checkpoint() == (0, EMPTY_ROOT)
    while len(entries) < 300:
        batch = [
            entry(len(entries) + j)
            for j in range(min(rng.choice([1, 1, 2, 3, 7, 16, 33]), 300 - len(entries)))
        ]
        indices = append(db, batch)
        assert indices == list(range(len(entries), len(entries) + len(batch)))
        entries += batch
        tree.extend(leaf_hash(e) for e in batch)
        with session_scope(db, read_only=True) as session:
            log = DbLog(session, LOG)
            assert log.size() == tree.size
            assert log.root() == tree.root()
            assert log.checkpoint() == (tree.size, tree.root())
    # Exactly every completed perfect subtree is stored, with the reference's hash.
    assert stored_nodes(db) == memory_nodes(tree)

    with session_scope(db, read_only=True) as session:
        log = DbLog(session, LOG)
        roots = [log.root(n) for n in range(301)]
        assert roots == [tree.root(n) for n in range(301)]
        # exhaustively for small trees, then a random index / old size for every size
        cases = [(i, n) for n in range(1, 34) for i in range(n)]
        cases += [(rng.randrange(n), n) for n in range(34, 301)]
        for i, n in cases:
            proof = log.inclusion_proof(i, n)
            assert proof == tree.inclusion_proof(i, n)
            assert verify_inclusion(leaf_hash(entries[i]), i, n, proof, roots[n])
        cases = [(m, n) for n in range(1, 34) for m in range(n + 1)]
        cases += [(rng.randrange(n + 1), n) for n in range(34, 301)]
        for m, n in cases:
            proof = log.consistency_proof(m, n)
            assert proof == tree.consistency_proof(m, n)
            assert verify_consistency(m, n, roots[m], roots[n], proof)
        assert log.entries(0, 300) == entries
        assert [log.entry(i) for i in (0, 1, 150, 299)] == [entries[i] for i in (0, 1, 150, 299)]
        assert [log.index_of(leaf_hash(e)) for e in entries] == list(range(300))
        assert log.index_of(leaf_hash(b"never appended")) is None


def test_append_reads_only_the_right_edge(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """An append reads at most one node per level, in one query, never the whole tree."""
    requested: list[list[Node]] = []
    original = DbLog.get_nodes

    def spy(self: DbLog, nodes: Sequence[Node]) -> dict[Node, bytes]:
        requested.append(list(nodes))
        return original(self, nodes)

    monkeypatch.setattr(DbLog, "get_nodes", spy)
    tree = MemoryTree()
    for size in (1, 2, 3, 5, 6, 7, 8, 127, 128, 255, 1000):
        batch = [entry(tree.size + j) for j in range(size - tree.size)]
        requested.clear()
        with StatementCounter(db) as counter:
            append(db, batch)
        tree.extend(leaf_hash(e) for e in batch)
        assert len(requested) == 1
        edge = requested[0]
        assert len(edge) <= max(1, tree.size.bit_length())
        assert len({level for level, _ in edge}) == len(edge)
        # head lock, right edge, entries, nodes, head update (+ BEGIN on SQLite), any batch size
        assert counter.count <= 6, counter.statements
    assert stored_nodes(db) == memory_nodes(tree)


def test_appends_are_independent_of_batching(migrated: Engine) -> None:
    entries = [entry(i) for i in range(70)]
    for name, cuts in (("one", [70]), ("singles", [1] * 70), ("mixed", [3, 31, 1, 2, 33])):
        with session_scope(migrated) as session:
            DbLog(session, name).ensure()
        pos = 0
        for cut in cuts:
            append(migrated, entries[pos : pos + cut], log=name)
            pos += cut
    reference = memory_nodes(MemoryTree(leaf_hash(e) for e in entries))
    for name in ("one", "singles", "mixed"):
        assert stored_nodes(migrated, name) == reference


def test_logs_are_independent(db: Engine) -> None:
    with session_scope(db) as session:
        DbLog(session, "access").ensure()
        DbLog(session, "access").ensure()  # idempotent
    append(db, [entry(i) for i in range(5)])
    append(db, [entry(i) for i in range(3)], log="access")  # same bytes, other log
    with session_scope(db, read_only=True) as session:
        assert DbLog(session, LOG).size() == 5
        assert DbLog(session, "access").size() == 3
        assert (
            DbLog(session, "access").root()
            == MemoryTree(leaf_hash(entry(i)) for i in range(3)).root()
        )


# ---------------------------------------------------------------------------------------------
# Query counts
# ---------------------------------------------------------------------------------------------


def test_get_nodes_is_one_query(db: Engine) -> None:
    append(db, [entry(i) for i in range(1000)])
    wanted = [(0, 999), (0, 5), (1, 17), (3, 100), (4, 2), (4, 3), (9, 0), (5, 30), (2, 249)]
    tree = MemoryTree(leaf_hash(entry(i)) for i in range(1000))
    with session_scope(db, read_only=True) as session:
        log = DbLog(session, LOG)
        log.size()  # opens the transaction
        with StatementCounter(db) as counter:
            got = log.get_nodes(wanted)
            assert log.get_nodes([]) == {}
        assert counter.count == 1
        assert got == tree.get_nodes(wanted)


@pytest.fixture(scope="module", params=BACKENDS)
def big_log(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, MemoryTree]]:
    """10^5 leaves on each backend, built once for the module."""
    with new_database(request.param, tmp_path_factory.mktemp("big")) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            with session_scope(engine) as session:
                DbLog(session, LOG).ensure()
            entries = [entry(i) for i in range(100_000)]
            for start in range(0, len(entries), 10_000):
                append(engine, entries[start : start + 10_000])
            yield engine, MemoryTree(leaf_hash(e) for e in entries)
        finally:
            engine.dispose()


def test_proofs_at_1e5_leaves_take_at_most_three_queries(
    big_log: tuple[Engine, MemoryTree],
) -> None:
    engine, tree = big_log
    rng = random.Random(5)
    n = tree.size
    with session_scope(engine, read_only=True) as session:
        log = DbLog(session, LOG)
        log.size()  # BEGIN happens here, not inside the counted calls
        sizes = [n, n - 1, 65_536, 65_537, *(rng.randrange(n // 2, n + 1) for _ in range(40))]
        for size in sizes:
            index, old = rng.randrange(size), rng.randrange(1, size)
            with StatementCounter(engine) as counter:
                proof = log.inclusion_proof(index, size)
            assert counter.count <= 3
            assert proof == tree.inclusion_proof(index, size)
            with StatementCounter(engine) as counter:
                proof = log.consistency_proof(old, size)
            assert counter.count <= 3
            assert proof == tree.consistency_proof(old, size)
            with StatementCounter(engine) as counter:
                assert log.root(size) == tree.root(size)
            assert counter.count <= 3


# ---------------------------------------------------------------------------------------------
# Transactions and concurrency
# ---------------------------------------------------------------------------------------------


def test_rollback_leaves_no_trace(db: Engine) -> None:
    append(db, [entry(i) for i in range(10)])
    nodes_before = stored_nodes(db)
    with pytest.raises(RuntimeError), session_scope(db) as session:  # noqa: PT012
        assert DbLog(session, LOG).append([entry(i) for i in range(10, 30)]) == list(range(10, 30))
        assert DbLog(session, LOG).size() == 30  # visible inside the transaction
        raise RuntimeError("abort")
    with session_scope(db, read_only=True) as session:
        log = DbLog(session, LOG)
        assert log.size() == 10
        assert log.index_of(leaf_hash(entry(12))) is None
        with pytest.raises(NotFound):
            log.entries(10, 11)
    assert stored_nodes(db) == nodes_before
    assert append(db, [entry(i, "again") for i in range(20)]) == list(range(10, 30))


def test_concurrent_appends_never_lose_or_duplicate(db_url: str, db: Engine) -> None:
    """Two writers (threads with their own connections) appending at once, each reading the
    head before appending: every index is used exactly once and the final tree is the
    reference tree over the entries in index order."""
    workers, batches, per_batch = 2, 15, 20
    barrier = threading.Barrier(workers)
    results: dict[int, list[tuple[list[int], list[bytes]]]] = {w: [] for w in range(workers)}
    errors: list[BaseException] = []

    def work(w: int) -> None:
        engine = make_engine(db_url)  # its own pool: a separate connection per writer
        try:
            barrier.wait()
            for b in range(batches):
                batch = [entry(b * per_batch + j, f"w{w}") for j in range(per_batch)]
                with session_scope(engine) as session:
                    log = DbLog(session, LOG)
                    log.size()  # read first: the lock-upgrade pattern
                    indices = log.append(batch[: per_batch // 2])
                    indices += log.append(batch[per_batch // 2 :])
                results[w].append((indices, batch))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = workers * batches * per_batch
    by_index: dict[int, bytes] = {}
    for batches_of_worker in results.values():
        for indices, batch in batches_of_worker:
            assert indices == list(range(indices[0], indices[0] + per_batch))  # contiguous
            for i, e in zip(indices, batch, strict=True):
                assert i not in by_index
                by_index[i] = e
    assert sorted(by_index) == list(range(total))
    tree = MemoryTree(leaf_hash(by_index[i]) for i in range(total))
    with session_scope(db, read_only=True) as session:
        log = DbLog(session, LOG)
        assert log.size() == total
        assert log.entries(0, total) == [by_index[i] for i in range(total)]
        assert log.root() == tree.root()
    assert stored_nodes(db) == memory_nodes(tree)


def test_postgresql_appender_blocks_on_the_head_row(db_url: str, db: Engine) -> None:
    """On PostgreSQL a second appender waits for the first one's commit, then continues from
    the size the first one left."""
    if db.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serializes at BEGIN IMMEDIATE, tested elsewhere)")
    other = make_engine(db_url)
    appended = threading.Event()
    second: list[list[int]] = []
    try:
        with session_scope(db) as session:
            assert DbLog(session, LOG).append([entry(0)]) == [0]

            def run() -> None:
                with session_scope(other) as s2:
                    second.append(DbLog(s2, LOG).append([entry(1)]))
                appended.set()

            thread = threading.Thread(target=run)
            thread.start()
            assert not appended.wait(0.5)  # blocked on the head row lock
        thread.join(10)
        assert second == [[1]]
    finally:
        other.dispose()


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_missing_log(migrated: Engine) -> None:
    with session_scope(migrated) as session:
        log = DbLog(session, "nope")
        assert not log.exists()
        for call in (
            log.size,
            log.root,
            lambda: log.append([b"x"]),
            lambda: log.inclusion_proof(0, 1),
        ):
            with pytest.raises(NotFound):
                call()
        log.ensure()
        assert log.exists()
        assert log.size() == 0
        assert log.root() == EMPTY_ROOT
    with pytest.raises(InvalidRange):
        DbLog(Session(migrated), "")


def test_bad_arguments(db: Engine, reader: DbLog) -> None:
    append(db, [entry(i) for i in range(8)])
    for call, exc in (
        (lambda: reader.inclusion_proof(8, 8), InvalidRange),
        (lambda: reader.inclusion_proof(-1, 8), InvalidRange),
        (lambda: reader.inclusion_proof(0, 0), InvalidRange),
        (lambda: reader.inclusion_proof(0, 9), NotFound),
        (lambda: reader.consistency_proof(5, 4), InvalidRange),
        (lambda: reader.consistency_proof(-1, 4), InvalidRange),
        (lambda: reader.consistency_proof(4, 9), NotFound),
        (lambda: reader.root(9), NotFound),
        (lambda: reader.root(-1), InvalidRange),
        (lambda: reader.entries(3, 2), InvalidRange),
        (lambda: reader.entries(0, MAX_ENTRIES_PER_READ + 1), InvalidRange),
        (lambda: reader.entries(5, 9), NotFound),
        (lambda: reader.entry(8), NotFound),
        (lambda: reader.entry(-1), InvalidRange),
    ):
        with pytest.raises(exc):
            call()
        assert issubclass(exc, StoreError)
    assert reader.entries(3, 3) == []
    assert reader.consistency_proof(0, 8) == []
    assert reader.consistency_proof(8, 8) == []


def test_duplicate_entries(db: Engine) -> None:
    with pytest.raises(DuplicateEntry):
        append(db, [entry(1), entry(2), entry(1)])
    append(db, [entry(1), entry(2)])
    with pytest.raises(DuplicateEntry):
        append(db, [entry(3), entry(2)])
    with session_scope(db, read_only=True) as session:
        assert DbLog(session, LOG).size() == 2
    assert append(db, [entry(3)]) == [2]


def test_missing_node_is_corruption(db: Engine) -> None:
    append(db, [entry(i) for i in range(13)])
    with db.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM log_node WHERE log_name = :n AND level = 2 AND idx = 1"),
            {"n": LOG},
        )
    with session_scope(db, read_only=True) as session:
        log = DbLog(session, LOG)
        with pytest.raises(LogCorrupted, match=r"\(2, 1\)"):
            log.inclusion_proof(0, 13)  # path needs leaves [4, 8)
        with pytest.raises(LogCorrupted):
            log.consistency_proof(3, 13)
        # what does not need the node still works (no root needs (2, 1): (3, 0) covers it)
        tree = MemoryTree(leaf_hash(entry(i)) for i in range(13))
        assert log.inclusion_proof(9, 13) == tree.inclusion_proof(9, 13)
        assert [log.root(n) for n in range(14)] == [tree.root(n) for n in range(14)]
    # appending past a missing right-edge node is refused too
    with db.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM log_node WHERE log_name = :n AND level = 0 AND idx = 12"),
            {"n": LOG},
        )
    with pytest.raises(LogCorrupted):
        append(db, [entry(13)])


def test_tampered_entry_is_corruption(db: Engine) -> None:
    append(db, [entry(i) for i in range(4)])
    with db.begin() as conn:
        conn.execute(
            sa.text("UPDATE log_entry SET entry = :e WHERE log_name = :n AND idx = 2"),
            {"e": b'{"i":2,"tag":"forged"}', "n": LOG},
        )
    with session_scope(db, read_only=True) as session:
        log = DbLog(session, LOG)
        assert log.entry(1) == entry(1)
        with pytest.raises(LogCorrupted, match="entry 2"):
            log.entry(2)
        with pytest.raises(LogCorrupted):
            log.entries(0, 4)
    with db.begin() as conn:
        conn.execute(sa.text("DELETE FROM log_entry WHERE log_name = :n AND idx = 1"), {"n": LOG})
    with session_scope(db, read_only=True) as session, pytest.raises(LogCorrupted):
        DbLog(session, LOG).entries(0, 2)
