"""Backups of the gateway database (``creditchain backup`` / ``creditchain restore``).

A backup is one SQLite file: the gateway's schema at the source's revision (built by the
packaged migrations), every row of every table, and a manifest in table ``backup_meta``.

Consistency
    Every table is read in one read transaction: a WAL snapshot on SQLite (deferred ``BEGIN``,
    writers keep going), ``REPEATABLE READ READ ONLY`` on PostgreSQL. Tables are found by
    reflection, not from the models, so columns and tables added by later migrations are
    copied without changes here; rows are copied in primary-key order.

Erased records never enter a backup
    A ``record`` row whose status is ``erased`` (or whose envelope is already NULL) is written
    with a NULL envelope: neither its ciphertext nor its wrapped data key is ever written to
    the file. The file is also written with ``secure_delete=ON``, finished with ``VACUUM`` (no
    freed page keeps old bytes) and left in rollback-journal mode ``DELETE`` (no ``-wal``). It
    is built under a temporary name next to the destination and linked into place only when
    complete; an existing destination is never overwritten.

Manifest (``backup_meta``, one row: ``format``, ``manifest`` as JSON)
    ``created_at``, the source's dialect and schema revision, the row count of every table,
    the number of erased records, and each log's head: its size and its RFC 9162 root (the
    SHA-256 Merkle tree hash the chain anchors), so a backup can be compared with the chain.

Restore
    Only into an empty database: it is migrated to the backup's revision, the rows are copied
    in foreign-key order in one transaction, *erasures are re-applied while copying* (a record
    erased in the backup, or named in ``erased`` — erased on chain since the backup — is
    inserted with a NULL envelope and status ``erased``: its content is never written to the
    target), row counts and log roots are compared with the manifest, PostgreSQL sequences are
    moved past the copied ids, the database is migrated to the newest revision and the
    integrity checks of :mod:`gateway._integrity` run on the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from gateway._integrity import Finding, check_store
from gateway.domain.envelope import Kek
from gateway.errors import GatewayError
from gateway.store import (
    DbLog,
    StoreError,
    alembic_config,
    current_revision,
    head_revision,
    read_only,
    upgrade,
)
from node import Checkpoint

__all__ = [
    "BACKUP_FORMAT",
    "META_TABLE",
    "BackupError",
    "BackupManifest",
    "LogHeadInfo",
    "Progress",
    "RestoreReport",
    "backup",
    "non_empty_tables",
    "read_manifest",
    "record_ids",
    "restore",
]

BACKUP_FORMAT: Final = 1
"""Version of the backup file layout (``backup_meta.format``)."""
META_TABLE: Final = "backup_meta"
_VERSION_TABLE: Final = "alembic_version"
_NOT_COPIED: Final = frozenset({_VERSION_TABLE, META_TABLE})
_RECORD: Final = "record"
_ERASED: Final = "erased"
_BATCH: Final = 1000

Progress = Callable[[int, int], None]
"""Called after each batch of rows with (rows copied so far, rows in all)."""

_META = sa.MetaData()
_META_T = sa.Table(
    META_TABLE,
    _META,
    sa.Column("format", sa.Integer(), nullable=False),
    sa.Column("manifest", sa.Text(), nullable=False),
)


class BackupError(GatewayError):
    """A backup or restore refused or failed: the message says why, in one line."""

    code = "backup-error"


@dataclass(frozen=True)
class LogHeadInfo:
    """A log's head at backup time: its size and RFC 9162 root (hex; None if unreadable)."""

    size: int
    root: str | None


