"""A local chain is the process we started: a taken chain port is refused, never joined
(a second `chain up`, or a second dev gateway with another data dir on the same chain port)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from node import ChainPaths, free_port
from tests.e2e.test_cli_chain import CLI, run, start_up, stop


def test_chain_up_on_a_taken_port_refuses_and_deploys_nothing(tmp_path: Path) -> None:
    port = free_port()
    first, _ = start_up(tmp_path / "a", port)
    try:
        second = run("chain", "up", "--data-dir", str(tmp_path / "b"), "--port", str(port))
    finally:
        stop(first)
    assert second.returncode == 1, second.stdout
    err = second.stderr.strip()
    assert err.startswith(f"error: port {port} is in use already"), err
    assert len(err.splitlines()) == 1
    assert not ChainPaths(tmp_path / "b").manifest.exists()
    # the chain's files are private to the user
    a = ChainPaths(tmp_path / "a")
    dirs = [a.data_dir, a.chain_dir, a.deployer_keystore.parent]
    assert {str(d): oct(d.stat().st_mode & 0o777) for d in dirs} == {str(d): "0o700" for d in dirs}
    files = [a.state_file, a.log_file, a.deployer_keystore, a.deployer_password_file]
    assert {str(f): oct(f.stat().st_mode & 0o777) for f in files} == {
        str(f): "0o600" for f in files
    }


def test_second_dev_gateway_refuses_the_first_ones_chain(tmp_path: Path) -> None:
    port = free_port()
    first, _ = start_up(tmp_path / "a", port)
    try:
        try:
            second = subprocess.run(
                [
                    CLI,
                    "serve",
                    "--dev",
                    "--data-dir",
                    str(tmp_path / "b"),
                    "--chain-port",
                    str(port),
                    "--port",
                    str(free_port()),
                ],
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError("the second dev gateway started on the other chain") from exc
    finally:
        stop(first)
    assert second.returncode == 1
    assert f"port {port} is in use already" in second.stderr
    assert "Traceback" not in second.stderr
    assert not ChainPaths(tmp_path / "b").manifest.exists()
