#!/usr/bin/env python3
"""Gas of CheckpointLog.anchor as the log grows, and gas per record, against a baseline measured
in the same run: storing one 32-byte hash per record, each in its own transaction.

    python scripts/bench_anchor_gas.py [--max-log2 20] [--json]

Gas is deterministic and the same on every EVM, so the in-process chain (eth-tester / py-evm)
measures it. Exits 1 if gas per record at 1,000 records per checkpoint is not below 1% of the
baseline's gas per record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account

from gateway.domain.merkle import MemoryTree, leaf_hash
from node import deploy_all, embedded

# Baseline contract: runtime `PUSH1 0 CALLDATALOAD DUP1 SSTORE STOP` stores the 32-byte word it
# is called with (at the slot of the same value); the init code returns that runtime.
_BASELINE_RUNTIME = "600035805500"
_BASELINE_INIT = "65" + _BASELINE_RUNTIME + "600052" + "6006601af3"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-log2", type=int, default=20, help="largest log size is 2^N")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    top = 1 << args.max_log2

    t0 = time.perf_counter()
    tree = MemoryTree(leaf_hash(i.to_bytes(8, "big")) for i in range(top))
    build_s = time.perf_counter() - t0

    chain = embedded()
    admin = Account.create()
    chain.fund(admin.address, 10**22)
    deployment = deploy_all(chain, admin, network="bench", log_admins=(admin.address,))
    log = deployment.checkpoint_log(chain)

    # Baseline: one hash per transaction.
    tx = chain.w3.eth.send_transaction(
        {"from": chain.w3.eth.accounts[0], "data": "0x" + _BASELINE_INIT}
    )
    baseline_addr = chain.w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    baseline_gas = []
    for i in range(20):
        signed = admin.sign_transaction(
            {
                "to": baseline_addr,
                "data": leaf_hash(b"baseline %d" % i),
                "gas": 100_000,
                "nonce": chain.w3.eth.get_transaction_count(admin.address),
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
                "chainId": chain.chain_id,
            }
        )
        h = chain.w3.eth.send_raw_transaction(signed.raw_transaction)
        baseline_gas.append(int(chain.w3.eth.wait_for_transaction_receipt(h)["gasUsed"]))
    baseline = statistics.median(baseline_gas)

    # Growth: anchor sizes from 1 to 2^max, each with the proof from the previous checkpoint.
    growth_log = b"\x01" * 32
    log.register_log(admin, growth_log, b"\x00" * 32, admin.address)
    sizes = sorted(
        {1, *(min(top, (1 << k) + (1 << k) // 3 + 1) for k in range(args.max_log2)), top}
    )
    growth = []
    previous = 0
    for n in sizes:
        proof = tree.consistency_proof(previous, n)
        receipt = log.anchor(admin, growth_log, n, tree.root(n), proof)
        growth.append(
            {"from": previous, "to": n, "proof_nodes": len(proof), "gas": int(receipt["gasUsed"])}
        )
        previous = n

    # Gas per record at a fixed number of records per checkpoint, deep in a large log.
    per_record = []
    for batch in (1_000, 10_000):
        log_id = batch.to_bytes(32, "big")
        log.register_log(admin, log_id, b"\x00" * 32, admin.address)
        start = top - 8 * batch - 12_345
        log.anchor(admin, log_id, start, tree.root(start), [])
        gas = []
        for k in range(1, 8):
            n = start + k * batch
            proof = tree.consistency_proof(n - batch, n)
            gas.append(int(log.anchor(admin, log_id, n, tree.root(n), proof)["gasUsed"]))
        median = statistics.median(gas)
        per_record.append(
            {
                "records_per_checkpoint": batch,
                "median_anchor_gas": median,
                "gas_per_record": median / batch,
                "ratio_to_baseline": median / batch / baseline,
            }
        )

    result = {
        "tree_build_seconds": round(build_s, 2),
        "baseline_gas_per_record": baseline,
        "growth": growth,
        "per_record": per_record,
        "bar_gas_per_record": baseline / 100,
    }
    ok = per_record[0]["gas_per_record"] < baseline / 100
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"baseline: one hash per record in its own transaction, median "
            f"{baseline:,.0f} gas per record ({len(baseline_gas)} transactions)"
        )
        print(
            f"\nanchor gas as the log grows to 2^{args.max_log2} = {top:,} leaves "
            f"(tree built in {build_s:.1f} s)"
        )
        print(f"{'from':>10} {'to':>10} {'proof nodes':>12} {'gas':>9}")
        for g in growth:
            print(f"{g['from']:>10,} {g['to']:>10,} {g['proof_nodes']:>12} {g['gas']:>9,}")
        print("\ngas per record at a fixed checkpoint interval (median of 7 anchors)")
        print(
            f"{'records/checkpoint':>19} {'anchor gas':>11} {'gas/record':>11} {'vs baseline':>12}"
        )
        for p in per_record:
            print(
                f"{p['records_per_checkpoint']:>19,} {p['median_anchor_gas']:>11,.0f} "
                f"{p['gas_per_record']:>11.2f} {p['ratio_to_baseline']:>11.3%}"
            )
        verdict = "PASS" if ok else "FAIL"
        print(
            f"\n{verdict}: {per_record[0]['gas_per_record']:.1f} gas per record at 1,000 "
            f"records per checkpoint; bar is < 1% of baseline = {baseline / 100:.0f}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
