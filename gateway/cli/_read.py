"""``creditchain read``: a member's read end to end — find the grant on chain, build and sign
the ``ReadRequest``, send it, print the released fields, and check the signed access receipt
(its signature against the gateway's registered key now; with ``--wait``, its leaf in the
access log against the checkpoint anchored on chain).

With ``--city``, a cross-city read (docs/formats.md §13): the request goes to the requester's
home gateway, which forwards it to the partner city's gateway found in the on-chain Directory;
the partner's answer is sealed to the requester's registered X25519 key and opened here. Both
receipts are checked: the partner's access receipt and the home gateway's forward receipt."""

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
    city: Annotated[
        str | None,
        typer.Option(
            help="Read another city's records through your home gateway (slug such as yulin, "
            "or GB/T 2260 code); the answer is decrypted here."
        ),
    ] = None,
    x25519_key: Annotated[
        Path | None,
        typer.Option(
            help="With --city: your org's X25519 private key file (hex) [dev: from the "
            "consortium's keys]."
        ),
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
    partner = _partner(ctx, city) if city is not None else None
    private = _x25519_private(ctx.data_dir, as_org, x25519_key) if partner is not None else b""
    with httpx.Client(timeout=60.0) as http:
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
        query: dict[str, Any] = {
            "purpose": code,
            "categories": names,
            "category_mask": mask,
            "subject": who,
            "record_id": record,
            "grant_id": grant_id,
        }
        try:
            if partner is None:
                answer = client.read(**query)
            else:
                answer = client.read_cross_city(partner[0], private, **query)
        except ClientError as exc:
            if not isinstance(exc.problem.get("access_receipt"), dict):
                fail(
                    f"{exc.problem.get('title', 'refused')}: {exc.problem.get('detail', '')} "
                    f"[{exc.type}]"
                )
            denied = exc.problem
            answer = {
                "decision": "deny",
                "records": [],
                "access_receipt": denied["access_receipt"],
                "forward_receipt": denied.get("forward_receipt"),
            }
        except httpx.HTTPError as exc:
            fail(f"cannot reach the gateway at {url}: {exc}")
        if partner is None:
            check = _check(
                ctx, membership, answer["access_receipt"], expected, http, url, wait, timeout
            )
        else:
            _, partner_org, partner_url = partner
            check = _check(
                ctx, membership, answer["access_receipt"], partner_org, http, partner_url, wait,
                timeout,
            )  # fmt: skip
            forward = answer.get("forward_receipt")
            forward_check = (
                _check(ctx, membership, forward, expected, http, url, wait, timeout)
                if isinstance(forward, dict)
                else {"status": "missing", "detail": "the home gateway gave no forward receipt"}
            )
    doc = {
        **answer,
        "grant_id": "0x" + grant_id.hex() if grant_id else None,
        "reason": denied.get("reason") if denied else None,
        "receipt_check": check,
    }
    if partner is not None:
        doc["city"] = partner[0]
        doc["forward_receipt_check"] = forward_check
    if as_json:
        emit_json(doc)
    else:
        _show(doc, denied)
    checks = [doc["receipt_check"], doc.get("forward_receipt_check", doc["receipt_check"])]
    if denied is not None or any(c["status"] not in ("ok", "pending") for c in checks):
        raise typer.Exit(EXIT_FAILURE)


def _partner(ctx: Any, city: str) -> tuple[int, bytes, str]:
    """The partner city's code, gateway org and URL, from the on-chain Directory."""
    from gateway._devnet import CITIES
    from node import ContractRevert

    code = CITIES[city.lower()].code if city.lower() in CITIES else None
    if code is None:
        if not city.isdigit() or len(city) != 6:
            fail(
                f"--city is a city ({', '.join(CITIES)}) or its 6-digit GB/T 2260 code",
                EXIT_USAGE,
            )
        code = int(city)
    try:
        entry = ctx.deployment.directory(ctx.chain).gateway_of_city(code)
    except ContractRevert as exc:
        fail(f"no active gateway for city {code} in the on-chain directory [{exc.name}]")
    return code, bytes(entry.gateway_org), str(entry.url)


def _x25519_private(data_dir: Path, as_org: str | None, key_file: Path | None) -> bytes:
    """The requester's X25519 private key: ``--x25519-key`` or the dev org's key file."""
    path = key_file
    if path is None:
        if as_org is None:
            fail("a cross-city read needs your X25519 private key: --x25519-key FILE", EXIT_USAGE)
        path = data_dir / "keys" / "orgs" / f"{as_org}.x25519"
    try:
        key = bytes.fromhex(path.read_text().split()[0])
    except OSError as exc:
        fail(f"cannot read the X25519 key {path}: {exc.strerror}")
    except (ValueError, IndexError):
        fail(f"{path} does not hold an X25519 private key in hex")
    if len(key) != 32:
        fail(f"{path}: an X25519 private key is 32 bytes")
    return key


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
        basis = f"under grant {doc['grant_id']}" if doc["grant_id"] else "with no grant"
        typer.echo(f"allowed {basis}: {len(records)} record(s)")
        for rec in records:
            typer.echo(f"  {rec['category']}  {rec['record_id']}  status {rec['status']}")
            for name, value in sorted(rec["fields"].items()):
                typer.echo(f"    {name}: {value}")
    r, check = doc["access_receipt"], doc["receipt_check"]
    where = f"city {doc['city']}'s" if "city" in doc else "the gateway's"
    typer.echo(
        f"access receipt ({where} access log, index {r['index']}) — "
        f"{check['status']}: {check['detail']}"
    )
    if "forward_receipt_check" in doc:
        f, fc = doc.get("forward_receipt") or {}, doc["forward_receipt_check"]
        typer.echo(
            f"forward receipt (your home gateway's access log, index {f.get('index', '?')}) — "
            f"{fc['status']}: {fc['detail']}"
        )
