"""``creditchain audit reconcile --city B``: both sides of cross-city reads, cross-checked
(gateway/_reconcile.py; docs/formats.md §13.5)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from gateway.cli._audit import (
    AsOrg,
    DataDir,
    Keystore,
    OrgOpt,
    Url,
    _auditor,
    _log_signer,
    audit_app,
)
from gateway.cli._output import EXIT_USAGE, command, emit_json, fail


def _city_code(value: str) -> int:
    from node import CITIES

    if value.isdigit():
        return int(value)
    if value.lower() not in CITIES:
        fail(f"--city is a GB/T 2260 code or one of {', '.join(CITIES)}", EXIT_USAGE)
    return CITIES[value.lower()]


@audit_app.command("reconcile")
@command
def reconcile(
    city: Annotated[str, typer.Option(help="The partner city: GB/T 2260 code or name.")],
    url: Url = "http://127.0.0.1:8080",
    rpc: Annotated[
        str | None, typer.Option(help="Chain JSON-RPC URL (default: the data dir's running chain).")
    ] = None,
    manifest: Annotated[str | None, typer.Option(help="Trusted deployment manifest.")] = None,
    data_dir: DataDir = None,
    since: Annotated[
        int | None, typer.Option("--from", help="Only accesses decided from this Unix time.")
    ] = None,
    until: Annotated[
        int | None, typer.Option("--to", help="Only accesses decided before this Unix time.")
    ] = None,
    as_org: AsOrg = None,
    keystore: Keystore = None,
    org: OrgOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every cross-city access logged by this city's gateway (``--url``) or by the
    partner city's (found in the on-chain Directory) and not by the other, each side's
    access log proven against its checkpoints on chain. Exit 0 clean, 1 with findings, 2 when
    a gateway or the chain cannot be reached."""
    from pathlib import Path

    import httpx

    from gateway._audit import response_json
    from gateway._config import default_data_dir
    from gateway._reconcile import fetch_side
    from gateway._reconcile import reconcile as run
    from gateway.domain.records import log_id
    from node import ChainPaths, ContractRevert, Deployment, NodeError, open_chain

    data = data_dir or default_data_dir()
    partner_city = _city_code(city)
    account, org_id = _auditor(data, as_org, keystore, org)
    started = time.monotonic()
    try:
        deployment = Deployment.load(Path(manifest) if manifest else ChainPaths(data).manifest)
        chain = open_chain(data, rpc)
        deployment.check(chain)
        http = httpx.Client(timeout=120)
        health = http.get(f"{url}/v1/health")
        health.raise_for_status()
        home_org = bytes.fromhex(response_json(health)["gateway"].removeprefix("0x"))
        home_city = deployment.membership(chain).org(home_org).city
        partner = deployment.directory(chain).gateway_of_city(partner_city)
    except ContractRevert as exc:
        fail(f"city {partner_city} has no active gateway in the Directory ({exc.name})", EXIT_USAGE)
    except (NodeError, httpx.HTTPError) as exc:
        fail(str(exc), EXIT_USAGE)
    sign = _log_signer(deployment, account, org_id)
    log = deployment.checkpoint_log(chain)
    try:
        home = fetch_side(
            http, home_city, home_org, url, log.checkpoints(log_id(home_org, "access")), sign
        )
        other = fetch_side(
            http,
            partner_city,
            partner.gateway_org,
            partner.url,
            log.checkpoints(log_id(partner.gateway_org, "access")),
            sign,
        )
    except httpx.HTTPError as exc:
        fail(f"cannot read an access log: {exc}", EXIT_USAGE)
    report = run(home, other, start=since, end=until)
    if as_json:
        emit_json({**report.to_json(), "seconds": round(time.monotonic() - started, 3)})
    else:
        state = "OK" if report.ok else "FAIL"
        typer.echo(
            f"{state} cities {home_city} and {partner_city}: {report.matched} cross-city "
            f"accesses logged on both sides"
        )
        for side in (home, other):
            s = side.summary()
            proof = "proven against the chain" if side.proven else f"NOT proven: {side.problem}"
            typer.echo(
                f"  city {s['city']}: {s['entries']} access entries, anchored up to "
                f"{s['anchored_size']}, {proof}"
            )
        for f in report.findings:
            typer.echo(f"  {f}")
    if not report.ok:
        raise typer.Exit(1)
