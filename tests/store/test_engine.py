"""make_engine: SQLite PRAGMAs and BEGIN IMMEDIATE, PostgreSQL isolation; session_scope."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from gateway.store import (
    Kek,
    make_engine,
    read_only,
    session_scope,
)
from tests.store.conftest import StatementCounter


def test_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        # three distinct pooled DBAPI connections open at once (read-only: no write lock)
        conns = [read_only(engine).connect() for _ in range(3)]
        for conn in conns:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in (
                    "journal_mode",
                    "synchronous",
                    "foreign_keys",
                    "busy_timeout",
                    "secure_delete",
                    "cache_size",
                    "wal_autocheckpoint",
                )
            }
            assert pragmas == {
                "journal_mode": "wal",
                "synchronous": 2,
                "foreign_keys": 1,
                "busy_timeout": 30000,
                "secure_delete": 1,
                "cache_size": -65536,
                "wal_autocheckpoint": 10000,
            }
        for conn in conns:
            conn.close()
    finally:
        engine.dispose()


def test_sqlite_erased_bytes_do_not_stay_in_the_file(tmp_path: Path) -> None:
    """secure_delete: a value overwritten with NULL (an erased envelope) leaves no copy in the
    database file once the WAL is checkpointed. Without it, the freed bytes stay (the control)."""

    def leftover(engine: Engine, path: Path) -> tuple[bool, bool]:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id TEXT PRIMARY KEY, blob BLOB, status TEXT)")
            for i in range(40):
                conn.exec_driver_sql(
                    "INSERT INTO t VALUES (?, ?, 'active')",
                    (f"r{i}", b"SECRET%03d" % i + bytes(range(256))),
                )
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE t SET blob = NULL, status = 'erased' WHERE id = 'r7'")
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        data = path.read_bytes()
        wal = Path(f"{path}-wal")
        if wal.exists():
            data += wal.read_bytes()
        return b"SECRET007" in data, b"SECRET008" in data

    path = tmp_path / "g.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert leftover(engine, path) == (False, True)
    finally:
        engine.dispose()
    control = tmp_path / "control.db"
    plain = make_engine(f"sqlite:///{control}")
    sa.event.listen(plain, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA secure_delete=OFF"))
    try:
        assert leftover(plain, control) == (True, True)
    finally:
        plain.dispose()


def test_sqlite_transactions_begin_immediate_and_read_only_deferred(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        with StatementCounter(engine) as counter, engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert counter.statements[0] == "BEGIN IMMEDIATE"
        with StatementCounter(engine) as counter, read_only(engine).begin() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert counter.statements[0] == "BEGIN"
    finally:
        engine.dispose()


def test_sqlite_writer_takes_the_lock_at_begin(tmp_path: Path) -> None:
    """A second writer waits at BEGIN (and times out there), before reading anything; a reader
    does not wait at all."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    engine = make_engine(url)
    impatient = make_engine(url)
    sa.event.listen(
        impatient, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA busy_timeout=200")
    )
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        with engine.begin() as holder:  # holds the write lock without having written
            t0 = time.monotonic()
            with pytest.raises(OperationalError, match="locked"), impatient.begin() as conn:
                conn.exec_driver_sql("SELECT 1")
            assert time.monotonic() - t0 >= 0.15
            with read_only(impatient).begin() as reader:
                assert reader.exec_driver_sql("SELECT x FROM t").scalar() == 1
            holder.exec_driver_sql("UPDATE t SET x = 2")
    finally:
        engine.dispose()
        impatient.dispose()


def test_sqlite_read_modify_write_transactions_serialize(tmp_path: Path) -> None:
    """The pattern that fails with deferred BEGIN (read, then write while another writer
    committed meanwhile: SQLITE_BUSY_SNAPSHOT) never loses an increment here."""
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO counter VALUES (0)")
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(25):
                with engine.begin() as conn:
                    n = conn.exec_driver_sql("SELECT n FROM counter").scalar_one()
                    time.sleep(0.0005)
                    conn.exec_driver_sql("UPDATE counter SET n = ?", (n + 1,))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT n FROM counter").scalar() == 100
    finally:
        engine.dispose()


def test_postgresql_settings(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "read committed"
    assert engine.pool._pre_ping  # type: ignore[attr-defined]


def test_unsupported_backend() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("mysql://u:p@localhost/db")


def test_session_scope_commits_and_rolls_back(migrated: Engine) -> None:
    with session_scope(migrated) as session:
        session.add(Kek(kek_id="k1", created_at=1))

    def fail() -> None:
        with session_scope(migrated) as session:
            session.add(Kek(kek_id="k2", created_at=2))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    with session_scope(migrated, read_only=True) as session:
        kept = (
            session.connection()
            .execute(sa.select(sa.column("kek_id")).select_from(sa.table("kek")))
            .scalars()
            .all()
        )
    assert kept == ["k1"]


def test_sqlite_writers_queue_in_the_kernel_not_in_the_busy_handler(tmp_path: Path) -> None:
    """A writer in another thread waits in the writer queue (flock) for as long as the lock is
    held — here far longer than its busy_timeout — and goes on as soon as it is released."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    engine = make_engine(url)
    impatient = make_engine(url)
    sa.event.listen(
        impatient, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA busy_timeout=50")
    )
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    (tmp_path / "g.db-writers").stat()  # the queue file sits next to the database
    done: list[float] = []
    errors: list[BaseException] = []
    held = threading.Event()

    def second() -> None:
        held.wait()
        try:
            with impatient.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            done.append(time.monotonic())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    try:
        with engine.begin() as holder:
            holder.exec_driver_sql("INSERT INTO t VALUES (1)")
            held.set()
            time.sleep(0.4)  # eight times the other writer's busy_timeout
            assert done == []
            released = time.monotonic()
        thread.join(10)
        assert errors == []
        assert len(done) == 1
        assert done[0] - released < 1.0  # woken when the lock is released
        with read_only(engine).connect() as conn:
            assert [r[0] for r in conn.exec_driver_sql("SELECT x FROM t ORDER BY x")] == [1, 2]
    finally:
        engine.dispose()
        impatient.dispose()


def test_checkpoint_wal_copies_committed_frames_into_the_database_file(tmp_path: Path) -> None:
    from gateway.store import checkpoint_wal

    path = tmp_path / "g.db"
    engine = make_engine(f"sqlite:///{path}")
    marker = b"creditchain-wal-marker-" + b"x" * 40
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (v BLOB)")
        checkpoint_wal(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (?)", (marker,))
        assert marker not in path.read_bytes()  # committed, but only in the WAL so far
        checkpoint_wal(engine)
        assert marker in path.read_bytes()
    finally:
        engine.dispose()
