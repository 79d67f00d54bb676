"""``creditchain grant …``: create, list and revoke the consent or statutory grants that reads
need (``Grants.sol``), as a credit office, a grantee or the subject itself.

Who may do what is the contract's rule: a credit office creates statutory grants (any subject
or one) and consent grants; a grantee creates the consent grants it holds evidence for; a
subject whose key a credit office bound (``grant bind-key``) signs its own consent, relayed by
any member; the grant's registrar or a credit office revokes it, a subject its own consent.
"""

from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gateway.cli._output import EXIT_USAGE, command, emit_json, fail

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from gateway.domain.catalog import Catalog
    from node import Chain, Deployment, Grant

grant_app = typer.Typer(
    help="Consent and statutory grants on chain: create, list, revoke; bind a subject's key.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        show_default=False,
        help="Data directory (dev orgs, manifest, chain, pepper) [env CREDITCHAIN_DATA_DIR].",
    ),
]
Rpc = Annotated[
    str | None, typer.Option(help="Chain JSON-RPC URL (default: the data dir's running chain).")
]
Manifest = Annotated[
    Path | None, typer.Option(help="Deployment manifest (default: the data dir's).")
]
AsOrg = Annotated[
    str | None,
    typer.Option("--as", help="Act as this org of the dev consortium (credit-office, bank, …)."),
]
Keystore = Annotated[Path | None, typer.Option(help="The acting org's signing keystore.")]
OrgId = Annotated[str | None, typer.Option("--org", help="The acting org's id (with --keystore).")]
PasswordFile = Annotated[Path | None, typer.Option(help="Keystore password file.")]
SubjectPasswordFile = Annotated[
    Path | None,
    typer.Option(
        help="The subject keystore's password file [else env CREDITCHAIN_KEYSTORE_PASSWORD]."
    ),
]
PepperFile = Annotated[
    Path | None,
    typer.Option(help="The network pepper (hex) [default: <data dir>/keys/pepper]."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]

_ZERO = b"\x00" * 32

# The contract's refusals, as one line a user can act on.
_REVERTS = {
    "NotCreditOffice": "only a credit office may do this (statutory grants, key bindings)",
    "NotGranteeOrCreditOffice": "a consent grant is created by its grantee or a credit office",
    "NotRegistrarOrCreditOffice": "only the grant's registrar or a credit office may revoke it",
    "GranteeNotActive": "the grantee is not an active member",
    "InvalidValidity": "the validity window is empty or already over",
    "InvalidGrantParameters": "a grant needs a purpose, categories and evidence",
    "AnySubjectRequiresStatutoryBasis": "only a statutory grant may cover any subject",
    "SubjectKeyNotBound": "no key is bound to this subject: a credit office runs "
    "`creditchain grant bind-key` first",
    "InvalidSubjectSignature": "the subject key is not the one bound to this subject",
    "ConsentBasisRequired": "a subject signs (and revokes) consent grants only",
    "UnknownGrant": "no such grant",
    "GrantAlreadyRevoked": "the grant is revoked already",
    "GrantExists": "this grant exists already",
    "NotMemberSigner": "the key is not a registered member's signing key",
    "CallerOrgNotActive": "the acting org is suspended",
}


@dataclass(frozen=True)
class ChainContext:
    """The chain, the deployment and the catalog a grant or read command works against."""

    chain: Chain
    deployment: Deployment
    catalog: Catalog
    data_dir: Path


def chain_context(data_dir: Path | None, rpc: str | None, manifest: Path | None) -> ChainContext:
    from gateway._config import default_data_dir
    from gateway.domain.catalog import load_catalog
    from node import ChainPaths, Deployment, open_chain

    data = data_dir or default_data_dir()
    path = manifest or ChainPaths(data).manifest
    if not path.exists():
        fail(f"no deployment manifest at {path}: pass --manifest or the gateway's --data-dir")
    deployment = Deployment.load(path)
    chain = open_chain(data, rpc)
    deployment.check(chain)
    return ChainContext(chain, deployment, load_catalog(), data)


def acting_org(
    data_dir: Path,
    as_org: str | None,
    keystore: Path | None,
    org: str | None,
    password_file: Path | None,
) -> tuple[LocalAccount, bytes]:
    """The acting org's key and id: a dev consortium slug, or a keystore and an org id."""
    from gateway._devnet import load_consortium
    from node import load_keystore

    if as_org:
        orgs = load_consortium(data_dir)
        if as_org not in orgs:
            fail(f"no org {as_org!r} in the dev consortium; have {', '.join(orgs)}", EXIT_USAGE)
        return orgs[as_org].account(), bytes.fromhex(orgs[as_org].org_id[2:])
    if keystore is None or org is None:
        fail("name the acting org: --as SLUG (dev) or --keystore FILE --org 0x…", EXIT_USAGE)
    password = (
        password_file.read_text().strip()
        if password_file
        else os.environ.get("CREDITCHAIN_KEYSTORE_PASSWORD", "")
    )
    return load_keystore(keystore, password), parse_org(org)


def parse_org(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        fail(f"{value!r} is not an org id (0x and 64 hex digits)", EXIT_USAGE)
    return raw


def org_ref(data_dir: Path, value: str) -> bytes:
    """An org named by its 0x id, a dev consortium slug (``bank``), or, in a network made by
    `creditchain network up`, another city's slug (``lanzhou:bank``)."""
    if value.startswith("0x"):
        return parse_org(value)
    from gateway._devnet import load_consortium

    city, _, slug = value.rpartition(":")
    where = data_dir.parent / city if city else data_dir
    if city and not (where / "consortium.json").exists():
        fail(f"no city {city!r} next to {data_dir} (a `creditchain network` city?)", EXIT_USAGE)
    orgs = load_consortium(where)
    if slug not in orgs:
        fail(f"no org {slug!r} in the dev consortium; have {', '.join(orgs)}", EXIT_USAGE)
    return bytes.fromhex(orgs[slug].org_id[2:])


def subject_arg(value: str) -> dict[str, str]:
    """``KIND:ID`` → a subject object, the identifier normalised and its check character
    verified (a mistyped identifier fails here, not as an empty read)."""
    from gateway.domain.errors import InvalidIdentifier
    from gateway.domain.identifiers import parse_subject_id

    kind, _, ident = value.partition(":")
    if kind not in ("uscc", "resident_id") or not ident:
        fail("--subject is KIND:ID with KIND uscc or resident_id, e.g. uscc:…", EXIT_USAGE)
    try:
        parsed = parse_subject_id(ident, kind=kind)  # type: ignore[arg-type]
    except InvalidIdentifier as exc:
        fail(f"--subject: {exc}", EXIT_USAGE)
    return {"kind": parsed.kind, "id": parsed.value}


def read_pepper(data_dir: Path, pepper_file: Path | None) -> bytes:
    """The network pepper: the file's first word, in hex."""
    path = pepper_file or data_dir / "keys" / "pepper"
    try:
        words = path.read_text().split()
        pepper = bytes.fromhex(words[0])
    except OSError as exc:
        fail(
            f"cannot read the network pepper at {path} ({exc.strerror}): "
            "pass --pepper-file (from your consortium's credit office)"
        )
    except (ValueError, IndexError):
        fail(f"{path} does not hold a pepper in hex")
    if len(pepper) < 32:
        fail(f"{path}: the pepper is shorter than 32 bytes")
    return pepper


def categories_arg(catalog: Catalog, value: str) -> tuple[list[str], int]:
    from gateway.domain.errors import UnknownCategory

    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        fail("--categories names one or more catalog categories, comma-separated", EXIT_USAGE)
    try:
        return names, catalog.category_mask(names)
    except (UnknownCategory, KeyError, ValueError) as exc:
        fail(f"--categories: {exc}", EXIT_USAGE)


def purpose_arg(catalog: Catalog, value: str) -> str:
    from gateway.domain.errors import DomainError

    try:
        return str(catalog.purpose(value).code)
    except (DomainError, KeyError) as exc:
        fail(f"--purpose: {exc}", EXIT_USAGE)


def _transact(what: str, fn: Any) -> Any:
    from node import ContractRevert

    try:
        return fn()
    except ContractRevert as exc:
        why = _REVERTS.get(exc.name, str(exc))
        fail(f"{what} was refused by the Grants contract: {why} [{exc.name}]")


def grant_json(g: Grant, catalog: Catalog) -> dict[str, Any]:
    purposes = {_purpose_hash(p): p for p in _purpose_codes(catalog)}
    return {
        "grant_id": "0x" + g.grant_id.hex(),
        "basis": g.basis.name.lower(),
        "subject": None if g.subject == _ZERO else "0x" + g.subject.hex(),
        "grantee": "0x" + g.grantee.hex(),
        "registrar": None if g.registrar == _ZERO else "0x" + g.registrar.hex(),
        "purpose": purposes.get(g.purpose, "0x" + g.purpose.hex()),
        "categories": _categories_of(catalog, g.categories),
        "valid_from": g.valid_from,
        "valid_until": g.valid_until,
        "created_at": g.created_at,
        "revoked_at": g.revoked_at or None,
        "evidence_hash": "0x" + g.evidence_hash.hex(),
    }


def _purpose_codes(catalog: Catalog) -> list[str]:
    return list(catalog.purposes)


def _purpose_hash(code: str) -> bytes:
    from node import purpose_id

    return purpose_id(code)


def _categories_of(catalog: Catalog, mask: int) -> list[str]:
    return list(catalog.categories_of(mask))


def when(ts: int) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@grant_app.command("create")
@command
def create(
    grantee: Annotated[
        str,
        typer.Option(
            help="Who may read: org id 0x…, dev slug (bank), or CITY:SLUG (lanzhou:bank)."
        ),
    ],
    purpose: Annotated[str, typer.Option(help="Catalog purpose code, e.g. loan_approval.")],
    categories: Annotated[str, typer.Option(help="Catalog categories, comma-separated.")],
    evidence: Annotated[
        str,
        typer.Option(
            help="The consent form's or the law's reference; only its SHA-256 goes on chain."
        ),
    ],
    subject: Annotated[
        str | None, typer.Option(help="The subject, KIND:ID (omit with --any-subject).")
    ] = None,
    any_subject: Annotated[
        bool, typer.Option(help="A statutory grant covering every subject.")
    ] = False,
    statutory: Annotated[
        bool, typer.Option(help="Statutory basis (credit office only); default: consent.")
    ] = False,
    days: Annotated[int, typer.Option(min=1, help="Valid for this many days from now.")] = 365,
    subject_keystore: Annotated[
        Path | None,
        typer.Option(
            help="The subject signs its own consent with this key (bound by a credit office); "
            "--as/--keystore then only relays the transaction."
        ),
    ] = None,
    subject_password_file: SubjectPasswordFile = None,
    as_org: AsOrg = None,
    keystore: Keystore = None,
    org: OrgId = None,
    password_file: PasswordFile = None,
    pepper_file: PepperFile = None,
    data_dir: DataDir = None,
    rpc: Rpc = None,
    manifest: Manifest = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a consent grant (by its grantee, a credit office, or the subject's own key) or
    a statutory grant (credit office); print its id."""
    from gateway.client import grant_params, subject_ref

    if (subject is None) == (not any_subject):
        fail("name the subject (--subject KIND:ID) or pass --any-subject", EXIT_USAGE)
    if any_subject and not statutory:
        fail("--any-subject needs --statutory: consent is always one subject's", EXIT_USAGE)
    if subject_keystore is not None and statutory:
        fail("a subject signs consent grants only (drop --statutory)", EXIT_USAGE)
    ctx = chain_context(data_dir, rpc, manifest)
    account, _ = acting_org(ctx.data_dir, as_org, keystore, org, password_file)
    who = subject_arg(subject) if subject else None
    names, mask = categories_arg(ctx.catalog, categories)
    code = purpose_arg(ctx.catalog, purpose)
    ref = subject_ref(read_pepper(ctx.data_dir, pepper_file), who) if who else None
    now = int(ctx.chain.w3.eth.get_block("latest")["timestamp"])
    params = grant_params(
        subject=ref,
        grantee=org_ref(ctx.data_dir, grantee),
        purpose=code,
        category_mask=mask,
        valid_from=now - 60,
        valid_until=now + days * 86_400,
        statutory=statutory,
        evidence=evidence.encode(),
    )
    nonce = os.urandom(32)
    grants = ctx.deployment.grants(ctx.chain)
    if subject_keystore is not None:
        key = _subject_key(subject_keystore, subject_password_file)
        deadline = now + 600
        signature = grants.sign_grant(key, params, nonce, deadline)
        tx = _transact(
            "creating the grant",
            lambda: grants.create_grant_by_subject(account, params, nonce, deadline, signature),
        )
    else:
        tx = _transact("creating the grant", lambda: grants.create_grant(account, params, nonce))
    grant_id = params.grant_id(nonce)
    doc = grant_json(grants.grant(grant_id), ctx.catalog)
    doc["transaction"] = _tx_hash(tx)
    if as_json:
        emit_json(doc)
        return
    scope = f"{who['kind']}:…{who['id'][-4:]}" if who else "any subject"
    typer.echo(
        f"grant {doc['grant_id']}\n  {doc['basis']} · {scope} · grantee {doc['grantee']}\n"
        f"  purpose {code} · categories {', '.join(names)}\n"
        f"  valid {when(params.valid_from)} → {when(params.valid_until)}"
    )


def _subject_key(keystore: Path, password_file: Path | None) -> LocalAccount:
    from node import load_keystore

    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            fail(f"cannot read {password_file}: {exc.strerror}")
    else:
        password = os.environ.get("CREDITCHAIN_KEYSTORE_PASSWORD", "")
    return load_keystore(keystore, password)


def _tx_hash(tx: Any) -> str | None:
    try:
        value = tx["transactionHash"]
    except (KeyError, TypeError):
        return None
    return "0x" + bytes(value).hex()


@grant_app.command("list")
@command
def list_grants(
    subject: Annotated[str | None, typer.Option(help="Only grants naming KIND:ID.")] = None,
    grantee: Annotated[
        str | None, typer.Option(help="Only grants to this grantee (slug or 0x id).")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Include revoked and expired grants.")
    ] = False,
    pepper_file: PepperFile = None,
    data_dir: DataDir = None,
    rpc: Rpc = None,
    manifest: Manifest = None,
    as_json: JsonFlag = False,
) -> None:
    """List grants from the chain (by subject and/or grantee), newest first; live ones only
    unless --all."""
    from gateway.client import subject_ref

    if subject is None and grantee is None:
        fail("name --subject KIND:ID and/or --grantee SLUG|0x…", EXIT_USAGE)
    ctx = chain_context(data_dir, rpc, manifest)
    grants = ctx.deployment.grants(ctx.chain)
    ref = (
        subject_ref(read_pepper(ctx.data_dir, pepper_file), subject_arg(subject))
        if subject
        else None
    )
    grantee_id = org_ref(ctx.data_dir, grantee) if grantee else None
    ids = grants.grant_ids(subject=ref, grantee=grantee_id)
    if ref is not None and grantee_id is not None:  # statutory grants for any subject too
        ids += grants.grant_ids(subject=_ZERO, grantee=grantee_id)
    now = int(time.time())
    rows = []
    for gid in sorted(set(ids), key=ids.index, reverse=True):
        g = grants.grant(gid)
        live = not g.revoked and g.valid_from <= now < g.valid_until
        if live or show_all:
            rows.append({**grant_json(g, ctx.catalog), "live": live})
    if as_json:
        emit_json({"grants": rows})
        return
    if not rows:
        typer.echo("no grants" + ("" if show_all else " live (--all shows the others)"))
    for r in rows:
        state = "live" if r["live"] else ("revoked" if r["revoked_at"] else "not in force")
        typer.echo(
            f"{r['grant_id']}  {state:<12} {r['basis']:<9} {r['purpose']:<22} "
            f"{','.join(r['categories'])}  until {when(r['valid_until'])}"
        )


@grant_app.command("revoke")
@command
def revoke(
    grant_id: Annotated[str, typer.Argument(help="The grant id, 0x….")],
    subject_keystore: Annotated[
        Path | None,
        typer.Option(help="The subject revokes its own consent with its bound key."),
    ] = None,
    subject_password_file: SubjectPasswordFile = None,
    as_org: AsOrg = None,
    keystore: Keystore = None,
    org: OrgId = None,
    password_file: PasswordFile = None,
    data_dir: DataDir = None,
    rpc: Rpc = None,
    manifest: Manifest = None,
    as_json: JsonFlag = False,
) -> None:
    """Revoke a grant: its registrar or a credit office, or the subject (its consent)."""

    gid = parse_org(grant_id)
    ctx = chain_context(data_dir, rpc, manifest)
    account, _ = acting_org(ctx.data_dir, as_org, keystore, org, password_file)
    grants = ctx.deployment.grants(ctx.chain)
    if subject_keystore is not None:
        key = _subject_key(subject_keystore, subject_password_file)
        deadline = int(ctx.chain.w3.eth.get_block("latest")["timestamp"]) + 600
        signature = grants.sign_revocation(key, gid, deadline)
        tx = _transact(
            "revoking the grant",
            lambda: grants.revoke_by_subject(account, gid, deadline, signature),
        )
    else:
        tx = _transact("revoking the grant", lambda: grants.revoke_grant(account, gid))
    g = grants.grant(gid)
    if as_json:
        emit_json({**grant_json(g, ctx.catalog), "transaction": _tx_hash(tx)})
    else:
        typer.echo(f"grant 0x{gid.hex()} revoked at {when(g.revoked_at)}")


@grant_app.command("bind-key")
@command
def bind_key(
    subject: Annotated[str, typer.Option(help="The subject, KIND:ID (checked in person).")],
    key: Annotated[str, typer.Option(help="The subject's own key (0x address).")],
    as_org: AsOrg = None,
    keystore: Keystore = None,
    org: OrgId = None,
    password_file: PasswordFile = None,
    pepper_file: PepperFile = None,
    data_dir: DataDir = None,
    rpc: Rpc = None,
    manifest: Manifest = None,
    as_json: JsonFlag = False,
) -> None:
    """As a credit office, bind a subject's own key in Grants: the subject can then sign its
    consent (`grant create --subject-keystore`), revoke it, and see who read its file."""
    from eth_utils.address import is_hex_address, to_checksum_address

    from gateway.client import subject_ref

    if not is_hex_address(key):
        fail("--key is a 0x address", EXIT_USAGE)
    ctx = chain_context(data_dir, rpc, manifest)
    account, _ = acting_org(ctx.data_dir, as_org, keystore, org, password_file)
    ref = subject_ref(read_pepper(ctx.data_dir, pepper_file), subject_arg(subject))
    grants = ctx.deployment.grants(ctx.chain)
    address = to_checksum_address(key)
    tx = _transact("binding the key", lambda: grants.bind_subject_key(account, ref, address))
    if as_json:
        emit_json({"subject": "0x" + ref.hex(), "key": address, "transaction": _tx_hash(tx)})
    else:
        typer.echo(f"key {address} bound to the subject")
