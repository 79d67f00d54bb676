"""``creditchain backup DEST`` and ``creditchain restore SRC`` (see :mod:`gateway._backup`).

Exit codes: 0 done (a restore also: the restored database passed every integrity check);
1 refused or failed, one line on stderr (a restore that completed with integrity findings
prints each of them and exits 1 too); 2 usage errors.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gateway.cli._output import command, emit_json, fail

if TYPE_CHECKING:
    from gateway._backup import BackupManifest, Progress
    from gateway._config import Settings
    from node import Chain, Checkpoint

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", show_default=False, help="Data directory.")
]
DbUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: the data dir's SQLite).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _settings(data_dir: Path | None, database_url: str | None, rpc: str | None = None) -> Settings:
    from gateway._config import Settings, default_data_dir

    return Settings(data_dir=data_dir or default_data_dir(), database_url=database_url, rpc_url=rpc)


def _open_chain(data_dir: Path, rpc: str | None) -> Chain:
    """The chain to read erasures from (a seam for tests that bring an in-process chain)."""
    from node import open_chain

    return open_chain(data_dir, rpc)


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Progress | None]:
    """A progress bar on stderr, drawn from the first report on (it brings the total)."""
    if not enabled:
        yield None
        return
    bars: list[Any] = []  # typer's progress bar, once the total is known

    def update(done: int, total: int) -> None:
        if not bars:
            bar = typer.progressbar(length=max(total, 1), label=label, file=sys.stderr)
            bar.__enter__()
            bars.append(bar)
        bars[0].update(done - bars[0].pos)

    try:
        yield update
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _exists(url: str) -> bool:
    """Whether the database may hold anything (a SQLite file that is not there does not, and
    is not created by asking)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return True
    return Path(parsed.database).exists()


@command
def backup(
    dest: Annotated[Path, typer.Argument(help="The backup file to create (never overwritten).")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a consistent snapshot of the gateway database to a new SQLite file, without the
    content of any erased record. Safe while the gateway runs."""
    from gateway import _backup
    from gateway.store import make_engine

    settings = _settings(data_dir, database_url)
    if database_url is None and not (settings.data_dir / "gateway.db").exists():
        fail(f"no gateway database in {settings.data_dir}: is --data-dir right?")
    engine = make_engine(settings.db_url)
    try:
        with _progress(f"backing up to {dest}", not as_json and sys.stderr.isatty()) as progress:
            manifest = _backup.backup(engine, dest, progress=progress)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"path": str(dest), "bytes": dest.stat().st_size, **manifest.to_json()})
        return
    logs = ", ".join(f"{name} log {head.size}" for name, head in sorted(manifest.logs.items()))
    typer.echo(
        f"backup written to {dest}: {manifest.total_rows} rows at schema revision "
        f"{manifest.schema_revision} ({logs}); {manifest.erased_records} erased records "
        "carried without content"
    )


@command
def restore(
    src: Annotated[Path, typer.Argument(help="A backup file written by `creditchain backup`.")],
    data_dir: DataDir = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="The target database, empty (default: the data dir's SQLite)."),
    ] = None,
    rpc: Annotated[
        str | None,
        typer.Option(help="Chain JSON-RPC URL (default: the data dir's running local chain)."),
    ] = None,
    no_chain: Annotated[
        bool,
        typer.Option(
            "--no-chain",
            help="Restore without the chain: erasures recorded on chain since the backup are "
            "NOT re-applied and the logs are not compared with their anchors.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Restore a backup into an empty database: re-apply every erasure recorded on chain since
    the backup, then check the result (logs, anchors, envelopes) like `creditchain check`."""
    from gateway import _backup
    from gateway._kek import load_keyring
    from gateway.store import make_engine

    settings = _settings(data_dir, database_url, rpc)
    manifest = _backup.read_manifest(src)
    keyring, _active = load_keyring(settings.keys_dir)
    if _exists(settings.db_url):
        probe = make_engine(settings.db_url)  # refuse early, before any chain query
        try:
            busy = _backup.non_empty_tables(probe)
        finally:
            probe.dispose()
        if busy:
            fail(
                f"the target database {_shown(settings.db_url)} is not empty (rows in "
                f"{', '.join(busy)}): restore only into a new, empty database"
            )
    if no_chain:
        erased: list[str] = []
        checkpoints: dict[str, list[Checkpoint]] | None = None
        typer.echo(
            "warning: --no-chain: erasures recorded on chain since the backup are not "
            "re-applied; run the restore with the chain before serving this database",
            err=True,
        )
    else:
        erased, checkpoints = _from_chain(settings, rpc, src, manifest)
    if settings.database_url is None:
        from node._accounts import private_dir

        private_dir(settings.data_dir)
    engine = make_engine(settings.db_url)
    try:
        with _progress(f"restoring {src}", not as_json and sys.stderr.isatty()) as progress:
            report = _backup.restore(
                src,
                engine,
                keyring=keyring,
                erased=erased,
                checkpoints=checkpoints,
                progress=progress,
            )
    finally:
        engine.dispose()
    findings = [{"check": f.check, "where": f.where, "detail": f.detail} for f in report.findings]
    if as_json:
        emit_json(
            {
                "restored": True,
                "source": str(src),
                "target": _shown(settings.db_url),
                "backup": manifest.to_json(),
                "schema_revision": report.schema_revision,
                "row_counts": dict(report.row_counts),
                "chain_checked": not no_chain,
                "erased_on_restore": list(report.erased_on_restore),
                "erased_unknown": list(report.erased_unknown),
                "intact": report.intact,
                "findings": findings,
            }
        )
    else:
        typer.echo(
            f"restored {src} into {_shown(settings.db_url)}: {manifest.total_rows} rows, "
            f"schema {manifest.schema_revision} -> {report.schema_revision}"
        )
        typer.echo(
            f"erasures: {manifest.erased_records} erased in the backup, "
            f"{len(report.erased_on_restore)} erased since and re-applied"
            + ("" if not no_chain else " (chain not consulted)")
        )
        for f in report.findings:
            typer.echo(f"FAIL {f}")
        typer.echo(
            "integrity: intact" if report.intact else f"integrity: {len(report.findings)} findings",
            err=not report.intact,
        )
    if not report.intact:
        raise typer.Exit(1)


def _from_chain(
    settings: Settings, rpc: str | None, src: Path, manifest: BackupManifest
) -> tuple[list[str], dict[str, list[Checkpoint]]]:
    """The backup's records erased on chain since, and the chain's checkpoints of the logs."""
    from gateway import _backup
    from gateway._runtime import _gateway_org
    from gateway.domain.records import log_id
    from node import Deployment, StatusCode

    gateway_org = _gateway_org(settings)  # a missing gateway.json is its own one-line error
    ids = _backup.record_ids(src)
    try:
        chain = _open_chain(settings.data_dir, rpc)
        deployment = Deployment.load(settings.manifest_path)
        deployment.check(chain)
        states = deployment.record_status(chain).states([bytes.fromhex(i) for i in ids])
        erased = [i for i in ids if states[bytes.fromhex(i)].status == StatusCode.ERASED]
        client = deployment.checkpoint_log(chain)
        checkpoints = {n: client.checkpoints(log_id(gateway_org, n)) for n in manifest.logs}
    except Exception as exc:  # noqa: BLE001 - any failure means: erasures unknown, refuse
        fail(
            f"cannot read erasures from the chain ({exc}); pass --no-chain to restore without "
            "re-applying erasures recorded on chain since the backup"
        )
    return erased, checkpoints
