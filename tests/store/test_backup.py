"""`creditchain backup` / `restore` (gateway/_backup.py): a database populated by a real
gateway (embedded chain, SQLite and PostgreSQL), backed up, restored into a new database and
compared row for row; erased records never reach a backup, and a restore re-applies erasures
recorded since the backup; refusals are one clear error."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from gateway import _backup
from gateway._backup import BackupError, backup, read_manifest, record_ids, restore
from gateway.cli import app
from gateway.domain.envelope import Envelope, open_
from gateway.store import DbLog, current_revision, head_revision, make_engine, upgrade
from node import Checkpoint, StatusCode, StatusTransition, reason_code
from tests.integration import conftest as integration
from tests.integration.conftest import Env, chain_clock
from tests.integration.test_reads import read
from tests.store.conftest import new_database

SKIP_TABLES = {"alembic_version"}


@pytest.fixture
def gw(db_url: str, tmp_path: Path) -> Iterator[Env]:
    """A running gateway (tests/integration/conftest.py) on each database backend."""
    yield from integration._running(db_url, tmp_path)


@pytest.fixture
def sqlite_gw(tmp_path: Path) -> Iterator[Env]:
    """A running gateway on SQLite only."""
    yield from integration._running(f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def populate(env: Env) -> list[str]:
    """Records of three departments (one batch), an anchor, reads allowed and denied (the
    access log and its index), more records after the anchor. Returns the record ids."""
    ids: list[str] = []
    for receipt in env.client("tax").submit([env.record("tax") for _ in range(3)]):
        ids.append(receipt["leaf_hash"])
    penalty = env.record("market")
    (receipt,) = env.client("market").submit([penalty])
    ids.append(receipt["leaf_hash"])
    (receipt,) = env.client("water").submit([env.record("water")])
    ids.append(receipt["leaf_hash"])
    env.anchor()
    for purpose, want in (("loan_approval", 200), ("employment_screening", 403)):
        status, _answer = read(
            env,
            "bank",
            subject=penalty["subject"],
            purpose=purpose,
            categories=["admin_penalty"],
            grant_id=None,
        )
        assert status == want
    (receipt,) = env.client("court").submit([env.record("court")])
    ids.append(receipt["leaf_hash"])
    env.anchor()
    return ids


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order, bytes normalised."""
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            if name in SKIP_TABLES:
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            cols = sorted(table.columns, key=lambda c: c.name)
            rows = conn.execute(sa.select(*cols).order_by(*order)).all()
            out[name] = [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows
            ]
    return out


def checkpoints(env: Env) -> dict[str, list[Checkpoint]]:
    client = env.runtime.deployment.checkpoint_log(env.chain)
    return {n: client.checkpoints(lid) for n, lid in env.runtime.gateway.log_ids.items()}


