"""Verification at chain-call speed (issue 12, item 5) gives the verdicts of the slow path.

- :class:`RpcChainView` (raw JSON-RPC, fixed selectors) answers every question — found,
  "not there", out of range — exactly as :class:`NodeChainView` (web3 contract objects) does,
  over HTTP to anvil and over web3 to eth-tester;
- :class:`Manifest.check` refuses the chains and manifests :meth:`Deployment.check` refuses;
- :class:`CachingChainView` keeps only what cannot change: never a status, never "not
  anchored", never keys at a time the chain has not passed yet;
- ``creditchain verify`` starts without web3, eth-account, FastAPI or SQLModel.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.verify import (
    Anchor,
    CachingChainView,
    ChainView,
    JsonRpc,
    NodeChainView,
    RecordLifecycle,
    Web3Rpc,
    trust_root_from,
    verify_bundle,
)
from gateway.verify._manifest import Manifest
from node import AnvilNode, Deployment, ManifestError, OrgKind, StatusCode
from tests.bundle_factory import BundleFactory
from tests.conftest import make_consortium
from tests.integration.conftest import Env
from tests.integration.test_verify_lifecycle import _block_time, _lifecycle, _submitted

_ROOT = Path(__file__).resolve().parents[2]
_UNKNOWN = hashlib.sha256(b"nobody, no log, no record").digest()


def _questions(
    view: ChainView,
    orgs: list[bytes],
    logs: list[tuple[bytes, int]],
    records: list[bytes],
    times: list[int],
) -> list[Any]:
    out: list[Any] = []
    for org in [*orgs, _UNKNOWN]:
        for t in [*times, 0, 2**64 - 1, 2**64, -1]:
            out.append(("keys_at", org.hex(), t, view.keys_at(org, t)))
    for log, size in [*logs, (_UNKNOWN, 1)]:
        for n in (size, size + 1, size - 1, 0, 2**64):
            out.append(("root", log.hex(), n, view.checkpoint_root(log, n)))
            out.append(("anchor", log.hex(), n, view.anchor(log, n)))
    for rid in [*records, _UNKNOWN]:
        out.append(("status", rid.hex(), view.record_status(rid)))
    return out


def test_the_raw_view_answers_as_the_web3_view_over_eth_tester(sqlite_env: Env) -> None:
    env = sqlite_env
    life = _lifecycle(env)
    old, new = _submitted(env, 2)
    bundle = env.client("tax").proof(old)
    life.move(old, StatusCode.CORRECTED, successor=new)
    deployment = env.runtime.deployment
    slow = NodeChainView(env.chain, deployment)
    fast = Manifest.from_json(deployment.to_json()).chain_view(Web3Rpc(env.chain.w3))
    orgs = [bytes.fromhex(m.org_id[2:]) for m in env.runtime.consortium.values()]
    now = int(env.chain.w3.eth.get_block("latest")["timestamp"])
    times = [now - 10**6, now - 1, now, now + 1, now + 10**6]
    logs = [
        (lid, cp.size)
        for lid in env.runtime.gateway.log_ids.values()
        for cp in deployment.checkpoint_log(env.chain).checkpoints(lid)
    ]
    assert logs, "nothing anchored"
    records = [bytes.fromhex(old), bytes.fromhex(new)]
    assert _questions(fast, orgs, logs, records, times) == _questions(
        slow, orgs, logs, records, times
    )
    trusted = trust_root_from(deployment)
    assert verify_bundle(bundle, fast, trusted=trusted) == verify_bundle(
        bundle, slow, trusted=trusted
    )


@pytest.mark.anvil
def test_the_raw_view_and_manifest_check_agree_with_web3_over_anvil(
    anvil_node: AnvilNode, tmp_path: Path
) -> None:
    c = make_consortium(anvil_node.chain())
    department, gateway = c.new_account(), c.new_account()
    factory = BundleFactory(
        trusted=trust_root_from(c.deployment),
        department=department,
        gateway=gateway,
        dept_org=hashlib.sha256(b"dept " + os.urandom(8)).digest(),
        gateway_org=hashlib.sha256(b"gw " + os.urandom(8)).digest(),
    )
    registered = 0
    for org, kind, who in (
        (factory.dept_org, OrgKind.DEPARTMENT, department),
        (factory.gateway_org, OrgKind.GATEWAY, gateway),
    ):
        receipt = c.membership.register_org(
            c.registrar, org, 610800, kind, who.address, os.urandom(32)
        )
        registered = _block_time(c.chain, receipt)
    draft = factory.draft(signed_at=registered + 1, received_at=registered + 2, log_size=4)
    c.log.register_log(c.log_admin, factory.records_log, b"\x01" * 32, c.operator.address)
    anchored = c.log.anchor(
        c.operator,
        factory.records_log,
        draft.tree.size,
        draft.tree.root(),
        draft.tree.consistency_proof(0),
    )
    bundle = draft.bundle(
        factory.trusted,
        anchor_tx=bytes(anchored["transactionHash"]),
        anchor_block=int(anchored["blockNumber"]),
    )
    slow = NodeChainView(c.chain, c.deployment)
    rpc = JsonRpc(anvil_node.url)
    manifest = Manifest.from_json(c.deployment.to_json())
    fast = manifest.chain_view(rpc)
    times = [registered - 1, registered, registered + 1, registered + 10**6]
    orgs = [factory.dept_org, factory.gateway_org]
    logs = [(factory.records_log, draft.tree.size)]
    records = [draft.leaf_hash]
    assert _questions(fast, orgs, logs, records, times) == _questions(
        slow, orgs, logs, records, times
    )
    trusted = factory.trusted
    assert verify_bundle(bundle, fast, trusted=trusted) == verify_bundle(
        bundle, slow, trusted=trusted
    )

    # the manifest checks: the same verdicts
    manifest.check(rpc)
    c.deployment.check(c.chain)
    doc = c.deployment.to_json()
    contracts = doc["contracts"]
    swapped = {
        **contracts,
        "Membership": contracts["CheckpointLog"],
        "CheckpointLog": contracts["Membership"],
    }
    for bad in (
        {**doc, "chain_id": doc["chain_id"] + 1},
        {**doc, "contracts": swapped},
        {
            **doc,
            "contracts": {
                **contracts,
                "Grants": {**contracts["Grants"], "address": "0x" + "11" * 20},
            },
        },
    ):
        with pytest.raises(ManifestError) as slow_error:
            Deployment.from_json(bad).check(c.chain)
        with pytest.raises(ManifestError) as fast_error:
            Manifest.from_json(bad).check(rpc)
        assert str(fast_error.value) == str(slow_error.value)
    rpc.close()


@dataclasses.dataclass
class _Counting:
    """A chain view that counts the questions it is asked; its answers can be changed."""

    signer: str | None = "0x" + "ab" * 20
    root: bytes | None = None
    status: str = "active"
    asked: dict[str, int] = dataclasses.field(default_factory=dict)

    def _count(self, what: str) -> None:
        self.asked[what] = self.asked.get(what, 0) + 1

    def keys_at(self, org_id: bytes, timestamp: int) -> str | None:
        self._count("keys_at")
        return self.signer

    def checkpoint_root(self, log_id: bytes, size: int) -> bytes | None:
        self._count("root")
        return self.root

    def anchor(self, log_id: bytes, size: int) -> Anchor | None:
        self._count("anchor")
        return None if self.root is None else Anchor(block_number=7, tx_hash=b"\x01" * 32)

    def record_status(self, record_id: bytes) -> RecordLifecycle:
        self._count("status")
        return RecordLifecycle(
            status=self.status,
            successor=None,
            origin=None,
            actor=None,
            reason=None,
            updated_at=0,
            version=0,
        )


def test_the_cache_keeps_only_what_cannot_change() -> None:
    inner = _Counting()
    now = [1000]
    view = CachingChainView(inner, lambda: now[0])
    org, log, rid = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32

    # the status is asked every time, and a change is seen at once
    assert view.record_status(rid).status == "active"
    inner.status = "erased"
    assert view.record_status(rid).status == "erased"
    assert inner.asked["status"] == 2

    # "not anchored (yet)" is asked again; an anchored checkpoint once
    assert view.checkpoint_root(log, 5) is None
    assert view.anchor(log, 5) is None
    inner.root = b"\x09" * 32
    assert view.checkpoint_root(log, 5) == inner.root
    assert view.anchor(log, 5) == Anchor(block_number=7, tx_hash=b"\x01" * 32)
    inner.root = b"\x0a" * 32  # (cannot happen on chain: a size is anchored once)
    for _ in range(3):
        assert view.checkpoint_root(log, 5) == b"\x09" * 32
        assert view.anchor(log, 5) is not None
    assert (inner.asked["root"], inner.asked["anchor"]) == (2, 2)

    # keys at a time the chain has passed: once; at or after the newest block: every time
    for _ in range(3):
        view.keys_at(org, 999)
    assert inner.asked["keys_at"] == 1
    view.keys_at(org, 1000)
    inner.signer = "0x" + "cd" * 20  # a rotation in the block of time 1000
    assert view.keys_at(org, 1000) == inner.signer
    assert inner.asked["keys_at"] == 3
    now[0] = 1001  # the chain moves on: time 1000 is settled from the next question on
    assert view.keys_at(org, 1000) == inner.signer
    assert view.keys_at(org, 1000) == inner.signer
    assert inner.asked["keys_at"] == 4


def test_the_verify_command_starts_without_the_heavy_libraries() -> None:
    probe = (
        "import sys, gateway.cli, gateway.cli._verify, gateway.verify._manifest; "
        "from gateway.cli._verify import verify; "
        "heavy = {'web3', 'eth_account', 'eth_utils', 'eth_tester', 'fastapi', 'sqlmodel', "
        "'sqlalchemy', 'httpx', 'py_ecc'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=_ROOT,
        env={**os.environ, "PYTHONPATH": str(_ROOT)},
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_the_data_dirs_running_node_is_found_as_open_chain_finds_it(tmp_path: Path) -> None:
    from gateway.verify._manifest import local_rpc_url
    from node import ChainUnavailable

    chain_dir = tmp_path / "chain"
    with pytest.raises(ChainUnavailable, match="no chain is running"):
        local_rpc_url(tmp_path)  # no node.json
    chain_dir.mkdir()
    node_file = chain_dir / "node.json"
    node_file.write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:1"}))
    assert local_rpc_url(tmp_path) == "http://127.0.0.1:1"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    node_file.write_text(json.dumps({"pid": dead.pid, "url": "http://127.0.0.1:1"}))
    with pytest.raises(ChainUnavailable, match="no chain is running"):
        local_rpc_url(tmp_path)


def _cli(args: list[str], *, through_typer: bool, cwd: Path) -> tuple[int, str, str]:
    """``creditchain verify …`` as installed (the plain-argument fast path), or the same
    arguments through the full typer app."""
    head = (
        [sys.executable, "-c", "from gateway.cli import app; app(prog_name='creditchain')"]
        if through_typer
        else [sys.executable, "-c", "from gateway.cli import main; main()"]
    )
    env = {**os.environ, "PYTHONPATH": str(_ROOT), "CREDITCHAIN_DATA_DIR": str(cwd / "none")}
    done = subprocess.run(
        [*head, "verify", *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )
    return done.returncode, done.stdout, done.stderr


def test_the_verify_fast_path_answers_as_typer_does(tmp_path: Path) -> None:
    """Without typer's parameter machinery for a plain ``verify`` the answers stay the same:
    a malformed bundle, a file that is not JSON, a missing file, a manifest or chain that is
    not there — each with and without ``--json``; help and a typo still go through typer."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"v": 1}')
    text = tmp_path / "text.json"
    text.write_text("not json")
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"v": 1, "leaf": {}}))
    cases = [
        [str(bad)],
        [str(text), "--json"],
        [str(tmp_path / "missing.json")],
        [str(bad), "--manifest", str(tmp_path / "no-manifest.json"), "--json"],
        [str(bundle), "--rpc", "http://127.0.0.1:1", f"--data-dir={tmp_path}"],
    ]
    for args in cases:
        fast = _cli(args, through_typer=False, cwd=tmp_path)
        slow = _cli(args, through_typer=True, cwd=tmp_path)
        assert fast == slow, args
        assert fast[0] in (1, 2), fast
    probe = (
        "import sys; from gateway.cli import main; "
        f"sys.argv = ['creditchain', 'verify', {str(bad)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('pydantic' in sys.modules, 'typer._adapters' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(_ROOT)},
        check=False,
    )
    assert done.stdout.strip().splitlines()[-1] == "False False", done.stdout + done.stderr
    code, out, _ = _cli(["--help"], through_typer=False, cwd=tmp_path)
    assert code == 0
    assert "Usage: " in out
    assert "verify" in out
    code, _, err = _cli([str(bad), "--no-such-option"], through_typer=False, cwd=tmp_path)
    assert code == 2
    assert "No such option" in err


def test_eip55_without_eth_utils_is_eth_utils() -> None:
    from eth_utils.address import is_checksum_address
    from eth_utils.address import to_checksum_address as reference

    from gateway.domain.signing import _is_address, to_checksum_address

    for _ in range(300):
        plain = "0x" + os.urandom(20).hex()
        assert to_checksum_address(plain) == reference(plain)
        assert to_checksum_address(plain.upper().replace("0X", "0x")) == reference(plain)
        good = reference(plain)
        assert _is_address(good)
        assert _is_address(plain)
        flipped = good[:2] + good[2:].swapcase()
        assert _is_address(flipped) == (
            is_checksum_address(flipped)
            or flipped[2:]
            in (
                flipped[2:].lower(),
                flipped[2:].upper(),
            )
        )
    for bad in ("0x" + "g" * 40, "0x" + "a" * 39, "a" * 42, "0X" + "a" * 40, 7):
        assert not _is_address(bad)
