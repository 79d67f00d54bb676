"""Verification shows the record's lifecycle, on a real chain.

A record is submitted through the running gateway and anchored; its status is then moved on
chain directly with the RecordStatus contract (the department signs the transition, the
gateway's org relays it). Verifying the record's old bundle — with the offline verifier, the
``creditchain verify`` command and ``POST /v1/verify`` — still says valid, and reports the
current status: a corrected record is told superseded, and by which record.

eth-tester (the ``env`` fixtures) has no RPC URL: the command is run in process with its chain
handed over, and once against anvil over JSON-RPC with a bundle anchored there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner

from gateway.cli import _verify as verify_cli
from gateway.verify import (
    ChainQueryFailed,
    NodeChainView,
    VerificationError,
    VerificationResult,
    Web3Rpc,
    trust_root_from,
    verify_bundle,
)
from node import (
    AnvilNode,
    Chain,
    Deployment,
    OrgKind,
    RecordStatusClient,
    StatusCode,
    StatusTransition,
    reason_code,
)
from tests.bundle_factory import BundleFactory
from tests.conftest import Consortium, make_consortium
from tests.integration.conftest import Env

ZERO = bytes(32)


# ---------------------------------------------------------------------------------------
# Helpers


def _org(env: Env, slug: str) -> bytes:
    return bytes.fromhex(env.runtime.consortium[slug].org_id[2:])


def _block_time(chain: Chain, receipt: Any) -> int:
    return int(chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def _transition(
    rs: RecordStatusClient,
    *,
    relayer: LocalAccount,
    actor_key: LocalAccount,
    actor: bytes,
    record_id: bytes,
    origin: bytes,
    to: StatusCode,
    reason: str,
    successor: bytes = ZERO,
) -> int:
    """Move ``record_id`` to ``to`` on chain; the block time of the transition."""
    chain = rs.chain
    t = StatusTransition(
        record_id=record_id,
        origin=origin,
        to=to,
        successor=successor,
        reason=reason_code(reason),
        evidence=hashlib.sha256(b"evidence " + os.urandom(8)).digest(),
        actor=actor,
        version=rs.state(record_id).version,
        deadline=int(chain.w3.eth.get_block("latest")["timestamp"]) + 3600,
    )
    return _block_time(chain, rs.transition(relayer, t, rs.sign(actor_key, t)))


@dataclasses.dataclass
class Lifecycle:
    """The running gateway, its relaying account, and the trusted view of its chain."""

    env: Env
    rs: RecordStatusClient
    relayer: LocalAccount
    keys: dict[str, LocalAccount]

    def key(self, slug: str) -> LocalAccount:
        if slug not in self.keys:
            self.keys[slug] = self.env.runtime.consortium[slug].account()
        return self.keys[slug]

    def move(
        self,
        record_id: str,
        to: StatusCode,
        *,
        actor: str = "tax",
        origin: str = "tax",
        reason: str = "correction",
        successor: str | None = None,
    ) -> int:
        return _transition(
            self.rs,
            relayer=self.relayer,
            actor_key=self.key(actor),
            actor=_org(self.env, actor),
            record_id=bytes.fromhex(record_id),
            origin=_org(self.env, origin),
            to=to,
            reason=reason,
            successor=ZERO if successor is None else bytes.fromhex(successor),
        )

    def verify(self, bundle: dict[str, Any]) -> VerificationResult:
        """The offline verifier: the trusted manifest and the chain, no gateway."""
        deployment = self.env.runtime.deployment
        view = NodeChainView(self.env.chain, deployment)
        return verify_bundle(bundle, view, trusted=trust_root_from(deployment))


def _lifecycle(env: Env) -> Lifecycle:
    gateway = env.runtime.consortium["gateway"]
    relayer = gateway.account()
    return Lifecycle(
        env, env.runtime.deployment.record_status(env.chain), relayer, {"gateway": relayer}
    )


def _submitted(env: Env, n: int) -> list[str]:
    """``n`` tax records submitted and anchored; their record ids."""
    receipts = env.client("tax").submit([env.record("tax") for _ in range(n)])
    env.anchor()
    return [r["leaf_hash"] for r in receipts]


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("verify")(verify_cli.verify)

    @app.callback()
    def root() -> None:
        """Test harness."""

    return app


def _run_cli(tmp_path: Path, bundle: dict[str, Any], args: list[str]) -> Any:
    path = tmp_path / f"bundle-{os.urandom(4).hex()}.json"
    path.write_text(json.dumps(bundle))
    return CliRunner().invoke(_cli(), ["verify", str(path), *args])


def _in_process_cli(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deployment: Deployment
) -> list[str]:
    """Arguments for the command against the env's chain (eth-tester: no URL, so the command
    gets the chain object; its close() is a no-op for an in-process chain)."""
    manifest = tmp_path / f"trusted-{os.urandom(4).hex()}.json"
    deployment.save(manifest)
    monkeypatch.setattr(verify_cli, "open_rpc", lambda data_dir, rpc: Web3Rpc(env.chain.w3))
    return ["--manifest", str(manifest), "--data-dir", str(tmp_path / "verifier")]


# ---------------------------------------------------------------------------------------
# eth-tester, through the running gateway


def test_a_corrected_records_old_bundle_is_told_superseded_and_by_which_record(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    life = _lifecycle(env)
    old, new = _submitted(env, 2)
    tax = env.client("tax")
    bundle = tax.proof(old)
    before = life.verify(bundle)
    assert (before.status, before.successor, before.status_updated_at) == ("active", None, None)

    changed_at = life.move(old, StatusCode.CORRECTED, successor=new)

    # the offline verifier: still valid, superseded by `new`
    result = life.verify(bundle)
    assert len(result.checks) == 8
    assert result.checks[-1] == "status"
    assert result.status == "corrected"
    assert result.successor == new
    assert result.status_updated_at == changed_at
    assert result.status_actor == env.runtime.consortium["tax"].org_id
    public = life.verify(tax.proof(old, opening=False))  # the commitment-only bundle too
    assert (public.status, public.successor) == ("corrected", new)
    assert life.verify(tax.proof(new)).status == "active"  # the successor is untouched

    # the gateway's verify endpoint
    answer = env.http.post(f"{env.url}/v1/verify", json=bundle)
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["valid"] is True
    assert (doc["status"], doc["successor"]) == ("corrected", new)
    assert doc["status_updated_at"] == changed_at

    # the command
    args = _in_process_cli(env, tmp_path, monkeypatch, env.runtime.deployment)
    run = _run_cli(tmp_path, bundle, args)
    assert run.exit_code == 0, run.output
    assert run.output.startswith(f"VALID: record {old}")
    lines = [line.strip() for line in run.output.splitlines()]
    assert f"status      corrected — superseded by {new} (since " in run.output
    assert f"changed by  {env.runtime.consortium['tax'].org_id}" in lines
    run = _run_cli(tmp_path, bundle, [*args, "--json"])
    assert run.exit_code == 0, run.output
    out = json.loads(run.output)
    assert (out["valid"], out["status"], out["successor"]) == (True, "corrected", new)


def test_objected_then_erased(sqlite_env: Env) -> None:
    env = sqlite_env
    life = _lifecycle(env)
    (rid,) = _submitted(env, 1)
    bundle = env.client("tax").proof(rid)

    objected_at = life.move(rid, StatusCode.OBJECTED, reason="objection-filed")
    result = life.verify(bundle)
    assert (result.status, result.successor) == ("objected", None)
    assert result.status_updated_at == objected_at

    # a credit office erases it: the actor is reported, the origin stays the department's
    erased_at = life.move(rid, StatusCode.ERASED, actor="credit-office", reason="erasure")
    result = life.verify(bundle)
    assert len(result.checks) == 8
    assert (result.status, result.successor) == ("erased", None)
    assert result.status_updated_at == erased_at
    assert result.status_actor == env.runtime.consortium["credit-office"].org_id
    assert result.to_json()["valid"] is True


def test_an_erased_correction_reports_erased_without_its_successor(sqlite_env: Env) -> None:
    env = sqlite_env
    life = _lifecycle(env)
    old, new = _submitted(env, 2)
    bundle = env.client("tax").proof(old)
    life.move(old, StatusCode.CORRECTED, successor=new)
    life.move(old, StatusCode.ERASED, reason="erasure")
    assert life.rs.state(bytes.fromhex(old)).successor == bytes.fromhex(new)  # kept on chain
    result = life.verify(bundle)
    assert (result.status, result.successor) == ("erased", None)


def test_a_status_pinned_to_another_origin_is_not_this_records(
    sqlite_env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain does not know who submitted a record: a transition naming another
    department as origin (here the market regulator withdrawing the tax bureau's record)
    goes through on chain, and the verifier refuses to report it as this record's."""
    env = sqlite_env
    life = _lifecycle(env)
    (rid,) = _submitted(env, 1)
    bundle = env.client("tax").proof(rid)
    life.move(rid, StatusCode.WITHDRAWN, actor="market", origin="market", reason="withdrawal")
    with pytest.raises(VerificationError) as info:
        life.verify(bundle)
    assert info.value.check == "status"
    assert "status set for another origin" in info.value.detail
    assert len(info.value.passed) == 7

    args = _in_process_cli(env, tmp_path, monkeypatch, env.runtime.deployment)
    run = _run_cli(tmp_path, bundle, args)
    assert run.exit_code == 1, run.output
    assert run.output.startswith("INVALID: status: status set for another origin")
    answer = env.http.post(f"{env.url}/v1/verify", json=bundle)
    assert answer.status_code == 422
    assert answer.json()["check"] == "status"


