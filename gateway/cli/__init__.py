"""The ``creditchain`` command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer

from gateway.cli._audit import audit_app
from gateway.cli._backup import backup, restore
from gateway.cli._chain import chain_app
from gateway.cli._check import check
from gateway.cli._keys import keys_app
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


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "verify":
        _solo("verify", verify)()
        return
    app()


__all__ = ["app", "main"]
