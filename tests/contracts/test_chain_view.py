"""NodeChainView on a real deployment, and its twin: the same scenario run against the
FakeChainView the unit tests use, so the fake cannot drift from the contracts' semantics.
Then end to end: a bundle anchored on a real chain verifies through NodeChainView and
through the ``creditchain verify`` command."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

import pytest
import typer
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from typer.testing import CliRunner

from gateway.cli import _verify as verify_cli
from gateway.domain.merkle import MemoryTree, leaf_hash
from gateway.domain.records import log_id
from gateway.verify import (
    Anchor,
    ChainView,
    NodeChainView,
    RecordLifecycle,
    VerificationError,
    Web3Rpc,
    trust_root_from,
    verify_bundle,
)
from node import AnvilNode, Chain, OrgKind, embedded, free_port
from tests.bundle_factory import BundleFactory, FakeChainView
from tests.conftest import Consortium, make_consortium

YULIN = 610800


class World(Protocol):
    """Chain-side actions, and the view that must report their effects."""

    @property
    def view(self) -> ChainView: ...

    def register_org(self, org_id: bytes, signer: str) -> int: ...
    def rotate_keys(self, org_id: bytes, signer: str) -> int: ...
    def advance(self, seconds: int) -> None: ...
    def anchor(self, log: bytes, tree: MemoryTree, old_size: int) -> Anchor: ...


class NodeWorld:
    def __init__(self, c: Consortium) -> None:
        self.c = c
        self.view = NodeChainView(c.chain, c.deployment)
        self.logs: set[bytes] = set()

    def _time(self, receipt: Any) -> int:
        return int(self.c.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def register_org(self, org_id: bytes, signer: str) -> int:
        receipt = self.c.membership.register_org(
            self.c.registrar, org_id, YULIN, OrgKind.DEPARTMENT, signer, os.urandom(32)
        )
        return self._time(receipt)

    def rotate_keys(self, org_id: bytes, signer: str) -> int:
        return self._time(
            self.c.membership.rotate_keys(self.c.registrar, org_id, signer, os.urandom(32))
        )

    def advance(self, seconds: int) -> None:
        self.c.chain.advance_time(seconds)

    def anchor(self, log: bytes, tree: MemoryTree, old_size: int) -> Anchor:
        if log not in self.logs:
            self.c.log.register_log(self.c.log_admin, log, b"\x01" * 32, self.c.operator.address)
            self.logs.add(log)
        receipt = self.c.log.anchor(
            self.c.operator, log, tree.size, tree.root(), tree.consistency_proof(old_size)
        )
        return Anchor(int(receipt["blockNumber"]), bytes(receipt["transactionHash"]))


class FakeWorld:
    def __init__(self) -> None:
        self.view = FakeChainView()
        self.now = 1_700_000_000
        self.block = 1

    def _tick(self) -> int:
        self.now += 1
        self.block += 1
        return self.now

    def register_org(self, org_id: bytes, signer: str) -> int:
        assert org_id not in self.view.keys
        t = self._tick()
        self.view.register(org_id, signer, t)
        return t

    def rotate_keys(self, org_id: bytes, signer: str) -> int:
        t = self._tick()
        self.view.register(org_id, signer, t)
        return t

    def advance(self, seconds: int) -> None:
        self.now += seconds

    def anchor(self, log: bytes, tree: MemoryTree, old_size: int) -> Anchor:
        self._tick()
        anchor = Anchor(self.block, hashlib.sha256(b"tx %d" % self.block).digest())
        self.view.anchor_checkpoint(log, tree.size, tree.root(), anchor)
        return anchor


@pytest.fixture(params=["fake", "embedded", "anvil"])
def world(request: pytest.FixtureRequest) -> World:
    if request.param == "fake":
        return FakeWorld()
    if request.param == "embedded":
        return NodeWorld(make_consortium(embedded()))
    node: AnvilNode = request.getfixturevalue("anvil_node")
    return NodeWorld(make_consortium(node.chain()))


def test_keys_at_answers_old_and_new_signer_by_time(world: World) -> None:
    org = hashlib.sha256(b"org " + os.urandom(8)).digest()
    old = to_checksum_address("0x" + os.urandom(20).hex())
    new = to_checksum_address("0x" + os.urandom(20).hex())
    t0 = world.register_org(org, old)
    world.advance(100)
    t1 = world.rotate_keys(org, new)
    assert t1 >= t0 + 100
    view = world.view
    assert view.keys_at(org, t0) == old
    assert view.keys_at(org, t1 - 1) == old
    assert view.keys_at(org, t1) == new
    assert view.keys_at(org, t1 + 10**6) == new
    assert view.keys_at(org, t0 - 1) is None  # before registration
    assert view.keys_at(hashlib.sha256(b"nobody").digest(), t1) is None  # unknown org
    assert view.keys_at(org, 2**64) is None  # not a uint64 time


def test_checkpoint_root_and_anchor(world: World) -> None:
    log = hashlib.sha256(b"log " + os.urandom(8)).digest()
    tree = MemoryTree(leaf_hash(b"entry %d" % i) for i in range(3))
    first = world.anchor(log, tree, 0)
    root3 = tree.root()
    tree.extend(leaf_hash(b"entry %d" % i) for i in range(3, 5))
    second = world.anchor(log, tree, 3)
    view = world.view
    assert view.checkpoint_root(log, 3) == root3
    assert view.checkpoint_root(log, 5) == tree.root()
    assert view.anchor(log, 3) == first
    assert view.anchor(log, 5) == second
    assert second.block_number > first.block_number
    for size in (0, 2, 4, 6, 2**64):
        assert view.checkpoint_root(log, size) is None
        assert view.anchor(log, size) is None
    unknown = hashlib.sha256(b"unknown log").digest()
    assert view.checkpoint_root(unknown, 3) is None
    assert view.anchor(unknown, 3) is None


def test_a_record_never_transitioned_is_active(world: World) -> None:
    never = world.view.record_status(hashlib.sha256(b"record " + os.urandom(8)).digest())
    assert never == RecordLifecycle()
    assert (never.status, never.successor, never.origin, never.version) == ("active", None, None, 0)


# ---------------------------------------------------------------------------------------
# End to end on a real chain


def _anchored_bundle(c: Consortium, *, batch: int = 1) -> tuple[dict[str, Any], BundleFactory]:
    department: LocalAccount = c.new_account()
    gateway: LocalAccount = c.new_account()
    factory = BundleFactory(
        trusted=trust_root_from(c.deployment),
        department=department,
        gateway=gateway,
        dept_org=hashlib.sha256(b"dept " + os.urandom(8)).digest(),
        gateway_org=hashlib.sha256(b"gw " + os.urandom(8)).digest(),
    )
    world = NodeWorld(c)
    world.register_org(factory.dept_org, department.address)
    registered = world.register_org(factory.gateway_org, gateway.address)
    draft = factory.draft(
        batch=batch,
        position=batch - 1,
        log_size=6,
        leaf_index=4,
        signed_at=registered + 1,
        received_at=registered + 2,
    )
    anchor = world.anchor(factory.records_log, draft.tree, 0)
    bundle = draft.bundle(
        factory.trusted, anchor_tx=anchor.tx_hash, anchor_block=anchor.block_number
    )
    return bundle, factory


@pytest.mark.parametrize("batch", [1, 4])
def test_a_bundle_anchored_on_chain_verifies(consortium: Consortium, batch: int) -> None:
    bundle, factory = _anchored_bundle(consortium, batch=batch)
    view = NodeChainView(consortium.chain, consortium.deployment)
    result = verify_bundle(bundle, view, trusted=factory.trusted, pepper=factory.pepper)
    assert result.status == "active"
    assert result.subject_checked
    assert result.department_signer == factory.department.address
    assert result.gateway_signer == factory.gateway.address
    assert log_id(factory.gateway_org, "records").hex() == bundle["log"]["id"][2:]
    for path, check in [
        (("log", "id"), "checkpoint-on-chain"),
        (("chain", "anchor_block"), "checkpoint-on-chain"),
        (("chain", "anchor_tx"), "checkpoint-on-chain"),
        (("log", "inclusion", 0), "inclusion"),
        (("leaf", "sig", "signed_at"), "department-signature"),
        (("receipt", "anchor_by"), "receipt-signature"),
    ]:
        tampered = copy.deepcopy(bundle)
        target: Any = tampered
        for key in path[:-1]:
            target = target[key]
        value = target[path[-1]]
        target[path[-1]] = (
            value + 1 if isinstance(value, int) else value[:-1] + ("0" if value[-1] != "0" else "1")
        )
        with pytest.raises(VerificationError) as info:
            verify_bundle(tampered, view, trusted=factory.trusted)
        assert info.value.check == check, path


# ---------------------------------------------------------------------------------------
# The CLI


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("verify")(verify_cli.verify)

    @app.callback()
    def root() -> None:
        """Test harness."""

    return app


@pytest.fixture
def cli_setup(
    consortium: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], list[str]]:
    bundle, _ = _anchored_bundle(consortium)
    manifest = tmp_path / "deployment.json"
    consortium.deployment.save(manifest)
    chain: Chain = consortium.chain
    args = ["--manifest", str(manifest), "--data-dir", str(tmp_path / "data")]
    if chain.url:
        args += ["--rpc", chain.url]
    else:  # the embedded chain has no URL: hand it to the command directly
        monkeypatch.setattr(verify_cli, "open_rpc", lambda data_dir, rpc: Web3Rpc(chain.w3))
    return bundle, args


def _run(tmp_path: Path, bundle: Any, args: list[str]) -> Any:
    path = tmp_path / "bundle.json"
    path.write_text(bundle if isinstance(bundle, str) else json.dumps(bundle))
    return CliRunner().invoke(_cli(), ["verify", str(path), *args])


def test_cli_valid(cli_setup: tuple[dict[str, Any], list[str]], tmp_path: Path) -> None:
    bundle, args = cli_setup
    result = _run(tmp_path, bundle, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"VALID: record {bundle['status']['record_id']}")
    result = _run(tmp_path, bundle, [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["valid"] is True
    assert doc["status"] == "active"
    assert len(doc["checks"]) == 8
    commitment_only = {k: v for k, v in bundle.items() if k not in ("record", "salt")}
    result = _run(tmp_path, commitment_only, args)
    assert result.exit_code == 0, result.output
    assert "NOT included" in result.output


def test_cli_invalid_names_the_check(
    cli_setup: tuple[dict[str, Any], list[str]], tmp_path: Path
) -> None:
    bundle, args = cli_setup
    tampered = copy.deepcopy(bundle)
    tampered["log"]["inclusion"][0] = "00" * 32
    result = _run(tmp_path, tampered, args)
    assert result.exit_code == 1
    assert result.output.startswith("INVALID: inclusion: ")
    result = _run(tmp_path, tampered, [*args, "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["valid"] is False
    assert doc["check"] == "inclusion"
    assert doc["passed"] == ["trust-root", "record-commitment", "department-signature", "leaf-hash"]
    result = _run(tmp_path, "{not json", args)
    assert result.exit_code == 1
    assert result.output.startswith("INVALID: malformed: ")


def test_cli_infrastructure_errors_exit_2(
    cli_setup: tuple[dict[str, Any], list[str]], tmp_path: Path
) -> None:
    bundle, args = cli_setup
    result = CliRunner().invoke(_cli(), ["verify", str(tmp_path / "missing.json"), *args])
    assert result.exit_code == 2
    assert "cannot read" in result.output
    no_manifest = ["--manifest", str(tmp_path / "nope.json"), *args[2:]]
    result = _run(tmp_path, bundle, no_manifest)
    assert result.exit_code == 2
    assert "manifest" in result.output
    other = json.loads(Path(args[1]).read_text())
    other["chain_id"] += 1
    wrong = tmp_path / "other.json"
    wrong.write_text(json.dumps(other))
    result = _run(tmp_path, bundle, ["--manifest", str(wrong), *args[2:]])
    assert result.exit_code == 2
    assert "chain id" in result.output


def test_cli_unreachable_rpc_exits_2(tmp_path: Path) -> None:
    bundle, _ = BundleFactory().scenario()
    manifest = tmp_path / "deployment.json"
    manifest.write_text(
        json.dumps(
            {
                "version": 1,
                "chain_id": 31337,
                "network": "t",
                "deployer": "0x" + "00" * 20,
                "admin": "0x" + "00" * 20,
                "admin_delay": 0,
                "deploy_block": 0,
                "compiler": "x",
                "created_at": "now",
                "contracts": {},
            }
        )
    )
    result = _run(
        tmp_path, bundle, ["--manifest", str(manifest), "--rpc", f"http://127.0.0.1:{free_port()}"]
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
