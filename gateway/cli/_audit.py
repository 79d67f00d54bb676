"""``creditchain audit …``: prove a gateway's logs complete and unforked; trace accesses."""

from __future__ import annotations

import csv
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli._output import EXIT_USAGE, GatewayUrl, command, emit_json, fail

audit_app = typer.Typer(
    help="Auditors: verify the logs against the chain; trace accesses.", no_args_is_help=True
)

Url = GatewayUrl
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", show_default=False, help="Data directory (manifest, dev consortium)."
    ),
]

AsOrg = Annotated[str | None, typer.Option("--as", help="Dev consortium org (auditor).")]
Keystore = Annotated[Path | None, typer.Option(help="Auditor's keystore.")]
OrgOpt = Annotated[str | None, typer.Option(help="Auditor org id (with --keystore).")]


def _auditor(
    data: Path, as_org: str | None, keystore: Path | None, org: str | None
) -> tuple[Any, str]:
    """(account, org id) of the auditor named by ``--as`` or ``--keystore``/``--org``."""
    from gateway._devnet import load_consortium
    from node import load_keystore

    if as_org:
        member = load_consortium(data)[as_org]
        return member.account(), member.org_id
    if not (keystore and org):
        fail("name the auditor: --as SLUG (dev) or --keystore FILE --org 0x…", EXIT_USAGE)
    password = os.environ.get("CREDITCHAIN_KEYSTORE_PASSWORD", "")
    return load_keystore(keystore, password), org


def _log_signer(deployment: Any, account: Any, org_id: str) -> Any:
    """``(action, start, end) -> body``: signed ``LogRequest``s for ``audit verify``."""
    from gateway.client import build_log_request
    from gateway.domain.signing import fast_typed_signer, signing_domain

    sign = fast_typed_signer(
        account, signing_domain(deployment.chain_id, deployment.address("Membership"))
    )
    org = bytes.fromhex(org_id.removeprefix("0x"))

    def build(action: str, start: int, end: int) -> dict[str, Any]:
        return build_log_request(
            sign,
            org_id=org,
            action=action,
            start=start,
            end=end,
            signed_at=int(time.time()),
            nonce=os.urandom(32),
        )

    return build


