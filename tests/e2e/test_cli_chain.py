"""`creditchain chain up | deploy | status` as a user runs them: real processes, a real anvil."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from gateway.domain.merkle import MemoryTree, leaf_hash
from node import AnvilNode, ChainPaths, Deployment, connect, create_keystore, free_port
from node._local import deployer_account

CLI = str(Path(sys.executable).parent / "creditchain")


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start_up(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [CLI, "chain", "up", "--data-dir", str(data_dir), "--port", str(port), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    text = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        text += line
        if line.startswith("}"):
            return proc, json.loads(text)
    proc.kill()
    raise AssertionError(f"chain up did not report ready: {text!r} {proc.stderr.read()!r}")  # type: ignore[union-attr]


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def status(data_dir: Path) -> dict[str, Any]:
    r = run("chain", "status", "--data-dir", str(data_dir), "--json")
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def test_chain_up_stop_up_keeps_addresses_and_checkpoints(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc, ready = start_up(data, port)
    try:
        assert ready["deployed_now"] is True
        assert set(ready["contracts"]) == {
            "Membership",
            "CheckpointLog",
            "Grants",
            "RecordStatus",
            "Directory",
        }
        # A second `chain up` on the same data dir is refused, in one line.
        second = run("chain", "up", "--data-dir", str(data), "--port", str(free_port()))
        assert second.returncode == 1
        assert second.stderr.strip().startswith("error: a chain for")
        assert len(second.stderr.strip().splitlines()) == 1

        # Anchor two checkpoints of a log with the deployer (it holds LOG_ADMIN_ROLE locally).
        paths = ChainPaths(data)
        deployment = Deployment.load(paths.manifest)
        chain = connect(ready["url"])
        deployer = deployer_account(paths)
        log = deployment.checkpoint_log(chain)
        log_id = b"\x42" * 32
        t = MemoryTree(leaf_hash(b"%d" % i) for i in range(50))
        log.register_log(deployer, log_id, b"\x00" * 32, deployer.address)
        log.anchor(deployer, log_id, 20, t.root(20), [])
        log.anchor(deployer, log_id, 50, t.root(50), t.consistency_proof(20, 50))
        before = status(data)
        assert before["logs"][0]["latest"]["size"] == 50
        assert before["logs"][0]["latest"]["root"] == "0x" + t.root(50).hex()
        assert before["logs"][0]["checkpoints"] == 2
    finally:
        stop(proc)

    stopped = run("chain", "status", "--data-dir", str(data))
    assert stopped.returncode == 1
    assert "no chain is running" in stopped.stderr
    assert "Traceback" not in stopped.stderr

    proc, ready = start_up(data, port)
    try:
        assert ready["deployed_now"] is False
        after = status(data)
    finally:
        stop(proc)
    assert after["contracts"] == before["contracts"]
    assert after["logs"] == before["logs"]
    assert after["chain_id"] == before["chain_id"]
    assert after["head_block"] >= before["head_block"]

    human = None
    proc, _ = start_up(data, port)
    try:
        human = run("chain", "status", "--data-dir", str(data))
    finally:
        stop(proc)
    assert human.returncode == 0
    assert "checkpoints, latest size 50" in human.stdout


def test_chain_up_refuses_a_lost_chain_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, _ = start_up(data, free_port())
    stop(proc)
    ChainPaths(data).state_file.unlink()
    r = run("chain", "up", "--data-dir", str(data), "--port", str(free_port()))
    assert r.returncode == 1
    assert "refusing to deploy a second time" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_chain_deploy_to_an_rpc_url(tmp_path: Path, anvil_node: AnvilNode) -> None:
    password = "correct horse battery"
    keystore = tmp_path / "deployer.json"
    account = create_keystore(keystore, password, scrypt_n=2**12)
    anvil_node.chain().fund(account.address, 10**21)
    pw_file = tmp_path / "pw"
    pw_file.write_text(password + "\n")
    manifest = tmp_path / "consortium.json"
    registrar = Account.create().address

    r = run(
        "chain",
        "deploy",
        "--rpc",
        anvil_node.url,
        "--keystore",
        str(keystore),
        "--password-file",
        str(pw_file),
        "--manifest",
        str(manifest),
        "--registrar",
        registrar,
        "--registrar-city",
        "620100",
        "--admin-delay",
        "86400",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    deployment = Deployment.load(manifest)
    assert json.loads(r.stdout)["contracts"] == deployment.to_json()["contracts"]
    chain = anvil_node.chain()
    deployment.check(chain)
    membership = deployment.membership(chain)
    # a registrar of Lanzhou only: no registrar of every city exists
    assert membership.is_registrar(registrar, 620100)
    assert not membership.is_registrar(registrar, 610800)
    assert chain.call(membership.contract.functions.defaultAdminDelay()) == 86400

    st = run("chain", "status", "--rpc", anvil_node.url, "--manifest", str(manifest), "--json")
    assert st.returncode == 0, st.stderr
    assert json.loads(st.stdout)["contracts"] == {
        k: v.address for k, v in deployment.contracts.items()
    }

    # Bad input: one line on stderr, exit 1, nothing written.
    again = run(
        "chain",
        "deploy",
        "--rpc",
        anvil_node.url,
        "--keystore",
        str(keystore),
        "--password-file",
        str(pw_file),
        "--manifest",
        str(manifest),
    )
    assert again.returncode == 1
    assert "exists already" in again.stderr
    cases: list[tuple[list[str], dict[str, str], str]] = [
        (["--password-file", str(tmp_path / "missing")], {}, "cannot read"),
        ([], {"CREDITCHAIN_KEYSTORE_PASSWORD": "wrong password"}, "wrong password"),
        ([], {"CREDITCHAIN_KEYSTORE_PASSWORD": ""}, "no keystore password"),
    ]
    for extra, env, message in cases:
        out = tmp_path / "never.json"
        r = run(
            "chain",
            "deploy",
            "--rpc",
            anvil_node.url,
            "--keystore",
            str(keystore),
            "--manifest",
            str(out),
            *extra,
            env=env,
        )
        assert r.returncode == 1, (extra, r.stderr)
        assert message in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not out.exists()
    dead = f"http://127.0.0.1:{free_port()}"
    r = run(
        "chain",
        "deploy",
        "--rpc",
        dead,
        "--keystore",
        str(keystore),
        "--password-file",
        str(pw_file),
        "--manifest",
        str(tmp_path / "never.json"),
    )
    assert r.returncode == 1
    assert "cannot reach chain" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run(
        "chain",
        "deploy",
        "--rpc",
        "ftp://x",
        "--keystore",
        str(keystore),
        "--password-file",
        str(pw_file),
        "--manifest",
        str(tmp_path / "never.json"),
    )
    assert r.returncode == 1
    assert "not an HTTP(S) JSON-RPC URL" in r.stderr


def test_status_detects_a_manifest_for_another_chain(tmp_path: Path, anvil_node: AnvilNode) -> None:
    manifest = tmp_path / "m.json"
    data = Deployment(
        chain_id=999,
        network="x",
        deployer="0x0",
        admin="0x0",
        admin_delay=0,
        deploy_block=0,
        compiler="",
        created_at="",
    )
    data.save(manifest)
    r = run("chain", "status", "--rpc", anvil_node.url, "--manifest", str(manifest))
    assert r.returncode == 1
    assert "manifest is for chain id 999" in r.stderr


@pytest.mark.parametrize("args", [["chain", "status", "--bogus"], ["chain", "nope"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    r = run(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
