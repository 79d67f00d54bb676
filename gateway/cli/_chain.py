"""``creditchain chain …``: run a local chain, deploy the contracts, show the chain's state."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

import node
from gateway._config import default_data_dir
from gateway.cli._output import command, emit_json, fail

chain_app = typer.Typer(
    help="Run a local chain, deploy the contracts, show status.", no_args_is_help=True
)


DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory [env CREDITCHAIN_DATA_DIR, default ~/.local/share/creditchain]",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@chain_app.command("up")
@command
def up(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="Loopback port for JSON-RPC.")] = 8545,
    chain_id: Annotated[int, typer.Option(help="Chain id of a new chain.")] = 31337,
    as_json: JsonFlag = False,
) -> None:
    """Run a local anvil chain with persisted state; deploy the contracts on first start.

    Runs until interrupted (Ctrl-C or SIGTERM); the state is saved and the next `chain up`
    with the same data dir resumes the same chain.
    """
    data = data_dir or default_data_dir()
    local = node.LocalChain(data, port=port, chain_id=chain_id).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        assert local.deployment is not None
        assert local.node is not None
        info: dict[str, Any] = {
            "status": "ready",
            "url": local.node.url,
            "chain_id": local.deployment.chain_id,
            "data_dir": str(data),
            "deployed_now": local.deployed_now,
            "contracts": {k: v.address for k, v in local.deployment.contracts.items()},
        }
        if as_json:
            emit_json(info)
        else:
            what = "deployed" if local.deployed_now else "resumed"
            typer.echo(
                f"chain ready at {local.node.url} (chain id {info['chain_id']}), contracts {what}:"
            )
            for name, addr in info["contracts"].items():
                typer.echo(f"  {name:<14} {addr}")
            typer.echo(f"state in {local.paths.chain_dir}; Ctrl-C to stop")
        while not stop.wait(0.5):
            proc = local.node.process
            if proc is not None and proc.poll() is not None:
                fail(
                    f"anvil exited unexpectedly (code {proc.returncode}); "
                    f"see {local.paths.log_file}"
                )
    finally:
        local.stop()
    if not as_json:
        typer.echo("chain stopped; state saved")


@chain_app.command("deploy")
@command
def deploy(
    rpc: Annotated[str, typer.Option(help="JSON-RPC URL of the chain.")],
    keystore: Annotated[Path, typer.Option(help="Deployer's encrypted JSON keystore.")],
    manifest: Annotated[Path, typer.Option(help="Where to write the deployment manifest.")],
    network: Annotated[str, typer.Option(help="A name for this network.")] = "consortium",
    admin: Annotated[
        str | None, typer.Option(help="Default admin (default: the deployer).")
    ] = None,
    admin_delay: Annotated[
        int, typer.Option(help="Seconds an admin transfer must wait.")
    ] = 172_800,
    registrar: Annotated[
        list[str] | None,
        typer.Option(help="Make this account a registrar of each --registrar-city (repeatable)."),
    ] = None,
    registrar_city: Annotated[
        list[int] | None,
        typer.Option(
            help="GB/T 2260 city code the registrars act for (repeatable; default 610800)."
        ),
    ] = None,
    log_admin: Annotated[
        list[str] | None, typer.Option(help="Grant LOG_ADMIN_ROLE (repeatable).")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the keystore password [else env CREDITCHAIN_KEYSTORE_PASSWORD]."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Deploy the contracts to any EVM JSON-RPC chain and write a deployment manifest."""
    if manifest.exists():
        fail(f"{manifest} exists already; refusing to overwrite a deployment manifest")
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            fail(f"cannot read {password_file}: {exc.strerror}")
    else:
        password = os.environ.get("CREDITCHAIN_KEYSTORE_PASSWORD", "")
        if not password:
            fail("no keystore password: pass --password-file or set CREDITCHAIN_KEYSTORE_PASSWORD")
    account = node.load_keystore(keystore, password)
    chain = node.connect(rpc)
    deployment = node.deploy_all(
        chain,
        account,
        network=network,
        admin=admin,
        admin_delay=admin_delay,
        registrars=tuple(registrar or ()),
        registrar_cities=tuple(registrar_city or (node.YULIN,)),
        log_admins=tuple(log_admin or ()),
    )
    deployment.save(manifest)
    if as_json:
        emit_json(deployment.to_json())
    else:
        typer.echo(f"deployed to chain {deployment.chain_id} at block {deployment.deploy_block}:")
        for name, c in deployment.contracts.items():
            typer.echo(f"  {name:<14} {c.address}")
        typer.echo(f"manifest written to {manifest}")


@chain_app.command("status")
@command
def status(
    data_dir: DataDir = None,
    rpc: Annotated[
        str | None, typer.Option(help="JSON-RPC URL (default: the data dir's node).")
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="Deployment manifest (default: the data dir's).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Chain id, head block, contract addresses and the latest checkpoint of every log."""
    data = data_dir or default_data_dir()
    paths = node.ChainPaths(data)
    deployment = node.Deployment.load(manifest or paths.manifest)
    chain = node.open_chain(data, rpc)
    deployment.check(chain)
    log = deployment.checkpoint_log(chain)
    logs: list[dict[str, Any]] = []
    for log_id, (owner, operator) in sorted(log.registered_logs(deployment.deploy_block).items()):
        latest = log.latest(log_id)
        logs.append(
            {
                "log_id": "0x" + log_id.hex(),
                "owner_org": "0x" + owner.hex(),
                "operator": operator,
                "checkpoints": log.count(log_id),
                "latest": None
                if latest is None
                else {
                    "size": latest.size,
                    "root": "0x" + latest.root.hex(),
                    "block": latest.block_number,
                    "time": datetime.fromtimestamp(latest.timestamp, UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                },
            }
        )
    local_node = node.running_node(paths) if not rpc else None
    result: dict[str, Any] = {
        "url": chain.url,
        "chain_id": chain.chain_id,
        "head_block": chain.head(),
        "network": deployment.network,
        "deploy_block": deployment.deploy_block,
        "contracts": {k: v.address for k, v in deployment.contracts.items()},
        "logs": logs,
        "local_node_pid": local_node["pid"] if local_node else None,
    }
    if as_json:
        emit_json(result)
        return
    typer.echo(
        f"chain {result['chain_id']} at {result['url']}, head block {result['head_block']}"
        f" ({deployment.network}, deployed at block {deployment.deploy_block})"
    )
    for name, addr in result["contracts"].items():
        typer.echo(f"  {name:<14} {addr}")
    if not logs:
        typer.echo("no logs registered")
    for entry in logs:
        latest = entry["latest"]
        head = (
            (
                f"size {latest['size']} root {latest['root']} block {latest['block']} "
                f"at {latest['time']}"
            )
            if latest
            else "no checkpoint yet"
        )
        typer.echo(f"log {entry['log_id']}: {entry['checkpoints']} checkpoints, latest {head}")
