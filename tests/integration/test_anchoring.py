"""The anchoring worker: outbox crash points, idempotence, start-up checks, reorgs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from gateway._anchor import Anchorer
from gateway._config import AnchorPolicy, Settings
from gateway.errors import ChainDisagrees
from gateway.store import Anchor, DbLog, session_scope
from node import AnvilNode
from tests.integration.conftest import Env, deployed_runtime


def _anchor_events(env_or_chain: object, log_client: object, log_id: bytes) -> list[int]:
    contract = log_client.contract  # type: ignore[attr-defined]
    return [
        int(e["args"]["size"])
        for e in contract.events.CheckpointAnchored().get_logs(
            from_block=0, argument_filters={"logId": log_id}
        )
    ]


def _rows(env: Env) -> list[Anchor]:
    with session_scope(env.runtime.engine, read_only=True) as s:
        return list(
            s.exec(select(Anchor).where(Anchor.log_name == "records").order_by(Anchor.size)).all()
        )


def test_each_outbox_state_resumes_without_doubling(env: Env) -> None:
    anchorer = env.runtime.anchorer
    log_client = env.runtime.deployment.checkpoint_log(env.chain)
    log_id = env.runtime.gateway.log_ids["records"]
    tax = env.client("tax")

    # crash after "prepared": the row is committed, nothing sent
    tax.submit([env.record("tax") for _ in range(3)])
    anchorer._maybe_prepare("records", force=True)
    assert [r.state for r in _rows(env)] == ["prepared"]
    anchorer.anchor_now()
    assert _anchor_events(env, log_client, log_id) == [3]

    # crash after "sent" was committed but before the broadcast: the node never saw it
    tax.submit([env.record("tax") for _ in range(2)])
    anchorer._maybe_prepare("records", force=True)
    row = _rows(env)[-1]
    proof = []  # computed as the worker would
    with session_scope(env.runtime.engine, read_only=True) as s:
        proof = DbLog(s, "records").consistency_proof(3, 5)
    signed = env.chain.sign(
        anchorer.operator, log_client.contract.functions.anchor(log_id, 5, row.root, proof)
    )
    with session_scope(env.runtime.engine) as s:
        fresh = s.get(Anchor, row.id)
        assert fresh is not None
        fresh.state, fresh.tx_hash = "sent", signed.tx_hash
        s.add(fresh)
    anchorer.anchor_now()
    assert _anchor_events(env, log_client, log_id) == [3, 5]

    # crash after the broadcast, before "confirmed": the transaction is mined already
    tax.submit([env.record("tax")])
    anchorer._maybe_prepare("records", force=True)
    row = _rows(env)[-1]
    with session_scope(env.runtime.engine, read_only=True) as s:
        proof = DbLog(s, "records").consistency_proof(5, 6)
    signed = env.chain.sign(
        anchorer.operator, log_client.contract.functions.anchor(log_id, 6, row.root, proof)
    )
    with session_scope(env.runtime.engine) as s:
        fresh = s.get(Anchor, row.id)
        assert fresh is not None
        fresh.state, fresh.tx_hash = "sent", signed.tx_hash
        s.add(fresh)
    env.chain.broadcast(signed)
    env.chain.wait(signed)
    anchorer.anchor_now()
    assert _anchor_events(env, log_client, log_id) == [3, 5, 6]
    assert [r.state for r in _rows(env)] == ["confirmed"] * 3
    assert [r.tx_hash for r in _rows(env)][-1] == signed.tx_hash
    assert env.runtime.gateway.integrity() == []


def test_anchors_by_size_threshold_and_by_age(env: Env) -> None:
    policy = AnchorPolicy(max_merge_delay=4, size_threshold=5, interval=0.05)
    rt = env.runtime
    anchorer = Anchorer(
        rt.engine,
        rt.chain,
        rt.deployment.checkpoint_log(rt.chain),
        rt.secrets.operator,
        dict(rt.gateway.log_ids),
        policy,
    )
    tax = env.client("tax")
    tax.submit([env.record("tax") for _ in range(2)])
    anchorer.step()
    assert _rows(env) == []  # 2 < threshold, and not old enough yet
    tax.submit([env.record("tax") for _ in range(3)])
    anchorer.step()  # 5 waiting: prepare and send at once
    anchorer.step()
    assert [(r.size, r.state) for r in _rows(env)] == [(5, "confirmed")]
    tax.submit([env.record("tax")])
    anchorer.step()
    assert len(_rows(env)) == 1
    time.sleep(policy.anchor_after + 0.1)
    anchorer.step()
    anchorer.step()
    assert [(r.size, r.state) for r in _rows(env)] == [(5, "confirmed"), (6, "confirmed")]


def test_start_refuses_a_database_that_disagrees_with_the_chain(env: Env) -> None:
    tax = env.client("tax")
    tax.submit([env.record("tax") for _ in range(4)])
    env.anchor()
    env.runtime.anchorer.check_against_chain()  # agrees
    with env.runtime.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE log_node SET hash = :h WHERE log_name = 'records' AND level = 2 AND idx = 0"
            ),
            {"h": b"\x00" * 32},
        )
    with pytest.raises(ChainDisagrees, match="root at size 4"):
        env.runtime.anchorer.check_against_chain()


def test_start_refuses_a_truncated_database(env: Env, tmp_path: Path) -> None:
    tax = env.client("tax")
    tax.submit([env.record("tax") for _ in range(4)])
    env.anchor()
    with env.runtime.engine.begin() as conn:
        for table in ("log_node", "log_entry"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE log_name = 'records' AND idx >= 2"))
        conn.execute(sa.text("UPDATE log_head SET size = 2 WHERE log_name = 'records'"))
    with pytest.raises(ChainDisagrees, match="holds only 2"):
        env.runtime.anchorer.check_against_chain()


@pytest.mark.parametrize("confirmations", [0, 2])
def test_reorg_on_anvil_reanchors(
    tmp_path: Path, anvil_node: AnvilNode, confirmations: int
) -> None:
    """anvil_reorg drops the anchoring transaction: the worker anchors the checkpoint again,
    once, whether the drop comes before or after it counted as confirmed."""
    chain = anvil_node.chain()
    settings = Settings(
        data_dir=tmp_path / "gw", dev=True, anchor=AnchorPolicy(confirmations=confirmations)
    )
    # the session's anvil may have been moved forward in time by earlier tests: follow it
    env = deployed_runtime(chain, settings, "reorg")
    rt, deployment = env.runtime, env.runtime.deployment
    try:
        body = env.client("tax").build([env.record("tax") for _ in range(3)])
        rt.gateway.submit(__import__("json").dumps(body).encode())
        log_client = deployment.checkpoint_log(chain)
        log_id = rt.gateway.log_ids["records"]

        rt.anchorer.step(force=True)  # prepare + send
        # anvil's automine answers eth_sendRawTransaction before the block is sealed: wait for it
        (sent,) = _rows(env)
        assert sent.state == "sent"
        assert sent.tx_hash
        chain.w3.eth.wait_for_transaction_receipt(sent.tx_hash, timeout=30)  # type: ignore[arg-type]
        assert log_client.latest(log_id) is not None
        if confirmations:
            rt.anchorer.step()
            assert [r.state for r in _rows(env)] == ["sent"]  # not deep enough yet
        else:
            rt.anchorer.step()
            assert [r.state for r in _rows(env)] == ["confirmed"]
        chain.w3.provider.make_request("anvil_reorg", [1, []])  # type: ignore[arg-type]
        assert log_client.latest(log_id) is None
        rt.anchorer.anchor_now()
        assert [r.state for r in _rows(env)] == ["confirmed"]
        latest = log_client.latest(log_id)
        assert latest is not None
        assert latest.size == 3
        assert _anchor_events(env, log_client, log_id) == [3]
        assert chain.head() - latest.block_number >= confirmations
    finally:
        rt.close()
