"""``creditchain serve``: run the gateway (HTTP API + anchoring worker)."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli._output import command

if TYPE_CHECKING:
    from gateway._runtime import Runtime


@command
def serve(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Data directory [env CREDITCHAIN_DATA_DIR].", show_default=False
        ),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            help="Development gateway: generate keys and a demo Yulin consortium on first start."
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8080,
    rpc: Annotated[
        str | None,
        typer.Option(
            help="Chain JSON-RPC URL (default: the data dir's local chain, started here)."
        ),
    ] = None,
    manifest: Annotated[Path | None, typer.Option(help="Deployment manifest.")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="CREDITCHAIN_DATABASE_URL",
            help="SQLAlchemy URL (default: SQLite in the data dir); the environment keeps a "
            "password off the process list.",
        ),
    ] = None,
    chain_port: Annotated[int, typer.Option(help="Port of the local chain.")] = 8545,
    max_merge_delay: Annotated[
        int,
        typer.Option(
            help="Seconds within which every receipt is covered by an anchored checkpoint."
        ),
    ] = 60,
    anchor_every: Annotated[
        int, typer.Option(help="Anchor as soon as this many entries wait.")
    ] = 1000,
    confirmations: Annotated[
        int | None,
        typer.Option(
            help="Blocks on top of an anchor before it counts [default: 0 local, 2 remote]."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="HTTP worker processes sharing the port and the database (one per core).",
        ),
    ] = 1,
) -> None:
    """Run the gateway: HTTP API under /v1 (OpenAPI at /docs) and the anchoring worker.
    With --workers N, N processes serve HTTP on the one port (anchoring and lifecycle relay
    stay in this one)."""
    import uvicorn

    from gateway._config import AnchorPolicy, Settings, default_data_dir
    from gateway._runtime import build

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings(
        data_dir=data_dir or default_data_dir(),
        dev=dev,
        database_url=database_url,
        rpc_url=rpc,
        manifest=manifest,
        host=host,
        port=port,
        chain_port=chain_port,
        anchor=AnchorPolicy(
            max_merge_delay=max_merge_delay,
            size_threshold=anchor_every,
            confirmations=confirmations if confirmations is not None else (2 if rpc else 0),
        ),
    )
    runtime = build(settings)
    # Start-up objects (contracts, ABIs, catalog, web3) live as long as the process: move them
    # out of the collector's reach, and collect young objects less often. A full collection
    # over them otherwise stalls every request in flight (tail latency).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    try:
        runtime.start_anchoring()
        typer.echo(
            f"creditchain gateway 0x{runtime.gateway.gateway_org.hex()} on "
            f"http://{host}:{port} (chain {runtime.chain.chain_id}"
            f"{', dev' if dev else ''}); data in {settings.data_dir}",
            err=True,
        )
        if workers == 1:
            uvicorn.run(
                runtime.app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5
            )
        else:
            _serve_workers(runtime, workers)
    finally:
        runtime.close()
    if runtime.anchorer.error is not None:
        raise runtime.anchorer.error


def _serve_workers(runtime: Runtime, workers: int) -> None:
    """This process serves and runs the background work; ``workers - 1`` more serve."""
    import dataclasses

    from gateway._workers import bind, serve_on, spawn, stop

    settings = runtime.settings
    rpc = settings.rpc_url
    if rpc is None:
        assert runtime.local_chain is not None
        assert runtime.local_chain.node is not None
        rpc = runtime.local_chain.node.url
    sock = bind(settings.host, settings.port)
    extra = spawn(dataclasses.replace(settings, rpc_url=rpc), sock, workers - 1)
    try:
        serve_on(runtime.app, sock)
    finally:
        stop(extra)
        sock.close()
