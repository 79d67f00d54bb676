"""``creditchain submit FILE``: sign and submit credit records as a department."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli._output import DEFAULT_URL, GatewayUrl, command, emit_json, fail


@command
def submit(
    file: Annotated[
        Path,
        typer.Argument(help="JSON file: one record or an array of records (docs/formats.md §2)."),
    ],
    url: GatewayUrl = DEFAULT_URL,
    as_org: Annotated[
        str | None,
        typer.Option(
            "--as", help="Act as this org of the dev consortium (tax, market, court, water, …)."
        ),
    ] = None,
    keystore: Annotated[Path | None, typer.Option(help="The org's signing keystore.")] = None,
    org: Annotated[str | None, typer.Option(help="The org id (0x…), with --keystore.")] = None,
    password_file: Annotated[Path | None, typer.Option(help="Keystore password file.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", show_default=False, help="Data directory.")
    ] = None,
    receipts: Annotated[
        Path | None,
        typer.Option(
            help="Keep the receipts in this store [default: <data dir>/receipts]; "
            "check them later with `creditchain receipts verify`."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sign records with the department's key and submit them; print the receipts (kept in
    the receipt store for `creditchain receipts verify`)."""
    import os

    import httpx

    from gateway._config import default_data_dir
    from gateway._devnet import load_consortium
    from gateway.cli._receipts import default_store
    from gateway.client import ClientError, DepartmentClient
    from gateway.domain.canonical import parse_json
    from gateway.domain.errors import CanonicalizationError
    from gateway.receipts import ReceiptStore
    from node import Deployment, load_keystore
    from node._local import ChainPaths

    data = data_dir or default_data_dir()
    try:
        doc: Any = parse_json(file.read_bytes())  # strict and depth-bounded
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except CanonicalizationError as exc:
        fail(f"{file} is not JSON: {exc}")
    records = doc if isinstance(doc, list) else [doc]
    if not records or not all(isinstance(r, dict) for r in records):
        fail(f"{file} must hold a record object or a non-empty array of them")
    if as_org:
        orgs = load_consortium(data)
        if as_org not in orgs:
            fail(f"no org {as_org!r} in the dev consortium; have {', '.join(orgs)}")
        account, org_id = orgs[as_org].account(), orgs[as_org].org_id
    else:
        if keystore is None or org is None:
            fail("name the submitting org: --as SLUG (dev) or --keystore FILE --org 0x…")
        password = (
            password_file.read_text().strip()
            if password_file
            else os.environ.get("CREDITCHAIN_KEYSTORE_PASSWORD", "")
        )
        account, org_id = load_keystore(keystore, password), org
    for r in records:
        r.setdefault("org", org_id)
    deployment = Deployment.load(ChainPaths(data).manifest)
    try:
        with DepartmentClient(
            url,
            account,
            bytes.fromhex(org_id.removeprefix("0x")),
            chain_id=deployment.chain_id,
            membership=deployment.address("Membership"),
            receipt_store=ReceiptStore(receipts or default_store(data_dir)),
        ) as client:
            got = client.submit(records)
    except ClientError as exc:
        fail(f"{exc.problem.get('title', 'refused')}: {exc.problem.get('detail', '')} [{exc.type}]")
    except httpx.HTTPError as exc:
        fail(f"cannot reach the gateway at {url}: {exc}")
    if as_json:
        emit_json({"receipts": got})
        return
    for r in got:
        typer.echo(f"record {r['leaf_hash']} at index {r['index']}, anchored by {r['anchor_by']}")
