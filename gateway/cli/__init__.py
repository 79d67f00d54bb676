"""The ``creditchain`` command."""

from __future__ import annotations

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


def main() -> None:
    app()


__all__ = ["app", "main"]