def test_a_trusted_manifest_without_record_status_gives_no_verdict(
    sqlite_env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = sqlite_env
    (rid,) = _submitted(env, 1)
    bundle = env.client("tax").proof(rid)
    current = env.runtime.deployment
    legacy = dataclasses.replace(
        current, contracts={k: v for k, v in current.contracts.items() if k != "RecordStatus"}
    )
    with pytest.raises(ChainQueryFailed, match="RecordStatus"):
        NodeChainView(env.chain, legacy)

    args = _in_process_cli(env, tmp_path, monkeypatch, legacy)
    for extra in ([], ["--json"]):
        run = _run_cli(tmp_path, bundle, [*args, *extra])
        assert run.exit_code == 2, run.output  # no verdict, not "active"
        assert "RecordStatus" in run.output
        assert "VALID" not in run.output


# ---------------------------------------------------------------------------------------
# anvil: the command over JSON-RPC


@pytest.mark.anvil
def test_the_command_over_rpc_reports_the_successor(anvil_node: AnvilNode, tmp_path: Path) -> None:
    c: Consortium = make_consortium(anvil_node.chain())
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
    log = c.log
    log.register_log(c.log_admin, factory.records_log, b"\x01" * 32, c.operator.address)
    anchored = log.anchor(
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
    successor = hashlib.sha256(b"the corrected version").digest()
    changed_at = _transition(
        c.deployment.record_status(c.chain),
        relayer=gateway,
        actor_key=department,
        actor=factory.dept_org,
        record_id=draft.leaf_hash,
        origin=factory.dept_org,
        to=StatusCode.CORRECTED,
        reason="correction",
        successor=successor,
    )

    manifest = tmp_path / "deployment.json"
    c.deployment.save(manifest)
    args = ["--rpc", anvil_node.url, "--manifest", str(manifest)]
    args += ["--data-dir", str(tmp_path / "verifier")]
    run = _run_cli(tmp_path, bundle, args)
    assert run.exit_code == 0, run.output
    assert f"corrected — superseded by {successor.hex()}" in run.output
    run = _run_cli(tmp_path, bundle, [*args, "--json"])
    assert run.exit_code == 0, run.output
    doc = json.loads(run.output)
    assert (doc["status"], doc["successor"]) == ("corrected", successor.hex())
    assert doc["status_updated_at"] == changed_at
    assert doc["status_actor"] == "0x" + factory.dept_org.hex()
