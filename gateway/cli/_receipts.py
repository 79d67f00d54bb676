"""``creditchain receipts verify``: check every kept receipt against the chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli._output import EXIT_USAGE, command, emit_json, fail

receipts_app = typer.Typer(
    help="Receipts this user was given: check them against the chain.", no_args_is_help=True
)


def default_store(data_dir: Path | None) -> Path:
    """Where the CLI keeps receipts: ``<data dir>/receipts``."""
    from gateway._config import default_data_dir

    return (data_dir or default_data_dir()) / "receipts"


@receipts_app.command("verify")
@command
def verify(
    store: Annotated[
        Path | None,
        typer.Option(help="Receipt store directory [default: <data dir>/receipts]."),
    ] = None,
    rpc: Annotated[
        str | None, typer.Option(help="Chain JSON-RPC URL (default: the data dir's running chain).")
    ] = None,
    manifest: Annotated[Path | None, typer.Option(help="Trusted deployment manifest.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", show_default=False, help="Data directory.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """For each kept receipt whose anchor_by has passed, prove against the checkpoint anchored
    on chain that its index holds its leaf. Exit 0 when none failed, 1 when any is
    contradicted (another leaf at its index), overdue (not anchored in time) or unproven,
    2 when the chain cannot be reached."""
    from gateway._config import default_data_dir
    from gateway.receipts import FAILED, ReceiptStore, verify_receipts
    from node import ChainPaths, Deployment, NodeError, open_chain

    data = data_dir or default_data_dir()
    kept = ReceiptStore(store or default_store(data_dir)).load()
    try:
        deployment = Deployment.load(manifest or ChainPaths(data).manifest)
        chain = open_chain(data, rpc)
        deployment.check(chain)
    except NodeError as exc:
        fail(str(exc), EXIT_USAGE)
    checks = verify_receipts(kept, chain=chain, deployment=deployment)
    failed = [c for c in checks if c.status in FAILED]
    if as_json:
        emit_json({"ok": not failed, "receipts": [c.to_json() for c in checks]})
    else:
        for c in checks:
            typer.echo(f"{c.status:<12} {c.log} #{c.index} {c.leaf_hash}: {c.detail}")
        counts = {s: sum(c.status == s for c in checks) for s in sorted({c.status for c in checks})}
        typer.echo(
            f"{len(checks)} receipts: " + ", ".join(f"{n} {s}" for s, n in counts.items())
            if checks
            else "no receipts kept",
            err=bool(failed),
        )
    if failed:
        raise typer.Exit(1)
