"""``creditchain read``: a member's read end to end — find the grant on chain, build and sign
the ``ReadRequest``, send it, print the released fields, and check the signed access receipt
(its signature against the gateway's registered key now; with ``--wait``, its leaf in the
access log against the checkpoint anchored on chain)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli._grant import (
    AsOrg,
    DataDir,
    JsonFlag,
    Keystore,
    Manifest,
    OrgId,
    PasswordFile,
    PepperFile,
    Rpc,
    acting_org,
    categories_arg,
    chain_context,
    parse_org,
    purpose_arg,
    read_pepper,
    subject_arg,
    when,
)
from gateway.cli._output import (
    DEFAULT_URL,
    EXIT_FAILURE,
    EXIT_USAGE,
    GatewayUrl,
    command,
    emit_json,
    fail,
)


@command
def read(
    purpose: Annotated[str, typer.Option(help="Catalog purpose code, e.g. loan_approval.")],
    categories: Annotated[str, typer.Option(help="Catalog categories, comma-separated.")],
    subject: Annotated[str | None, typer.Option(help="The subject, KIND:ID.")] = None,
    record: Annotated[
        str | None, typer.Option(help="One record id (64 hex digits) instead of a subject.")
    ] = None,
    grant: Annotated[
        str | None,
        typer.Option(help="The grant to read under (0x…); default: the newest live one on chain."),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            help="Wait until the access receipt's entry is anchored and prove it on chain."
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 180.0,
    url: GatewayUrl = DEFAULT_URL,
    as_org: AsOrg = None,
    keystore: Keystore = None,
    org: OrgId = None,
    password_file: PasswordFile = None,
    pepper_file: PepperFile = None,
    receipts: Annotated[
        Path | None,
        typer.Option(help="Keep the access receipt here [default: <data dir>/receipts]."),
    ] = None,
    data_dir: DataDir = None,
    rpc: Rpc = None,
    manifest: Manifest = None,
    as_json: JsonFlag = False,
) -> None:
    """Read a subject's (or one record's) released fields for a purpose under a grant; exit 0
    when allowed, 1 when denied (the denial is logged and its receipt checked too)."""
    import httpx

    from gateway.cli._receipts import default_store
    from gateway.client import ClientError, ReaderClient, find_grant, subject_ref
    from gateway.receipts import ReceiptStore

    if (subject is None) == (record is None):
        fail("name what to read: --subject KIND:ID or --record ID", EXIT_USAGE)
    if record is not None and (len(record) != 64 or record.strip("0123456789abcdef")):
        fail("--record is a record id: 64 lowercase hex digits", EXIT_USAGE)
    ctx = chain_context(data_dir, rpc, manifest)
    account, org_id = acting_org(ctx.data_dir, as_org, keystore, org, password_file)
    who = subject_arg(subject) if subject else None
    names, mask = categories_arg(ctx.catalog, categories)
    code = purpose_arg(ctx.catalog, purpose)
    grants = ctx.deployment.grants(ctx.chain)
    if grant is not None:
        grant_id: bytes | None = parse_org(grant)
    else:
        ref = subject_ref(read_pepper(ctx.data_dir, pepper_file), who) if who else None
        found = find_grant(
            grants,
            grantee=org_id,
            purpose=code,
            category_mask=mask,
            subject=ref,
            at=int(ctx.chain.w3.eth.get_block("latest")["timestamp"]),
        )
        grant_id = found.grant_id if found else None
    store = ReceiptStore(receipts or default_store(ctx.data_dir))
    membership = ctx.deployment.membership(ctx.chain)
    with httpx.Client(timeout=30.0) as http:
        try:
            expected = _gateway_of(http, url)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            fail(f"cannot reach the gateway at {url}: {exc}")
        client = ReaderClient(
            url,
            account,
            org_id,
            chain_id=ctx.deployment.chain_id,
            membership=ctx.deployment.address("Membership"),
            http=http,
            receipt_store=store,
        )
        denied: dict[str, Any] | None = None
        try:
            answer = client.read(
                purpose=code,
                categories=names,
                category_mask=mask,
                subject=who,
                record_id=record,
                grant_id=grant_id,
            )
        except ClientError as exc:
            if not isinstance(exc.problem.get("access_receipt"), dict):
                fail(
                    f"{exc.problem.get('title', 'refused')}: {exc.problem.get('detail', '')} "
                    f"[{exc.type}]"
                )
            denied = exc.problem
            answer = {"decision": "deny", "records": [], "access_receipt": denied["access_receipt"]}
        except httpx.HTTPError as exc:
            fail(f"cannot reach the gateway at {url}: {exc}")
        receipt = answer["access_receipt"]
        check = _check(ctx, membership, receipt, expected, http, url, wait, timeout)
    doc = {
        **answer,
        "grant_id": "0x" + grant_id.hex() if grant_id else None,
        "reason": denied.get("reason") if denied else None,
        "receipt_check": check,
    }
    if as_json:
        emit_json(doc)
    else:
        _show(doc, denied)
    if denied is not None or check["status"] not in ("ok", "pending"):
        raise typer.Exit(EXIT_FAILURE)


def _gateway_of(http: Any, url: str) -> bytes:
    health = http.get(f"{url.rstrip('/')}/v1/health")
    health.raise_for_status()
    return bytes.fromhex(str(health.json()["gateway"]).removeprefix("0x"))


def _check(
    ctx: Any,
    membership: Any,
    receipt: dict[str, Any],
    gateway: bytes,
    http: Any,
    url: str,
    wait: bool,
    timeout: float,
) -> dict[str, Any]:
    """The receipt's signature now; with ``wait``, its inclusion under the chain's checkpoint."""
    from gateway.client import check_receipt_signature
    from gateway.domain.signing import signing_domain
    from gateway.receipts import StoredReceipt, verify_receipts

    domain = signing_domain(ctx.deployment.chain_id, ctx.deployment.address("Membership"))
    r = check_receipt_signature(receipt, membership=membership, domain=domain, gateway=gateway)
    if not wait:
        return {
            "status": "pending",
            "detail": f"signed by gateway 0x{r.gateway.hex()[:8]}…'s key; anchored by "
            f"{when(r.anchor_by)}: `creditchain receipts verify` (or --wait) proves it then",
        }
    log = ctx.deployment.checkpoint_log(ctx.chain)
    deadline = time.monotonic() + timeout
    while True:
        cp = log.latest(r.log_id)
        if cp is not None and cp.size > r.index:
            break
        if time.monotonic() > deadline:
            return {"status": "overdue", "detail": f"not anchored within {timeout:.0f} s"}
        time.sleep(0.5)
    (verdict,) = verify_receipts(
        [StoredReceipt(url, receipt)],
        chain=ctx.chain,
        deployment=ctx.deployment,
        http=http,
        now=lambda: float(2**63),  # anchored already: check now rather than at anchor_by
    )
    return {"status": verdict.status, "detail": verdict.detail}


def _show(doc: dict[str, Any], denied: dict[str, Any] | None) -> None:
    if denied is not None:
        typer.echo(f"denied: {denied.get('reason') or denied.get('detail')} (the denial is logged)")
    else:
        records = doc["records"]
        typer.echo(f"allowed under grant {doc['grant_id']}: {len(records)} record(s)")
        for rec in records:
            typer.echo(f"  {rec['category']}  {rec['record_id']}  status {rec['status']}")
            for name, value in sorted(rec["fields"].items()):
                typer.echo(f"    {name}: {value}")
    r, check = doc["access_receipt"], doc["receipt_check"]
    typer.echo(
        f"access receipt: access log index {r['index']} — {check['status']}: {check['detail']}"
    )
