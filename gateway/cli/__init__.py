"""The ``creditchain`` command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import typer

from gateway.cli._audit import audit_app
from gateway.cli._backup import backup, restore
from gateway.cli._chain import chain_app
from gateway.cli._check import check
from gateway.cli._grant import grant_app
from gateway.cli._keys import keys_app
from gateway.cli._network import network_app
from gateway.cli._read import read
from gateway.cli._receipts import receipts_app
from gateway.cli._serve import serve
from gateway.cli._subject import subject_app
from gateway.cli._submit import submit
from gateway.cli._verify import verify

app = typer.Typer(
    name="creditchain",
    help="creditchain: a blockchain-witnessed, consent-gated network for public credit records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(chain_app, name="chain")
app.command("serve")(serve)
app.command("submit")(submit)
app.command("check")(check)
app.command("verify")(verify)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(subject_app, name="subject")
app.add_typer(receipts_app, name="receipts")
app.command("backup")(backup)
app.command("restore")(restore)
app.add_typer(grant_app, name="grant")
app.command("read")(read)
app.add_typer(network_app, name="network")


def _solo(name: str, fn: Callable[..., Any]) -> typer.Typer:
    """An app of one command: typer builds every command's parameters (a pydantic adapter
    each) before it runs any, so ``creditchain verify`` — which should start in well under
    half a second — gets an app with only itself in it."""
    solo = typer.Typer(
        name="creditchain",
        help=app.info.help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    solo.command(name)(fn)

    @solo.callback()
    def root() -> None:
        pass

    return solo


class _NotPlain(Exception):
    """The arguments are not a plain ``verify`` invocation: let typer parse them."""


def _plain_verify(args: list[str]) -> dict[str, Any] | None:
    """``creditchain verify``'s keyword arguments when ``args`` are a plain invocation (the
    bundle and the documented options, well formed, no ``--help``); None otherwise. Typer
    builds a pydantic adapter per parameter (~0.1 s of imports alone) before it runs a
    command: for the partner city's most frequent call this parse is all that is needed, and
    anything else — help, a typo, a missing bundle — goes to typer, for its usual answer."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise _NotPlain(message)

    if any(a in ("--help", "-h") for a in args):
        return None
    parser = Parser(add_help=False, allow_abbrev=False)
    parser.add_argument("bundle")
    for option in ("--rpc", "--manifest", "--data-dir"):
        parser.add_argument(option)
    parser.add_argument("--json", action="store_true")
    try:
        ns = parser.parse_args(args)
    except _NotPlain:
        return None
    return {
        "bundle": Path(ns.bundle),
        "rpc": ns.rpc,
        "manifest": None if ns.manifest is None else Path(ns.manifest),
        "data_dir": None if ns.data_dir is None else Path(ns.data_dir),
        "as_json": ns.json,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "verify":
        plain = _plain_verify(sys.argv[2:])
        if plain is None:
            _solo("verify", verify)()
            return
        try:
            verify(**plain)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        return
    app()


__all__ = ["app", "main"]
