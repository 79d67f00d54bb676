"""``creditchain subject …``: a credit office certifies a session; a subject sees who read its
file and its own file (docs/formats.md §9.1)."""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli._output import EXIT_USAGE, GatewayUrl, command, emit_json, fail

subject_app = typer.Typer(
    help="Data subjects: sessions from a credit office; who read my file; my file.",
    no_args_is_help=True,
)

Url = GatewayUrl
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", show_default=False, help="Data directory (manifest, dev orgs)."),
]
Manifest = Annotated[
    Path | None, typer.Option(help="Deployment manifest (default: the data dir's).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SessionFile = Annotated[
    Path | None, typer.Option("--session", help="Session file from `subject session`.")
]
BoundKey = Annotated[Path | None, typer.Option("--keystore", help="The key bound in Grants.")]
SubjectArg = Annotated[str | None, typer.Option("--subject", help="KIND:ID (with --keystore).")]


def _subject_arg(value: str) -> dict[str, str]:
    kind, _, ident = value.partition(":")
    if not kind or not ident:
        fail("--subject is KIND:ID, e.g. uscc:91610800MA0000001X", EXIT_USAGE)
    return {"kind": kind, "id": ident}


def _deployment(data_dir: Path | None, manifest: Path | None) -> Any:
    from gateway._config import default_data_dir
    from node import ChainPaths, Deployment

    return Deployment.load(manifest or ChainPaths(data_dir or default_data_dir()).manifest)


@subject_app.command("session")
@command
def session(
    subject: Annotated[str, typer.Option(help="The subject, KIND:ID (checked at the counter).")],
    out: Annotated[Path, typer.Option(help="Write the session file here (mode 0600).")],
    session_key: Annotated[
        str | None,
        typer.Option(help="Certify the subject's own key (0x address); default: a new key."),
    ] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (at most 900).")] = 600,
    as_org: Annotated[str | None, typer.Option("--as", help="Dev consortium org.")] = None,
    keystore: Annotated[Path | None, typer.Option(help="The credit office's keystore.")] = None,
    org: Annotated[str | None, typer.Option(help="The office's org id (with --keystore).")] = None,
    data_dir: DataDir = None,
    manifest: Manifest = None,
    as_json: JsonFlag = False,
) -> None:
    """As a credit office, certify a short-lived session key for a subject whose identity was
    checked in person. Without --session-key a new key is made and written to the file."""
    from eth_account import Account
    from eth_utils.address import is_hex_address

    from gateway._config import default_data_dir
    from gateway._devnet import load_consortium
    from gateway.client import SESSION_MAX_SECONDS, build_subject_session
    from node import load_keystore

    who = _subject_arg(subject)
    if not 0 < ttl <= SESSION_MAX_SECONDS:
        fail(f"--ttl is 1 to {SESSION_MAX_SECONDS} seconds", EXIT_USAGE)
    if session_key is not None and not is_hex_address(session_key):
        fail("--session-key is a 0x address", EXIT_USAGE)
    if as_org:
        member = load_consortium(data_dir or default_data_dir())[as_org]
        account, org_id = member.account(), member.org_id
    elif keystore and org:
        account = load_keystore(keystore, os.environ.get("CREDITCHAIN_KEYSTORE_PASSWORD", ""))
        org_id = org
    else:
        fail("name the credit office: --as SLUG (dev) or --keystore FILE --org 0x…", EXIT_USAGE)
    deployment = _deployment(data_dir, manifest)
    new_key = Account.create() if session_key is None else None
    key_address = new_key.address if new_key is not None else session_key
    assert key_address is not None
    issued_at = int(time.time())
    certificate = build_subject_session(
        account,
        chain_id=deployment.chain_id,
        membership=deployment.address("Membership"),
        issuer=bytes.fromhex(org_id.removeprefix("0x")),
        subject=who,
        session_key=key_address,
        issued_at=issued_at,
        ttl=ttl,
        salt=os.urandom(32),
    )
    doc: dict[str, Any] = {"subject": who, "session": certificate}
    if new_key is not None:
        doc["session_private_key"] = "0x" + bytes(new_key.key).hex()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    until = datetime.datetime.fromtimestamp(certificate["expires_at"], datetime.UTC)
    if as_json:
        emit_json({"file": str(out), "session_key": key_address, **certificate})
    else:
        typer.echo(f"session for {who['kind']}:… valid until {until:%Y-%m-%d %H:%M:%S} UTC → {out}")


def _subject_client(
    url: str,
    session_file: Path | None,
    keystore: Path | None,
    subject: str | None,
    data_dir: Path | None,
    manifest: Path | None,
) -> Any:
    from eth_account import Account

    from gateway.client import SubjectClient
    from gateway.domain.canonical import parse_json
    from gateway.domain.errors import CanonicalizationError
    from node import load_keystore

    deployment = _deployment(data_dir, manifest)
    if session_file is not None:
        try:
            doc: Any = parse_json(session_file.read_bytes())  # strict and depth-bounded
            who, certificate = doc["subject"], doc["session"]
            key = Account.from_key(doc["session_private_key"])
        except OSError as exc:
            fail(f"cannot read {session_file}: {exc.strerror}", EXIT_USAGE)
        except (CanonicalizationError, ValueError, KeyError, TypeError):
            fail(f"{session_file} is not a session file with its private key", EXIT_USAGE)
        return SubjectClient(
            url,
            key,
            who,
            chain_id=deployment.chain_id,
            membership=deployment.address("Membership"),
            session=certificate,
        )
    if keystore is None or subject is None:
        fail("authenticate: --session FILE, or --keystore FILE --subject KIND:ID", EXIT_USAGE)
    key = load_keystore(keystore, os.environ.get("CREDITCHAIN_KEYSTORE_PASSWORD", ""))
    return SubjectClient(
        url,
        key,
        _subject_arg(subject),
        chain_id=deployment.chain_id,
        membership=deployment.address("Membership"),
    )


def _call(client: Any, what: str) -> dict[str, Any]:
    import httpx

    from gateway.client import ClientError

    try:
        with client:
            answer: dict[str, Any] = getattr(client, what)()
            return answer
    except ClientError as exc:
        fail(str(exc))
    except httpx.HTTPError as exc:
        fail(f"cannot reach the gateway at {client.base_url}: {exc}", EXIT_USAGE)


@subject_app.command("accesses")
@command
def accesses(
    url: Url = "http://127.0.0.1:8080",
    session_file: SessionFile = None,
    keystore: BoundKey = None,
    subject: SubjectArg = None,
    data_dir: DataDir = None,
    manifest: Manifest = None,
    as_json: JsonFlag = False,
) -> None:
    """Who read my file: every access decision about the subject, allowed or denied, with its
    access-log entry and inclusion proof (--json prints them)."""
    client = _subject_client(url, session_file, keystore, subject, data_dir, manifest)
    answer = _call(client, "accesses")
    if as_json:
        emit_json(answer)
        return
    decisions = answer["decisions"]
    typer.echo(f"{len(decisions)} decision(s) about this subject")
    for d in decisions:
        when = datetime.datetime.fromtimestamp(d["decided_at"], datetime.UTC)
        proof = "proved" if d.get("inclusion") is not None else "pending anchor"
        typer.echo(
            f"{when:%Y-%m-%d %H:%M:%S}  {d['decision']:5}  {d['requester']}  "
            f"{d['purpose']}  {d['basis'] or '-'}  {d['reason'] or ''}  [{proof}]"
        )


@subject_app.command("records")
@command
def records(
    url: Url = "http://127.0.0.1:8080",
    session_file: SessionFile = None,
    keystore: BoundKey = None,
    subject: SubjectArg = None,
    data_dir: DataDir = None,
    manifest: Manifest = None,
    as_json: JsonFlag = False,
) -> None:
    """My file: every record about the subject, whatever its status."""
    client = _subject_client(url, session_file, keystore, subject, data_dir, manifest)
    answer = _call(client, "records")
    if as_json:
        emit_json(answer)
        return
    typer.echo(f"{len(answer['records'])} record(s)")
    for r in answer["records"]:
        typer.echo(f"{r['record_id']}  {r['category']}  {r['status']}")
