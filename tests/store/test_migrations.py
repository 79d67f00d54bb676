"""The packaged Alembic migrations produce exactly the models' schema, on both databases."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import gateway.store
from gateway.store import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)

STORE_TABLES = {
    "log_head",
    "log_node",
    "log_entry",
    "record",
    "submission",
    "anchor",
    "kek",
    "access_decision",
    "objection",
    "repair",
    "status_change",
    "free_text",
}


def schema_diff(engine: Engine, metadata: sa.MetaData) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def test_packaged_migration_files() -> None:
    assert MIGRATIONS_DIR.is_relative_to(Path(gateway.store.__file__).parent)
    for name in ("env.py", "script.py.mako", "versions/0001_initial.py"):
        assert (MIGRATIONS_DIR / name).is_file(), name
    assert head_revision() == "0004"


def test_upgrade_from_empty_matches_models(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini anywhere near: the config is in code
    assert current_revision(engine) is None
    assert set(sa.inspect(engine).get_table_names()) == set()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(sa.inspect(engine).get_table_names()) == STORE_TABLES | {"alembic_version"}
    assert set(SQLModel.metadata.tables) >= STORE_TABLES
    assert schema_diff(engine, SQLModel.metadata) == []


def test_schema_comparison_detects_drift(migrated: Engine) -> None:
    """The comparison above can fail: a dropped index, a changed type, a new column."""
    drifted = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(drifted)
    record = drifted.tables["record"]
    record.indexes = {ix for ix in record.indexes if ix.name != "ix_record_subject_commitment"}
    drifted.tables["kek"].append_column(sa.Column("material", sa.LargeBinary(), nullable=True))
    node = drifted.tables["log_node"]
    node.c.hash.type = sa.String()
    kinds = {d[0][0] if isinstance(d, list) else d[0] for d in schema_diff(migrated, drifted)}
    assert {"remove_index", "add_column", "modify_type"} <= kinds


def test_upgrade_is_idempotent_and_downgrade_reverses(migrated: Engine) -> None:
    upgrade(migrated)
    assert current_revision(migrated) == head_revision()
    with migrated.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(sa.inspect(migrated).get_table_names()) == {"alembic_version"}
    assert current_revision(migrated) is None
    upgrade(migrated)
    assert schema_diff(migrated, SQLModel.metadata) == []


_UPGRADE_AT = """
import sys, time
from gateway.store import make_engine, upgrade
engine = make_engine(sys.argv[1])
engine.connect().close()
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
upgrade(engine)
"""


def test_concurrent_upgrades_from_several_processes(db_url: str, engine: Engine) -> None:
    """Several gateway workers starting at once: one migrates, the others wait for it and find
    the schema up to date (advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite)."""
    start_at = time.time() + 4  # after every process has imported and connected
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADE_AT, db_url, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine, SQLModel.metadata) == []


def test_sqlite_log_tables_without_rowid(migrated: Engine) -> None:
    if migrated.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with migrated.connect() as conn:
        sql = dict(
            conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all()
        )
    assert sql["log_node"].rstrip().endswith("WITHOUT ROWID")
    assert sql["log_entry"].rstrip().endswith("WITHOUT ROWID")
