"""``creditchain keys …``: key-encryption-key rotation for a gateway's data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli._output import command, emit_json, fail

keys_app = typer.Typer(
    help="Rotate and retire the gateway's key-encryption keys.", no_args_is_help=True
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", show_default=False, help="Data directory.")
]
DbUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: the data dir's SQLite).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _engine(data_dir: Path | None, database_url: str | None):  # type: ignore[no-untyped-def]
    from gateway._config import Settings, default_data_dir
    from gateway.store import make_engine, upgrade

    settings = Settings(data_dir=data_dir or default_data_dir(), database_url=database_url)
    if database_url is None and not (settings.data_dir / "gateway.db").exists():
        fail(f"no gateway database in {settings.data_dir}: is --data-dir right?")
    if not (settings.keys_dir / "kek.json").exists():
        fail(f"no key-encryption keyring at {settings.keys_dir / 'kek.json'}")
    engine = make_engine(settings.db_url)
    upgrade(engine)
    return settings, engine


def _rewrap(settings_keys: Path, engine, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    from gateway import _kek

    keyring, active = _kek.load_keyring(settings_keys)
    total = _kek.pending(engine, active)
    if as_json or total == 0:
        return _kek.rewrap_all(engine, keyring, active)
    with typer.progressbar(
        length=total, label=f"re-wrapping under {active.kek_id}", file=None
    ) as bar:
        return _kek.rewrap_all(engine, keyring, active, progress=bar.update)


@keys_app.command("rotate-kek")
@command
def rotate_kek(
    data_dir: DataDir = None, database_url: DbUrl = None, as_json: JsonFlag = False
) -> None:
    """Make a new key-encryption key active and re-wrap every data key under it.

    Safe to interrupt: run `creditchain keys rewrap` to finish. A running gateway keeps
    sealing with the key it started with until it restarts; `rewrap` later catches those up."""
    from gateway import _kek

    settings, engine = _engine(data_dir, database_url)
    try:
        kek = _kek.rotate(settings.keys_dir, engine)
        done = _rewrap(settings.keys_dir, engine, as_json)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"active": kek.kek_id, "rewrapped": done})
    else:
        typer.echo(f"{kek.kek_id} is active; {done} data keys re-wrapped")


@keys_app.command("rewrap")
@command
def rewrap_cmd(
    data_dir: DataDir = None, database_url: DbUrl = None, as_json: JsonFlag = False
) -> None:
    """Finish re-wrapping data keys under the active key-encryption key (resumable)."""
    settings, engine = _engine(data_dir, database_url)
    try:
        done = _rewrap(settings.keys_dir, engine, as_json)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"rewrapped": done})
    else:
        typer.echo(f"{done} data keys re-wrapped")


@keys_app.command("retire")
@command
def retire_cmd(
    data_dir: DataDir = None, database_url: DbUrl = None, as_json: JsonFlag = False
) -> None:
    """Remove from the keyring every inactive key-encryption key no record needs."""
    from gateway import _kek

    settings, engine = _engine(data_dir, database_url)
    try:
        gone = _kek.retire(settings.keys_dir, engine)
        left = _kek.pending(engine, _kek.load_keyring(settings.keys_dir)[1])
    finally:
        engine.dispose()
    if as_json:
        emit_json({"retired": gone, "records_not_yet_rewrapped": left})
    else:
        typer.echo(
            f"retired {', '.join(gone) if gone else 'nothing'}"
            + (f"; {left} records still need an older key: run `keys rewrap`" if left else "")
        )