def record_row(engine: Engine, rid: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM record WHERE record_id = :r"), {"r": rid}).one()
    return dict(row._mapping)


def erase_in_db(engine: Engine, rid: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE record SET envelope = NULL, status = 'erased' WHERE record_id = :r"),
            {"r": rid},
        )


def secrets_of(env: Env, rid: str) -> dict[str, bytes]:
    """What must never be found once ``rid`` is erased: its envelope's parts (ciphertext,
    wrapped data key, both as stored) and distinctive pieces of its plaintext."""
    row = record_row(env.runtime.engine, rid)
    blob = bytes(row["envelope"])
    envelope = Envelope.from_bytes(blob)
    plain = open_(
        blob,
        aad_record_id=bytes.fromhex(rid),
        category=row["category"],
        keyring=env.runtime.secrets.keyring,
    )
    opened = json.loads(plain)
    canonical = json.dumps(opened["record"], separators=(",", ":"), ensure_ascii=False)
    assert len(plain) > 100
    found = {
        "envelope": blob,
        "wrapped key": envelope.wrapped_key,
        "ciphertext": envelope.ciphertext,
        "plaintext": plain,
        "plaintext head": plain[:48],
        "plaintext tail": plain[-48:],
        "salt": opened["salt"].encode(),
        "subject id": opened["record"]["subject"]["id"].encode(),
    }
    assert canonical  # parsed: the record is there to be looked for
    return found


def files_of(path: Path) -> bytes:
    """The bytes of a SQLite database and of whichever sidecar files it has."""
    data = b""
    for suffix in ("", "-wal", "-journal", "-shm"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            data += p.read_bytes()
    return data


def leaks(data: bytes, secrets: dict[str, bytes]) -> list[str]:
    return [name for name, value in secrets.items() if value in data]


def fresh_target(env: Env, stack: ExitStack, tmp_path: Path, name: str) -> Engine:
    """A new, empty database on the env's backend."""
    backend = env.runtime.engine.dialect.name
    directory = tmp_path / name
    directory.mkdir()
    url = stack.enter_context(new_database(backend, directory))
    engine = make_engine(url)
    stack.callback(engine.dispose)
    return engine


def sqlite_path(engine: Engine) -> Path | None:
    return Path(str(engine.url.database)) if engine.dialect.name == "sqlite" else None


# ---------------------------------------------------------------------------------------------
# backup and restore, row for row
# ---------------------------------------------------------------------------------------------


def test_backup_then_restore_is_row_for_row(gw: Env, tmp_path: Path) -> None:
    env = gw
    populate(env)
    live = env.runtime.engine
    dest = tmp_path / "backup.db"
    seen: list[tuple[int, int]] = []
    manifest = backup(live, dest, progress=lambda done, total: seen.append((done, total)))

    # the file: one SQLite file in rollback-journal mode, with its manifest
    assert dest.is_file()
    assert not Path(f"{dest}-wal").exists()
    assert not Path(f"{dest}-journal").exists()
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".backup")] == []
    with sqlite3.connect(dest) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0
        (fmt, text) = db.execute("SELECT format, manifest FROM backup_meta").fetchone()
    assert fmt == 1
    assert json.loads(text) == manifest.to_json()
    assert read_manifest(dest) == manifest
    assert manifest.schema_revision == current_revision(live) == head_revision()
    assert manifest.source_dialect == live.dialect.name
    expected = dump(live)
    assert dict(manifest.row_counts) == {t: len(rows) for t, rows in expected.items()}
    assert manifest.row_counts["record"] == 6
    assert manifest.row_counts["access_decision"] >= 2
    assert manifest.erased_records == 0
    with live.connect() as conn:
        for name in ("records", "access"):
            log = DbLog(conn, name)
            assert manifest.logs[name].size == log.size() > 0
            assert manifest.logs[name].root == log.root().hex()
    assert seen
    assert seen[-1] == (manifest.total_rows, manifest.total_rows)

    with ExitStack() as stack:
        target = fresh_target(env, stack, tmp_path, "restored")
        report = restore(
            dest, target, keyring=env.runtime.secrets.keyring, checkpoints=checkpoints(env)
        )
        assert report.findings == ()
        assert report.intact
        assert report.erased_on_restore == ()
        assert report.erased_unknown == ()
        assert report.schema_revision == head_revision() == current_revision(target)
        assert dict(report.row_counts) == dict(manifest.row_counts)
        assert dump(target) == expected
        # surrogate keys continue after the copied ones (PostgreSQL sequences moved on)
        with target.begin() as conn:
            top = conn.execute(sa.text("SELECT max(id) FROM submission")).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO submission (org_id, nonce, request_digest, received_at) "
                    "VALUES ('0xnew', 'n-1', :d, 1)"
                ),
                {"d": b"\x01" * 32},
            )
            new = conn.execute(
                sa.text("SELECT id FROM submission WHERE nonce = 'n-1'")
            ).scalar_one()
        assert new == top + 1


# ---------------------------------------------------------------------------------------------
# erasure
# ---------------------------------------------------------------------------------------------


def test_a_backup_never_holds_an_erased_record(gw: Env, tmp_path: Path) -> None:
    env = gw
    ids = populate(env)
    live = env.runtime.engine
    victim, other = ids[1], ids[2]
    secrets = secrets_of(env, victim)
    kept = secrets_of(env, other)

    before = tmp_path / "before.db"
    backup(live, before)
    # the scan can see what it looks for: before the erasure, the envelope is in the backup
    assert leaks(before.read_bytes(), secrets) == [
        "envelope",
        "wrapped key",
        "ciphertext",
    ]

    erase_in_db(live, victim)
    after = tmp_path / "after.db"
    manifest = backup(live, after)
    assert manifest.erased_records == 1
    data = files_of(after)
    assert leaks(data, secrets) == []
    assert leaks(data, {k: kept[k] for k in ("wrapped key", "ciphertext")}) == [
        "wrapped key",
        "ciphertext",
    ]
    # nor any 16-byte window of the erased ciphertext or wrapped key
    for blob in (secrets["ciphertext"], secrets["wrapped key"]):
        assert not any(blob[i : i + 16] in data for i in range(len(blob) - 15))
    assert record_ids(after) == [i for i in ids if i != victim]
    assert victim in record_ids(after, include_erased=True)

    # the live SQLite database itself (secure_delete, then a checkpoint) keeps no copy either
    path = sqlite_path(live)
    if path is not None:
        raw = live.raw_connection()  # outside any transaction
        try:
            busy, _, _ = raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            raw.close()
        assert busy == 0
        assert leaks(files_of(path), secrets) == []
        assert leaks(files_of(path), {"wrapped key": kept["wrapped key"]}) == ["wrapped key"]

    # restored, the erased record is there without content and still checks out
    with ExitStack() as stack:
        target = fresh_target(env, stack, tmp_path, "restored")
        report = restore(
            after, target, keyring=env.runtime.secrets.keyring, checkpoints=checkpoints(env)
        )
        assert report.findings == ()
        assert report.erased_on_restore == ()
        row = record_row(target, victim)
        assert row["envelope"] is None
        assert row["status"] == "erased"
        assert record_row(target, other)["envelope"] is not None


