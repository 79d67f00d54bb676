"""An attached HTTP worker (``serve --workers N``, ``build(attach=True)``) against anvil: it
shares the main process's database and logs, and leaves every chain transaction to the main
process — a lifecycle transition it accepts stays in the relay outbox until the main
process's background pass sends it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from gateway._config import Settings
from gateway._runtime import build
from gateway.client import build_transition
from node import AnvilNode, StatusCode
from tests.integration.conftest import chain_clock, deployed_runtime


def test_an_attached_worker_shares_the_logs_and_sends_no_transactions(
    tmp_path: Path, anvil_node: AnvilNode
) -> None:
    chain = anvil_node.chain()
    settings = Settings(data_dir=tmp_path / "gw", dev=True)
    env = deployed_runtime(chain, settings, "attach")
    main, deployment = env.runtime, env.runtime.deployment
    manifest = tmp_path / "manifest.json"
    deployment.save(manifest)
    worker = build(
        dataclasses.replace(settings, rpc_url=anvil_node.url, manifest=manifest),
        attach=True,
        clock=lambda: chain_clock(chain),
    )
    try:
        assert worker.local_chain is None
        assert worker.gateway.gateway_org == main.gateway.gateway_org
        tax = main.consortium["tax"]
        client = env.client("tax")
        # one log, whichever process appends
        first = worker.gateway.submit(json.dumps(client.build([env.record("tax")])).encode())
        second = main.gateway.submit(json.dumps(client.build([env.record("tax")])).encode())
        receipts = [first.receipts[0], second.receipts[0]]
        assert [r["index"] for r in receipts] == [0, 1]
        record_id = receipts[0]["leaf_hash"]

        # a transition accepted by the worker is applied and queued, not sent
        status = deployment.record_status(chain)
        body = build_transition(
            tax.account(),
            chain_id=chain.chain_id,
            record_status=deployment.address("RecordStatus"),
            record_id=record_id,
            origin=tax.org_id,
            current="active",
            to="withdrawn",
            version=0,
            actor=bytes.fromhex(tax.org_id[2:]),
            reason="withdrawn-by-origin",
            deadline=int(chain_clock(chain)) + 600,
        )
        answer = worker.lifecycle.transition(record_id, json.dumps(body).encode())
        assert answer["status"] == "withdrawn"
        assert main.lifecycle.record_status(record_id)["status"] == "withdrawn"
        assert status.state(bytes.fromhex(record_id)).status == StatusCode.ACTIVE
        assert worker.lifecycle.relay_inline is False

        main.lifecycle.step()  # the main process's background pass relays it
        assert status.state(bytes.fromhex(record_id)).status == StatusCode.WITHDRAWN
    finally:
        worker.close()
        main.close()
