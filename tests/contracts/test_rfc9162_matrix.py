"""The on-chain RFC 9162 verifiers (CheckpointLog's pure functions, SHA-256 precompile) against
every case of tests/merkle_cases.py: the same verdict as the off-chain code on every one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import pytest
import requests
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak

from gateway.domain.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from node import AnvilNode, Chain, deploy_all, embedded
from tests.conftest import Consortium, make_consortium
from tests.merkle_cases import (
    MAX_SIZE,
    ConsistencyCase,
    InclusionCase,
    consistency_cases,
    inclusion_cases,
)

CONSISTENCY_SIG = "verifyConsistencyProof(uint256,uint256,bytes32,bytes32,bytes32[])"
INCLUSION_SIG = "verifyInclusionProof(uint256,uint256,bytes32,bytes32[],bytes32)"


def _calldata(case: ConsistencyCase | InclusionCase) -> str:
    if isinstance(case, ConsistencyCase):
        body = encode(
            ["uint256", "uint256", "bytes32", "bytes32", "bytes32[]"],
            [case.old_size, case.new_size, case.old_root, case.new_root, list(case.proof)],
        )
        return "0x" + (keccak(text=CONSISTENCY_SIG)[:4] + body).hex()
    body = encode(
        ["uint256", "uint256", "bytes32", "bytes32[]", "bytes32"],
        [case.index, case.size, case.leaf, list(case.proof), case.root],
    )
    return "0x" + (keccak(text=INCLUSION_SIG)[:4] + body).hex()


def _chunks(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    iterator = iter(it)
    while chunk := list(islice(iterator, n)):
        yield chunk


def _batch_call(url: str, to: str, datas: Sequence[str]) -> list[bool]:
    """eth_call many times in one JSON-RPC batch request (calls only, nothing is mined)."""
    payload = [
        {
            "jsonrpc": "2.0",
            "id": k,
            "method": "eth_call",
            "params": [{"to": to, "data": d}, "latest"],
        }
        for k, d in enumerate(datas)
    ]
    answers = requests.post(url, json=payload, timeout=120).json()
    by_id = {a["id"]: a for a in answers}
    out = []
    for k in range(len(datas)):
        a = by_id[k]
        assert "error" not in a, a
        (ok,) = decode(["bool"], bytes.fromhex(a["result"][2:]))
        out.append(bool(ok))
    return out


@pytest.fixture(scope="module")
def anvil_log(anvil_node: AnvilNode) -> tuple[str, str]:
    chain = anvil_node.chain()
    admin = Account.create()
    chain.fund(admin.address, 10**21)
    deployment = deploy_all(chain, admin, network="matrix")
    return anvil_node.url, deployment.address("CheckpointLog")


@pytest.mark.parametrize("kind", ["consistency", "inclusion"])
def test_matrix_on_anvil(anvil_log: tuple[str, str], kind: str) -> None:
    """Every 1 <= m <= n <= 64 (and every leaf of every size): the on-chain verdict equals the
    off-chain one, and both equal the expected one."""
    url, address = anvil_log
    cases: list[Any] = list(consistency_cases() if kind == "consistency" else inclusion_cases())
    verdicts: Counter[tuple[str, bool]] = Counter()
    for chunk in _chunks(cases, 2000):
        on_chain = _batch_call(url, address, [_calldata(c) for c in chunk])
        for case, got in zip(chunk, on_chain, strict=True):
            off_chain = (
                verify_consistency(
                    case.old_size, case.new_size, case.old_root, case.new_root, case.proof
                )
                if kind == "consistency"
                else verify_inclusion(case.leaf, case.index, case.size, case.proof, case.root)
            )
            assert got is off_chain is case.valid, case
            verdicts[("valid" if case.label == "valid" else "variant", got)] += 1
    assert verdicts[("valid", True)] == MAX_SIZE * (MAX_SIZE + 1) // 2
    assert verdicts[("variant", False)] > 40_000
    print(f"\n{kind}: {len(cases)} cases on chain, {dict(verdicts)}")


def test_matrix_on_embedded_small_sizes() -> None:
    """The same verdicts from py-evm (eth-tester) for every size up to 10."""
    chain: Chain = embedded()
    c: Consortium = make_consortium(chain)
    log = c.log.contract
    tester = chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    n = 0
    for case in [*consistency_cases(10), *inclusion_cases(10)]:
        result = tester.call(
            {"to": log.address, "from": c.admin.address, "data": _calldata(case)}, "latest"
        )
        (got,) = decode(["bool"], bytes.fromhex(result[2:]))
        assert bool(got) is case.valid, case
        n += 1
    assert n > 1800


def test_inclusion_against_anchored_checkpoints_binds_the_size(consortium: Consortium) -> None:
    """Against anchored checkpoints the size comes from the chain: the size variants that pure
    RFC 9162 verification cannot tell apart are all refused by verifyInclusion(logId, ...)."""
    c = consortium
    t = MemoryTree(leaf_hash(b"leaf %d" % i) for i in range(8))
    log_id = keccak(text="matrix-log")
    c.log.register_log(c.log_admin, log_id, b"\x00" * 32, c.operator.address)
    c.log.anchor(c.operator, log_id, 3, t.root(3), [])
    c.log.anchor(c.operator, log_id, 4, t.root(4), t.consistency_proof(3, 4))
    proof = t.inclusion_proof(1, 3)
    assert c.log.verify_inclusion_proof(1, 4, t.levels[0][1], proof, t.root(3))  # RFC twin
    assert c.log.verify_inclusion(log_id, 3, 1, t.levels[0][1], proof)
    assert not c.log.verify_inclusion(log_id, 4, 1, t.levels[0][1], proof)