def test_restore_reapplies_erasures_since_the_backup(
    gw: Env,
    tmp_path: Path,
) -> None:
    env = gw
    ids = populate(env)
    victim = ids[0]
    secrets = secrets_of(env, victim)
    dest = tmp_path / "before.db"
    backup(env.runtime.engine, dest)  # taken before the erasure: it holds the record
    assert "wrapped key" in leaks(dest.read_bytes(), secrets)

    unknown = "ab" * 32
    with ExitStack() as stack:
        target = fresh_target(env, stack, tmp_path, "restored")
        report = restore(
            dest,
            target,
            keyring=env.runtime.secrets.keyring,
            erased=["0x" + victim.upper(), unknown],
            checkpoints=checkpoints(env),
        )
        assert report.erased_on_restore == (victim,)
        assert report.erased_unknown == (unknown,)
        assert report.erased_records == 1
        assert report.findings == ()
        row = record_row(target, victim)
        assert row["envelope"] is None
        assert row["status"] == "erased"
        if "erased_at" in row:
            assert row["erased_at"] is not None
        for rid in ids[1:]:
            assert record_row(target, rid)["envelope"] is not None
        # the content was never written to the restored database
        path = sqlite_path(target)
        if path is not None:
            assert leaks(files_of(path), secrets) == []


# ---------------------------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_backup(migrated: Engine, tmp_path: Path) -> Path:
    """A backup of a migrated database holding a few rows, on each backend."""
    with migrated.begin() as conn:
        log = DbLog(conn, "records")
        log.ensure()
        log.append([b'{"n":1}', b'{"n":2}', b'{"n":3}'])
        conn.execute(
            sa.text("INSERT INTO kek (kek_id, created_at) VALUES ('kek-1', 1), ('kek-2', 2)")
        )
    dest = tmp_path / "small.db"
    manifest = backup(migrated, dest)
    assert manifest.row_counts["kek"] == 2
    assert manifest.logs["records"].size == 3
    return dest


def test_restore_of_a_small_backup_across_backends(
    small_backup: Path, migrated: Engine, tmp_path: Path
) -> None:
    """Whatever the source backend, the backup restores into SQLite (and the same rows)."""
    target = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        report = restore(small_backup, target, keyring={})
        assert report.findings == ()
        assert dump(target) == dump(migrated)
    finally:
        target.dispose()


