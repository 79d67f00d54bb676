"""`creditchain audit reconcile`: usage errors are one line and exit 2."""

from __future__ import annotations

from typer.testing import CliRunner

from gateway.cli import app


def test_an_unknown_city_is_a_usage_error() -> None:
    r = CliRunner().invoke(app, ["audit", "reconcile", "--city", "atlantis"])
    assert r.exit_code == 2
    assert "GB/T 2260" in r.output


def test_reconcile_is_registered_under_audit() -> None:
    r = CliRunner().invoke(app, ["audit", "--help"])
    assert "reconcile" in r.output