@audit_app.command("verify")
@command
def verify(
    url: Url = "http://127.0.0.1:8080",
    rpc: Annotated[
        str | None, typer.Option(help="Chain JSON-RPC URL (default: the data dir's running chain).")
    ] = None,
    manifest: Annotated[Path | None, typer.Option(help="Trusted deployment manifest.")] = None,
    data_dir: DataDir = None,
    log: Annotated[
        list[str] | None, typer.Option(help="records and/or access (default both).")
    ] = None,
    as_org: AsOrg = None,
    keystore: Keystore = None,
    org: OrgOpt = None,
    index: Annotated[
        bool, typer.Option(help="Also compare the gateway's access index with the access log.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Read every checkpoint of the gateway's logs from the chain, fetch every entry from the
    gateway (signed for by an auditor key: entries are not public), recompute the trees and
    compare; compare the gateway's access index with the access entries. Exit 0 complete and
    unforked, 1 with each gap, mismatch or index difference named, 2 when the gateway or chain
    cannot be reached."""
    import httpx

    from gateway._audit import chain_checkpoints, response_json, verify_log
    from gateway._config import default_data_dir
    from gateway.domain.records import log_id
    from node import ChainPaths, Deployment, NodeError, open_chain

    data = data_dir or default_data_dir()
    names = log or ["records", "access"]
    if set(names) - {"records", "access"}:
        fail("--log is records or access", EXIT_USAGE)
    account, org_id = _auditor(data, as_org, keystore, org)
    try:
        deployment = Deployment.load(manifest or ChainPaths(data).manifest)
        chain = open_chain(data, rpc)
        deployment.check(chain)
        http = httpx.Client(timeout=120)
        health = http.get(f"{url}/v1/health")
        health.raise_for_status()
        gateway_org = bytes.fromhex(response_json(health)["gateway"].removeprefix("0x"))
    except (NodeError, httpx.HTTPError) as exc:
        fail(str(exc), EXIT_USAGE)
    client = deployment.checkpoint_log(chain)
    sign = _log_signer(deployment, account, org_id)
    started = time.monotonic()
    reports = []
    for name in names:
        cps = chain_checkpoints(client, log_id(gateway_org, name))
        try:
            reports.append(verify_log(http, url, name, cps, sign=sign, index=index))
        except httpx.HTTPError as exc:
            fail(f"cannot read the {name} log from {url}: {exc}", EXIT_USAGE)
    elapsed = time.monotonic() - started
    findings = [f for r in reports for f in r.findings]
    if as_json:
        emit_json(
            {
                "ok": not findings,
                "seconds": round(elapsed, 3),
                "logs": [
                    {
                        "log": r.log,
                        "entries": r.entries,
                        "checkpoints": r.checkpoints,
                        "anchored_size": r.anchored_size,
                        "findings": [
                            {"check": f.check, "where": f.where, "detail": f.detail}
                            for f in r.findings
                        ],
                    }
                    for r in reports
                ],
            }
        )
    else:
        for r in reports:
            state = "OK" if r.ok else "FAIL"
            typer.echo(
                f"{state} {r.log} log: {r.entries} entries, {r.checkpoints} checkpoints "
                f"on chain, anchored up to {r.anchored_size}"
            )
            for f in r.findings:
                typer.echo(f"  {f}")
        typer.echo(f"({elapsed:.1f} s)")
    if findings:
        raise typer.Exit(1)


@audit_app.command("trace")
@command
def trace(
    url: Url = "http://127.0.0.1:8080",
    subject: Annotated[str | None, typer.Option(help="KIND:ID, e.g. uscc:91610800…")] = None,
    requester: Annotated[str | None, typer.Option(help="Requester org id (0x…).")] = None,
    record: Annotated[str | None, typer.Option(help="Record id.")] = None,
    since: Annotated[int | None, typer.Option(help="From this Unix time.")] = None,
    until: Annotated[int | None, typer.Option(help="Before this Unix time.")] = None,
    as_org: AsOrg = None,
    keystore: Keystore = None,
    org: OrgOpt = None,
    data_dir: DataDir = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the trace as CSV.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every access decision matching the filters, with its access-log entry and inclusion
    proof, signed for by an auditor (or credit office) key."""
    import httpx

    from gateway._audit import response_json
    from gateway._config import default_data_dir
    from gateway.domain.canonical import canonicalize
    from gateway.domain.records import hex0x
    from gateway.domain.signing import signing_domain, typed_signer
    from node import ChainPaths, Deployment

    data = data_dir or default_data_dir()
    account, org_id = _auditor(data, as_org, keystore, org)
    query: dict[str, Any] = {}
    if subject:
        kind, _, ident = subject.partition(":")
        if not ident:
            fail("--subject is KIND:ID, e.g. uscc:91610800MA0000001X", EXIT_USAGE)
        query["subject"] = {"kind": kind, "id": ident}
    for key, value in (
        ("requester", requester),
        ("record", record),
        ("since", since),
        ("until", until),
    ):
        if value is not None:
            query[key] = value
    deployment = Deployment.load(ChainPaths(data).manifest)
    sign = typed_signer(
        account, signing_domain(deployment.chain_id, deployment.address("Membership"))
    )
    signed_at, nonce = int(time.time()), os.urandom(32)
    body = {
        "auditor": org_id,
        "query": query,
        "signed_at": signed_at,
        "nonce": hex0x(nonce),
        "signature": hex0x(
            sign(
                "AuditQuery",
                {
                    "auditor": bytes.fromhex(org_id.removeprefix("0x")),
                    "queryHash": hashlib.sha256(canonicalize(query)).digest(),
                    "signedAt": signed_at,
                    "nonce": nonce,
                },
            )
        ),
    }
    try:
        r = httpx.post(f"{url}/v1/audit/trace", json=body, timeout=120)
        if r.status_code != 200:
            json_body = r.headers.get("content-type", "").endswith("json")
            problem = response_json(r) if json_body else {}
            fail(f"{problem.get('title', r.status_code)}: {problem.get('detail', r.text)}")
        answer = response_json(r)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the gateway at {url}: {exc}", EXIT_USAGE)
    rows = answer["decisions"]
    columns = [
        "log_index",
        "decided_at",
        "requester",
        "subject",
        "record_id",
        "purpose",
        "decision",
        "reason",
        "basis",
        "grant_id",
    ]
    if csv_out is not None:
        with csv_out.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[*columns, "included"])
            w.writeheader()
            for d in rows:
                w.writerow(
                    {**{c: d.get(c) for c in columns}, "included": d.get("inclusion") is not None}
                )
    if as_json:
        emit_json(answer)
    elif csv_out is None:
        out = csv.writer(sys.stdout)
        out.writerow(columns)
        for d in rows:
            out.writerow([d.get(c) for c in columns])


from gateway.cli import _reconcile as _reconcile  # noqa: E402 - registers `audit reconcile`