def test_refusals(small_backup: Path, migrated: Engine, tmp_path: Path) -> None:
    # an existing destination is never overwritten
    before = small_backup.read_bytes()
    with pytest.raises(BackupError, match="exists"):
        backup(migrated, small_backup)
    assert small_backup.read_bytes() == before
    with pytest.raises(BackupError, match="no directory"):
        backup(migrated, tmp_path / "missing" / "b.db")

    # a target holding rows is refused, untouched
    rows = dump(migrated)
    with pytest.raises(BackupError, match=r"not empty \(rows in kek, log_entry"):
        restore(small_backup, migrated, keyring={})
    assert dump(migrated) == rows

    # an unreadable source
    target = make_engine(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        with pytest.raises(BackupError, match="no backup file at"):
            restore(tmp_path / "nope.db", target, keyring={})
        garbage = tmp_path / "garbage.db"
        garbage.write_bytes(b"this is not a database" * 100)
        with pytest.raises(BackupError, match=r"cannot read backup .*not a database"):
            restore(garbage, target, keyring={})
        plain = tmp_path / "plain.db"
        with sqlite3.connect(plain) as db:
            db.execute("CREATE TABLE t (x)")
        with pytest.raises(BackupError, match="not a creditchain backup"):
            restore(plain, target, keyring={})
        damaged = tmp_path / "damaged.db"
        data = bytearray(small_backup.read_bytes())
        page = int.from_bytes(data[16:18], "big")
        for i in range(2 * page, len(data) - page, page):  # smash every page but the first
            data[i + 8 : i + 24] = b"\xff" * 16
        damaged.write_bytes(bytes(data))
        with pytest.raises(BackupError, match=r"damaged|malformed|cannot read"):
            restore(damaged, target, keyring={})
        tampered = tmp_path / "tampered.db"
        tampered.write_bytes(small_backup.read_bytes())
        with sqlite3.connect(tampered) as db:
            db.execute("DELETE FROM kek WHERE kek_id = 'kek-2'")
        with pytest.raises(BackupError, match=r"other rows than its manifest lists: kek 1"):
            restore(tampered, target, keyring={})
        # every refusal left the target restorable
        assert _backup.non_empty_tables(target) == []
        assert restore(small_backup, target, keyring={}).intact
    finally:
        target.dispose()


def test_a_backup_from_an_unknown_revision_is_refused(migrated: Engine, tmp_path: Path) -> None:
    with migrated.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(BackupError, match="revision 9999, which this creditchain does not know"):
        backup(migrated, tmp_path / "b.db")
    assert not (tmp_path / "b.db").exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial" in p.name] == []


def test_restore_into_a_migrated_empty_database(small_backup: Path, tmp_path: Path) -> None:
    target = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    try:
        upgrade(target)  # schema, no rows: still empty
        assert restore(small_backup, target, keyring={}).intact
    finally:
        target.dispose()


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------


def _erase_on_chain(env: Env, rid: str) -> None:
    """The origin department erases the record on chain (RecordStatus), relayed by the gateway."""
    rs = env.runtime.deployment.record_status(env.chain)
    tax = env.runtime.consortium["tax"]
    t = StatusTransition(
        record_id=bytes.fromhex(rid),
        origin=bytes.fromhex(tax.org_id[2:]),
        to=StatusCode.ERASED,
        successor=b"\x00" * 32,
        reason=reason_code("erasure-requested"),
        evidence=os.urandom(32),
        actor=bytes.fromhex(tax.org_id[2:]),
        version=0,
        deadline=int(chain_clock(env.chain)) + 3600,
    )
    rs.transition(env.runtime.secrets.signer, t, rs.sign(tax.account(), t))
    assert rs.status(bytes.fromhex(rid)) == StatusCode.ERASED


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_cli_backup_and_restore(
    sqlite_gw: Env,
    tmp_path: Path,
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = sqlite_gw
    ids = populate(env)
    data_dir = env.runtime.settings.data_dir
    live_url = str(env.runtime.engine.url)
    dest = tmp_path / "cli-backup.db"

    result = cli.invoke(app, ["backup", str(dest), "--database-url", live_url, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["path"] == str(dest)
    assert doc["row_counts"]["record"] == 6
    assert doc["bytes"] == dest.stat().st_size

    # refusals: one line on stderr, exit 1
    result = cli.invoke(app, ["backup", str(dest), "--database-url", live_url])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert "exists" in result.stderr
    result = cli.invoke(app, ["backup", str(tmp_path / "x.db"), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "no gateway database" in result.stderr
    target = ["--data-dir", str(data_dir)]
    new_db = f"sqlite:///{tmp_path / 'new.db'}"
    result = cli.invoke(app, ["restore", str(tmp_path / "nope.db"), *target, "--no-chain"])
    assert result.exit_code == 1
    assert result.stderr == f"error: no backup file at {tmp_path / 'nope.db'}\n"
    result = cli.invoke(app, ["restore", str(dest), *target, "--database-url", live_url])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "is not empty (rows in" in result.stderr
    # no chain running for this data dir: refused unless --no-chain
    result = cli.invoke(app, ["restore", str(dest), *target, "--database-url", new_db])
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1
    assert "cannot read erasures from the chain" in result.stderr
    assert "--no-chain" in result.stderr
    assert not (tmp_path / "new.db").exists()

    # --no-chain: restored, erasures since the backup not re-applied (and said so)
    result = cli.invoke(
        app, ["restore", str(dest), *target, "--database-url", new_db, "--no-chain", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["intact"] is True
    assert doc["chain_checked"] is False
    assert doc["row_counts"]["record"] == 6
    assert "warning: --no-chain" in result.stderr

    # with the chain: a record erased on chain since the backup is erased by the restore
    victim = ids[0]
    _erase_on_chain(env, victim)
    env.runtime.deployment.save(env.runtime.settings.manifest_path)
    monkeypatch.setattr("gateway.cli._backup._open_chain", lambda data_dir, rpc: env.chain)
    chained = f"sqlite:///{tmp_path / 'chained.db'}"
    result = cli.invoke(app, ["restore", str(dest), *target, "--database-url", chained])
    assert result.exit_code == 0, result.output
    assert "1 erased since and re-applied" in result.stdout
    assert "integrity: intact" in result.stdout
    engine = make_engine(chained)
    try:
        row = record_row(engine, victim)
        assert row["envelope"] is None
        assert row["status"] == "erased"
    finally:
        engine.dispose()
