"""``creditchain check``: verify the gateway's whole database against the chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli._output import command, emit_json


@command
def check(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", show_default=False, help="Data directory.")
    ] = None,
    dev: Annotated[bool, typer.Option(help="The data dir holds a development gateway.")] = False,
    rpc: Annotated[
        str | None,
        typer.Option(help="Chain JSON-RPC URL (default: the data dir's running local chain)."),
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recompute every log from its entries, check every stored hash, open every envelope and
    compare with the checkpoints on chain. Exit 0 when intact, 1 with each finding named."""
    from gateway._bound import ChainStatuses
    from gateway._config import Settings, default_data_dir
    from gateway._integrity import Binding, check_store
    from gateway._keys import load_secrets
    from gateway._outbox_check import outbox_chain
    from gateway._receipt_mark import mark_findings
    from gateway._runtime import _gateway_org
    from gateway._service import LOG_NAMES
    from gateway.domain.records import log_id
    from gateway.store import make_engine
    from node import Deployment, ManifestError, open_chain

    settings = Settings(
        data_dir=data_dir or default_data_dir(), dev=dev, database_url=database_url, rpc_url=rpc
    )
    secrets = load_secrets(settings.keys_dir, dev=dev)
    chain = open_chain(settings.data_dir, rpc)
    deployment = Deployment.load(settings.manifest_path)
    deployment.check(chain)
    gateway_org = _gateway_org(settings)
    client = deployment.checkpoint_log(chain)
    checkpoints = {n: client.checkpoints(log_id(gateway_org, n)) for n in LOG_NAMES}
    try:
        statuses: ChainStatuses | None = ChainStatuses(deployment.record_status(chain))
    except ManifestError:
        statuses = None  # a manifest from before RecordStatus: rows against the log only
    block = statuses.advance(chain.head()) if statuses else 0  # before the rows are read

    def chain_state(record_id: str) -> tuple[str, int] | None:
        return statuses.at(record_id, block) if statuses else None

    outbox = outbox_chain(
        client,
        {n: log_id(gateway_org, n) for n in LOG_NAMES},
        statuses.client if statuses else None,
    )
    from gateway._columns import RowKeys, dedup_secret, gateway_signers
    from gateway._holds import office_verifier
    from gateway.domain.catalog import load_catalog
    from gateway.domain.signing import signing_domain

    keys = RowKeys(
        dedup_secret(secrets.pepper),
        load_catalog(),
        log_id(gateway_org, "records"),
        gateway_org,
        signing_domain(chain.chain_id, deployment.address("Membership")),
        gateway_signers(deployment.membership(chain), gateway_org, secrets.signer.address),
        office_verifier(
            signing_domain(chain.chain_id, deployment.address("Membership")),
            deployment.membership(chain),
        ),
    )
    binding = Binding(secrets.pepper, chain_state, outbox=outbox, keys=keys)
    engine = make_engine(settings.db_url)
    try:
        findings = check_store(engine, secrets.keyring, checkpoints, binding, pepper=secrets.pepper)
        findings += mark_findings(settings.data_dir, bytes(secrets.signer.key), engine)
    finally:
        engine.dispose()
    if as_json:
        emit_json(
            {
                "intact": not findings,
                "findings": [
                    {"check": f.check, "where": f.where, "detail": f.detail} for f in findings
                ],
            }
        )
    else:
        for f in findings:
            typer.echo(f"FAIL {f}")
        anchored = ", ".join(f"{n} {cps[-1].size if cps else 0}" for n, cps in checkpoints.items())
        typer.echo("intact" if not findings else f"{len(findings)} findings", err=bool(findings))
        typer.echo(f"(anchored sizes: {anchored})")
    if findings:
        raise typer.Exit(1)