@dataclass(frozen=True)
class BackupManifest:
    """What ``backup_meta`` says about a backup."""

    created_at: str
    """ISO 8601, UTC."""
    source_dialect: str
    schema_revision: str
    row_counts: Mapping[str, int]
    logs: Mapping[str, LogHeadInfo]
    erased_records: int
    """Records written without content (status ``erased`` or envelope already NULL)."""
    format: int = BACKUP_FORMAT

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "created_at": self.created_at,
            "source_dialect": self.source_dialect,
            "schema_revision": self.schema_revision,
            "row_counts": dict(sorted(self.row_counts.items())),
            "logs": {
                name: {"size": head.size, "root": head.root}
                for name, head in sorted(self.logs.items())
            },
            "erased_records": self.erased_records,
        }

    @classmethod
    def from_json(cls, doc: Any) -> BackupManifest:
        try:
            if not isinstance(doc, dict) or doc.get("format") != BACKUP_FORMAT:
                raise ValueError(f"unsupported backup format {doc.get('format')!r}")
            counts = {str(k): int(v) for k, v in dict(doc["row_counts"]).items()}
            logs = {
                str(k): LogHeadInfo(int(v["size"]), None if v["root"] is None else str(v["root"]))
                for k, v in dict(doc["logs"]).items()
            }
            return cls(
                created_at=str(doc["created_at"]),
                source_dialect=str(doc["source_dialect"]),
                schema_revision=str(doc["schema_revision"]),
                row_counts=counts,
                logs=logs,
                erased_records=int(doc["erased_records"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackupError(f"the backup's manifest is malformed: {exc}") from exc


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did, and what the integrity checks found in the result."""

    manifest: BackupManifest
    schema_revision: str
    """The restored database's revision (the newest this package knows)."""
    row_counts: Mapping[str, int]
    erased_on_restore: tuple[str, ...]
    """Records erased by the restore: named in ``erased`` but still holding content in the
    backup."""
    erased_unknown: tuple[str, ...]
    """Ids named in ``erased`` that the backup does not hold (nothing to do)."""
    findings: tuple[Finding, ...] = field(default=())

    @property
    def intact(self) -> bool:
        return not self.findings

    @property
    def erased_records(self) -> int:
        return self.manifest.erased_records + len(self.erased_on_restore)


# ---------------------------------------------------------------------------------------------
# backup
# ---------------------------------------------------------------------------------------------


def backup(
    engine: Engine,
    dest: Path,
    *,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
    batch: int = _BATCH,
) -> BackupManifest:
    """Write a consistent snapshot of the database behind ``engine`` to the new file ``dest``.

    Raises:
        BackupError: ``dest`` exists or its directory does not; the source is not a migrated
            gateway database, or is at a revision this package does not know.
    """
    dest = Path(dest)
    if dest.exists() or dest.is_symlink():
        raise BackupError(f"{dest} exists: a backup never overwrites a file, choose a new name")
    if not dest.parent.is_dir():
        raise BackupError(f"no directory {dest.parent} for the backup")
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.partial"
    try:
        # An empty file is an empty SQLite database: created here so that it is private (0600).
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        manifest = _write_backup(engine, tmp, progress=progress, clock=clock, batch=batch)
        _fsync(tmp)
        _publish(tmp, dest)
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{tmp}{suffix}")
    return manifest


def _write_backup(
    engine: Engine, path: Path, *, progress: Progress | None, clock: Callable[[], float], batch: int
) -> BackupManifest:
    created = datetime.fromtimestamp(clock(), UTC)
    with _snapshot(engine) as src:
        revision = _revision_of(src)
        if revision is None:
            raise BackupError("the source database has no schema: it is not a gateway database")
        _require_known(revision, "the source database")
        src_meta = sa.MetaData()
        src_meta.reflect(bind=src)
        src_tables = {name: t for name, t in src_meta.tables.items() if name not in _NOT_COPIED}
        counts = {name: _count(src, t) for name, t in src_tables.items()}
        logs = _log_heads(src)
        out = _sqlite_file_engine(path)
        try:
            upgrade(out, revision)
            dst_meta = sa.MetaData()
            dst_meta.reflect(bind=out)
            dst_tables = [t for t in dst_meta.sorted_tables if t.name not in _NOT_COPIED]
            _same_tables(src_tables, {t.name for t in dst_tables}, "the source database")
            total, done = sum(counts.values()), 0
            erased = 0

            def shred(row: dict[str, Any]) -> dict[str, Any]:
                nonlocal erased
                if row["status"] == _ERASED or row["envelope"] is None:
                    row["envelope"] = None
                    erased += 1
                return row

            def advance(n: int) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress(done, total)

            copied: dict[str, int] = {}
            with out.begin() as dst:
                for table in dst_tables:
                    copied[table.name] = _copy_table(
                        src,
                        src_tables[table.name],
                        dst,
                        table,
                        transform=shred if table.name == _RECORD else None,
                        batch=batch,
                        advance=advance,
                    )
                if copied != counts:  # a snapshot cannot change under us: a bug if it did
                    raise BackupError(f"rows changed while copying: {counts} then {copied}")
                manifest = BackupManifest(
                    created_at=created.isoformat().replace("+00:00", "Z"),
                    source_dialect=src.dialect.name,
                    schema_revision=revision,
                    row_counts=copied,
                    logs=logs,
                    erased_records=erased,
                )
                _META_T.create(dst)
                dst.execute(
                    _META_T.insert(),
                    {"format": BACKUP_FORMAT, "manifest": json.dumps(manifest.to_json())},
                )
            _finish(out)
        finally:
            out.dispose()
    return manifest


def _finish(out: Engine) -> None:
    """Rebuild the file without free pages, in rollback-journal mode, and check it."""
    raw = out.raw_connection()
    try:
        db = raw.driver_connection
        assert isinstance(db, sqlite3.Connection)
        db.execute("VACUUM")
        mode = db.execute("PRAGMA journal_mode=DELETE").fetchone()
        check = db.execute("PRAGMA quick_check").fetchone()
        if mode is None or str(mode[0]).lower() != "delete":
            raise BackupError(f"the backup file kept journal mode {mode}")
        if check is None or check[0] != "ok":
            raise BackupError(f"the backup file failed its own check: {check}")
    finally:
        raw.close()


def _publish(tmp: Path, dest: Path) -> None:
    """Give the finished file its name without ever replacing an existing one."""
    try:
        os.link(tmp, dest)  # atomic, and fails if dest exists
    except FileExistsError:
        raise BackupError(
            f"{dest} exists: a backup never overwrites a file, choose a new name"
        ) from None
    except OSError:  # a file system without hard links
        if dest.exists():
            raise BackupError(
                f"{dest} exists: a backup never overwrites a file, choose a new name"
            ) from None
        os.rename(tmp, dest)
    _fsync_dir(dest.parent)


# ---------------------------------------------------------------------------------------------
# reading a backup
# ---------------------------------------------------------------------------------------------


def read_manifest(src: Path) -> BackupManifest:
    """The manifest of the backup file ``src``.

    Raises:
        BackupError: ``src`` is missing, unreadable, not SQLite, or not a creditchain backup.
    """
    with _open_backup(src) as conn:
        return _manifest(conn, src)


def record_ids(src: Path, *, include_erased: bool = False) -> list[str]:
    """The ids of the records in backup ``src`` (by default only those it holds content of:
    the ones an erasure since the backup would concern), in log order."""
    with _open_backup(src) as conn:
        _manifest(conn, src)
        record = sa.table(
            _RECORD, sa.column("record_id"), sa.column("log_index"), sa.column("envelope")
        )
        stmt = sa.select(record.c.record_id).order_by(record.c.log_index)
        if not include_erased:
            stmt = stmt.where(record.c.envelope.is_not(None))
        return [str(rid) for (rid,) in conn.execute(stmt)]


@contextlib.contextmanager
def _open_backup(src: Path) -> Iterator[sa.Connection]:
    src = Path(src)
    if not src.is_file():
        raise BackupError(f"no backup file at {src}")
    uri = src.resolve().as_uri() + "?mode=ro"
    engine = sa.create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        poolclass=NullPool,
    )
    try:
        try:
            conn = engine.connect()
            conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar_one()
        except sa.exc.DBAPIError as exc:
            raise BackupError(f"cannot read backup {src}: {exc.orig}") from None
        with conn:
            yield conn
    finally:
        engine.dispose()


def _manifest(conn: sa.Connection, src: Path) -> BackupManifest:
    if not sa.inspect(conn).has_table(META_TABLE):
        raise BackupError(f"{src} is not a creditchain backup (it has no {META_TABLE} table)")
    row = conn.execute(sa.select(_META_T.c.format, _META_T.c.manifest)).first()
    if row is None:
        raise BackupError(f"{src} is not a complete creditchain backup (empty {META_TABLE})")
    try:
        doc = json.loads(row.manifest)
    except (TypeError, ValueError) as exc:
        raise BackupError(f"the manifest of {src} is not JSON: {exc}") from None
    manifest = BackupManifest.from_json(doc)
    revision = _revision_of(conn)
    if revision != manifest.schema_revision:
        raise BackupError(
            f"{src} is at schema revision {revision}, its manifest says {manifest.schema_revision}"
        )
    return manifest


# ---------------------------------------------------------------------------------------------
# restore
# ---------------------------------------------------------------------------------------------


def non_empty_tables(engine: Engine) -> list[str]:
    """The tables of the database behind ``engine`` that hold rows (Alembic's aside)."""
    with engine.connect() as conn:
        return _non_empty(conn)


def restore(
    src: Path,
    engine: Engine,
    *,
    keyring: Mapping[str, Kek],
    erased: Iterable[str] = (),
    checkpoints: Mapping[str, Sequence[Checkpoint]] | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
    batch: int = _BATCH,
) -> RestoreReport:
    """Restore backup ``src`` into the empty database behind ``engine``.

    ``erased``: ids (hex) of records erased since the backup (on chain); they are restored
    without content, as is every record the backup holds as erased. ``keyring`` opens the
    envelopes for the integrity checks, ``checkpoints`` (per log name) are compared with the
    restored logs (none: structural checks only).

    Raises:
        BackupError: the target holds rows, or is at a newer revision than the backup;
            ``src`` is not a readable backup, or its rows disagree with its manifest.
    """
    wanted = {_norm_id(i) for i in erased}
    with _open_backup(src) as bk:
        manifest = _manifest(bk, src)
        check = bk.exec_driver_sql("PRAGMA quick_check").scalar()
        if check != "ok":
            raise BackupError(f"backup {src} is damaged: {check}")
        _require_known(manifest.schema_revision, f"backup {src}")
        _prepare_target(engine, manifest.schema_revision)
        bk_meta = sa.MetaData()
        bk_meta.reflect(bind=bk)
        bk_tables = {n: t for n, t in bk_meta.tables.items() if n not in _NOT_COPIED}
        tg_meta = sa.MetaData()
        tg_meta.reflect(bind=engine)
        tg_tables = [t for t in tg_meta.sorted_tables if t.name not in _NOT_COPIED]
        _same_tables(bk_tables, {t.name for t in tg_tables}, f"backup {src}")

        now = int(clock())
        newly: list[str] = []
        seen: set[str] = set()

        def reapply(row: dict[str, Any]) -> dict[str, Any]:
            rid = str(row["record_id"]).lower()
            seen.add(rid)
            if rid in wanted or row["status"] == _ERASED:
                if row["status"] != _ERASED or row["envelope"] is not None:
                    newly.append(str(row["record_id"]))
                row["status"] = _ERASED
                row["envelope"] = None
                if "erased_at" in row and row["erased_at"] is None:
                    row["erased_at"] = now
            return row

        total, done = manifest.total_rows, 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total)

        copied: dict[str, int] = {}
        with engine.begin() as tg:
            busy = _non_empty(tg)
            if busy:
                raise _not_empty(busy)
            for table in tg_tables:
                copied[table.name] = _copy_table(
                    bk,
                    bk_tables[table.name],
                    tg,
                    table,
                    transform=reapply if table.name == _RECORD else None,
                    batch=batch,
                    advance=advance,
                )
            if copied != dict(manifest.row_counts):
                raise BackupError(
                    f"backup {src} holds other rows than its manifest lists: "
                    f"{_count_diff(manifest.row_counts, copied)}"
                )
            _check_roots(tg, manifest, src)
            _check_erased(tg)
            if tg.dialect.name == "postgresql":
                _advance_sequences(tg, tg_tables)
    upgrade(engine)
    findings = _integrity(engine, keyring, manifest, checkpoints)
    return RestoreReport(
        manifest=manifest,
        schema_revision=current_revision(engine) or manifest.schema_revision,
        row_counts=copied,
        erased_on_restore=tuple(newly),
        erased_unknown=tuple(sorted(wanted - seen)),
        findings=tuple(findings),
    )


def _prepare_target(engine: Engine, revision: str) -> None:
    """Refuse a target holding rows; migrate an empty one to ``revision``."""
    busy = non_empty_tables(engine)
    if busy:
        raise _not_empty(busy)
    current = current_revision(engine)
    if current is not None and current != revision:
        script = ScriptDirectory.from_config(alembic_config())
        ancestors = {r.revision for r in script.iterate_revisions(revision, "base")}
        if current not in ancestors:
            raise BackupError(
                f"the target database is at schema revision {current}, which the backup's "
                f"{revision} does not follow: restore into a new, empty database"
            )
    upgrade(engine, revision)


def _not_empty(tables: Sequence[str]) -> BackupError:
    return BackupError(
        f"the target database is not empty (rows in {', '.join(tables)}): "
        "restore only into a new, empty database"
    )


def _check_roots(conn: sa.Connection, manifest: BackupManifest, src: Path) -> None:
    for name, head in manifest.logs.items():
        log = DbLog(conn, name)
        try:
            size = log.size()
            root = log.root(head.size).hex() if head.root is not None else None
        except StoreError as exc:
            raise BackupError(f"backup {src}: log {name!r} is unreadable: {exc}") from None
        if size != head.size or root != head.root:
            raise BackupError(
                f"backup {src}: log {name!r} restored at size {size}, root {root}; the manifest "
                f"says size {head.size}, root {head.root}"
            )


def _check_erased(conn: sa.Connection) -> None:
    """No erased record may hold an envelope (belt and braces: the copy already wrote every
    erased record, including those named erased, without one)."""
    record = sa.table(_RECORD, sa.column("record_id"), sa.column("status"), sa.column("envelope"))
    left = conn.execute(
        sa.select(sa.func.count())
        .select_from(record)
        .where(record.c.envelope.is_not(None), record.c.status == _ERASED)
    ).scalar_one()
    if left:
        raise BackupError(f"{left} erased records kept an envelope")


def _advance_sequences(conn: sa.Connection, tables: Sequence[sa.Table]) -> None:
    """Move each serial/identity sequence past the ids copied in explicitly."""
    for table in tables:
        for col in table.primary_key.columns:
            if not isinstance(col.type, sa.Integer):
                continue
            seq = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": col.name}
            ).scalar()
            if seq is None:
                continue
            top = conn.execute(sa.select(sa.func.max(col))).scalar()
            conn.execute(
                sa.text("SELECT setval(CAST(:s AS regclass), :v, false)"),
                {"s": seq, "v": int(top or 0) + 1},
            )


