"""``creditchain verify BUNDLE``: verify a proof bundle against the chain, without a gateway.

Exit codes: 0 the bundle is valid; 1 it is not (the failing check is named, e.g.
``INVALID: inclusion: …``; a bundle that is not even a bundle fails check ``malformed``);
2 no verdict — a usage or infrastructure error (unreadable file, unreachable RPC, missing
or mismatched manifest, a chain query that failed).

The trust root (chain id, Membership and CheckpointLog addresses) comes from the
deployment manifest given with ``--manifest`` (default: the data dir's), never from the
bundle, and the chain is checked against it (chain id and contract code) before use. The
record's lifecycle status is read from that manifest's RecordStatus contract; a manifest
without one (written before it existed) is a no-verdict error, not "active".

A valid bundle of a record that is no longer active still exits 0; the ``status`` line says
what became of it — ``corrected — superseded by <record id> (since <time>)``, ``erased
(since <time>)``, … — and ``changed by`` the org that made the change (``--json``:
``status``, ``successor``, ``status_updated_at``, ``status_actor``).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from gateway._config import default_data_dir
from gateway.cli._chain import DataDir, JsonFlag
from gateway.cli._output import EXIT_FAILURE, EXIT_USAGE, command, emit_json, fail
from gateway.domain.canonical import parse_json
from gateway.domain.errors import CanonicalizationError
from gateway.verify import (
    BundleMalformed,
    ChainQueryFailed,
    JsonRpc,
    RpcClient,
    VerificationError,
    VerificationResult,
    parse_bundle,
    verify_bundle,
)
from gateway.verify._manifest import Manifest, local_rpc_url
from node.errors import NodeError

__all__ = ["verify"]


@command
def verify(
    bundle: Annotated[
        Path,
        typer.Argument(
            help="Proof bundle JSON file ('-' reads standard input).", show_default=False
        ),
    ],
    rpc: Annotated[
        str | None, typer.Option(help="JSON-RPC URL (default: the data dir's running node).")
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(help="Trusted deployment manifest (default: the data dir's)."),
    ] = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Verify a proof bundle: signatures, leaf, inclusion, on-chain checkpoint, status.

    Exit 0: valid. 1: invalid, naming the failing check. 2: no verdict (file, chain, manifest).
    """
    data = data_dir or default_data_dir()
    document = _read_bundle(bundle)
    try:
        obj = parse_json(document)
        parse_bundle(obj)  # a malformed bundle needs no chain to be refused
    except CanonicalizationError as exc:
        _invalid(BundleMalformed(f"not JSON: {exc}"), as_json)
    except VerificationError as exc:
        _invalid(exc, as_json)

    # The chain is asked over raw JSON-RPC (gateway/verify/_rpc.py): no web3 to import.
    try:
        trusted = Manifest.load(manifest or data / "chain" / "deployment.json")
        chain = open_rpc(data, rpc)
    except NodeError as exc:
        fail(str(exc), EXIT_USAGE)
    except ValueError as exc:  # not an HTTP(S) URL
        fail(str(exc), EXIT_USAGE)
    try:
        try:
            trusted.check(chain)
        except NodeError as exc:
            fail(str(exc), EXIT_USAGE)
        except Exception as exc:
            if os.environ.get("CREDITCHAIN_DEBUG"):
                raise
            fail(f"cannot check the chain against the manifest: {exc}", EXIT_USAGE)
        try:
            result = verify_bundle(obj, trusted.chain_view(chain), trusted=trusted.trust_root())
        except VerificationError as exc:
            _invalid(exc, as_json)
        except ChainQueryFailed as exc:
            fail(f"no verdict: {exc}", EXIT_USAGE)
    finally:
        chain.close()
    _valid(result, as_json)


def open_rpc(data_dir: Path, rpc: str | None) -> RpcClient:
    """The chain's JSON-RPC: ``rpc`` if given, else the data dir's running node."""
    return JsonRpc(rpc or local_rpc_url(data_dir))


def _read_bundle(path: Path) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE)


def _invalid(exc: VerificationError, as_json: bool) -> NoReturn:
    if as_json:
        emit_json(
            {
                "valid": False,
                "check": exc.check,
                "detail": exc.detail,
                "passed": list(exc.passed),
            }
        )
    else:
        typer.echo(f"INVALID: {exc.check}: {exc.detail}")
    raise typer.Exit(EXIT_FAILURE)


def _valid(result: VerificationResult, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_json())
        return
    rows: list[tuple[str, Any]] = [
        ("status", _status_line(result)),
        *([("changed by", result.status_actor)] if result.status_actor else []),
        ("category", result.category),
        ("department", f"{result.org} (signer {result.department_signer})"),
        ("gateway", f"{result.gateway} (signer {result.gateway_signer})"),
        ("log", f"{result.log_id} index {result.index}"),
        ("checkpoint", f"size {result.checkpoint_size}, anchored in block {result.anchor_block}"),
        (
            "record",
            "included and matches the commitment"
            if result.record_included
            else "NOT included: this bundle proves the commitment, not the record's content",
        ),
        ("subject", "checked" if result.subject_checked else "not checked (needs the pepper)"),
        ("checks", ", ".join(result.checks)),
    ]
    typer.echo(f"VALID: record {result.record_id}")
    for name, value in rows:
        typer.echo(f"  {name:<11} {value}")


def _status_line(result: VerificationResult) -> str:
    """``corrected — superseded by <id> (since <time>)``, ``erased (since <time>)``,
    ``active``."""
    line = result.status
    if result.successor is not None:
        line += f" — superseded by {result.successor}"
    if result.status_updated_at is not None:
        line += f" (since {_utc(result.status_updated_at)})"
    return line


def _utc(timestamp: int) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # not a plausible block time
        return f"block time {timestamp}"
