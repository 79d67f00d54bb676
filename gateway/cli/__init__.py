"""The ``creditchain`` command."""

from __future__ import annotations

import typer

from gateway.cli._chain import chain_app

app = typer.Typer(
    name="creditchain",
    help="creditchain: a blockchain-witnessed, consent-gated network for public credit records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(chain_app, name="chain")


def main() -> None:
    app()


__all__ = ["app", "main"]