def _integrity(
    engine: Engine,
    keyring: Mapping[str, Kek],
    manifest: BackupManifest,
    checkpoints: Mapping[str, Sequence[Checkpoint]] | None,
) -> list[Finding]:
    cps: dict[str, list[Checkpoint]] = {name: [] for name in manifest.logs}
    for name, given in (checkpoints or {}).items():
        cps[name] = list(given)
    return check_store(engine, keyring, cps)


# ---------------------------------------------------------------------------------------------
# shared
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _snapshot(engine: Engine) -> Iterator[sa.Connection]:
    """One read-only transaction over the whole database: a consistent snapshot."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                yield conn
    else:
        with read_only(engine).connect() as conn, conn.begin():
            yield conn


def _sqlite_file_engine(path: Path) -> Engine:
    """An engine on the backup file being written: rollback journal (never WAL), freed bytes
    zeroed, transactions begun by SQLAlchemy (the sqlite3 module's own handling off)."""
    target = str(path)

    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode=DELETE",
            "secure_delete=ON",
            "synchronous=FULL",
            "foreign_keys=ON",
            "cache_size=-65536",
        ):
            db.execute(f"PRAGMA {pragma}")
        return db

    engine = sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def _revision_of(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table(_VERSION_TABLE):
        return None
    version = sa.table(_VERSION_TABLE, sa.column("version_num"))
    rows = conn.execute(sa.select(version.c.version_num)).scalars().all()
    if len(rows) > 1:
        raise BackupError(f"several schema heads ({', '.join(map(str, rows))}): not supported")
    return str(rows[0]) if rows else None


def _require_known(revision: str, what: str) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    try:
        known = script.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupError(
            f"{what} is at schema revision {revision}, which this creditchain does not know "
            f"(it knows up to {head_revision()}): use a newer creditchain"
        )


def _same_tables(have: Mapping[str, sa.Table], schema: set[str], what: str) -> None:
    extra, missing = set(have) - schema, schema - set(have)
    if extra or missing:
        raise BackupError(
            f"{what} does not have the tables of its schema revision "
            f"(unexpected: {sorted(extra)}, missing: {sorted(missing)})"
        )


def _copy_table(
    src: sa.Connection,
    src_table: sa.Table,
    dst: sa.Connection,
    dst_table: sa.Table,
    *,
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None,
    batch: int,
    advance: Callable[[int], None],
) -> int:
    names = [c.name for c in dst_table.columns]
    if set(names) != {c.name for c in src_table.columns}:
        raise BackupError(
            f"table {dst_table.name}: columns {sorted(c.name for c in src_table.columns)} "
            f"where its schema revision has {sorted(names)}"
        )
    order = list(src_table.primary_key.columns) or list(src_table.columns)
    stmt = sa.select(*(src_table.c[n] for n in names)).order_by(*order)
    result = src.execution_options(stream_results=True, yield_per=batch).execute(stmt)
    insert = dst_table.insert()
    copied = 0
    for part in result.partitions(batch):
        rows = [dict(zip(names, row, strict=True)) for row in part]
        if transform is not None:
            rows = [transform(r) for r in rows]
        dst.execute(insert, rows)
        copied += len(rows)
        advance(len(rows))
    return copied


def _count(conn: sa.Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _non_empty(conn: sa.Connection) -> list[str]:
    names = [n for n in sa.inspect(conn).get_table_names() if n != _VERSION_TABLE]
    return sorted(
        n
        for n in names
        if conn.execute(sa.select(sa.literal(1)).select_from(sa.table(n)).limit(1)).first()
    )


def _log_heads(conn: sa.Connection) -> dict[str, LogHeadInfo]:
    head = sa.table("log_head", sa.column("log_name"), sa.column("size"))
    heads: dict[str, LogHeadInfo] = {}
    for name, size in conn.execute(sa.select(head.c.log_name, head.c.size)):
        try:
            root: str | None = DbLog(conn, str(name)).root(int(size)).hex()
        except StoreError:  # a damaged log is backed up as it is; the root stays unknown
            root = None
        heads[str(name)] = LogHeadInfo(int(size), root)
    return heads


def _count_diff(expected: Mapping[str, int], got: Mapping[str, int]) -> str:
    names = sorted(set(expected) | set(got))
    return ", ".join(
        f"{n} {got.get(n, 0)} (manifest {expected.get(n, 0)})"
        for n in names
        if expected.get(n, 0) != got.get(n, 0)
    )


def _norm_id(record_id: str) -> str:
    return str(record_id).strip().lower().removeprefix("0x")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can fsync a directory
        _fsync(path)
