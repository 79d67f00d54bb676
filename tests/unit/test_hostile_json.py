"""Untrusted JSON outside the gateway's routes (issue 9, finding 1): the client SDK's answers,
the auditor's answers, and the CLI's input files are parsed strictly and depth-bounded, and
the process's recursion limit is back where py-evm needs it (py_ecc had raised it to 100,000,
so C recursion overran the thread stack before Python could refuse it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway import RECURSION_LIMIT
from gateway._audit import verify_log
from gateway.cli import app
from gateway.client import ClientError
from tests.bundle_factory import sample_record
from tests.unit.test_client import ORG, Gateway, client

ROOT = Path(__file__).resolve().parents[2]
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def test_recursion_limit_is_the_evms_not_py_eccs() -> None:
    probe = "import sys, gateway.api._app, gateway.cli, eth, py_ecc; print(sys.getrecursionlimit())"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=True,
    )
    assert int(done.stdout) == RECURSION_LIMIT == 12 * 1024


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_client_refuses_a_deep_answer(body: bytes) -> None:
    answer = httpx.Response(201, content=body, headers={"content-type": "application/json"})
    gateway = Gateway(answer)
    with pytest.raises(ClientError, match="not a JSON object"):
        client(gateway).submit([sample_record(ORG)])


def test_client_ignores_a_deep_problem_document() -> None:
    gateway = Gateway(
        httpx.Response(400, content=DEEP, headers={"content-type": "application/problem+json"})
    )
    with pytest.raises(ClientError) as info:
        client(gateway).submit([sample_record(ORG)])
    assert info.value.status == 400
    assert info.value.type == "about:blank"


def test_auditor_refuses_a_deep_answer() -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=DEEP, headers={"content-type": "application/json"})

    http = httpx.Client(transport=httpx.MockTransport(gateway))
    with pytest.raises(httpx.DecodingError, match="nested deeper"):
        verify_log(http, "https://gw.example", "records", [], sign=_unused_signer)


def _unused_signer(action: str, start: int, end: int) -> dict[str, object]:
    raise AssertionError("the checkpoint answer is refused before any entry is asked for")


def test_auditor_refuses_duplicate_members_in_an_answer() -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"size": 0, "size": 5}')

    http = httpx.Client(transport=httpx.MockTransport(gateway))
    with pytest.raises(httpx.DecodingError, match="duplicate"):
        verify_log(http, "https://gw.example", "records", [], sign=_unused_signer)


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_cli_verify_refuses_a_deep_bundle_file(body: bytes, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(body)
    done = CliRunner().invoke(app, ["verify", str(bundle), "--data-dir", str(tmp_path)])
    assert done.exit_code == 1, done.output
    assert "nested deeper" in done.output


def test_cli_submit_refuses_a_deep_file(tmp_path: Path) -> None:
    records = tmp_path / "records.json"
    records.write_bytes(DEEP)
    done = CliRunner().invoke(app, ["submit", str(records), "--data-dir", str(tmp_path)])
    assert done.exit_code == 1, done.output
    assert "is not JSON" in done.output
    assert "nested deeper" in done.output
