"""RFC 9162 log math: against the RFC's definitions, published test vectors, an independent
implementation (pymerkle), and every corrupted proof for tree sizes 1..64."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree, InvalidProof
from pymerkle import verify_consistency as verify_pymerkle

from gateway.domain.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    ProofError,
    all_inclusion_proofs,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.merkle_cases import MAX_SIZE, consistency_cases, inclusion_cases, matrix_tree

# The eight leaves of the RFC 6962 reference test data (certificate-transparency, used again by
# transparency-dev/merkle), and the published roots and proofs over them.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def _hex(proof: list[bytes]) -> list[str]:
    return [p.hex() for p in proof]


def test_published_rfc6962_vectors() -> None:
    t = MemoryTree(leaf_hash(d) for d in CT_LEAVES)
    assert t.root(0) == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert [t.root(n).hex() for n in range(1, 9)] == CT_ROOTS
    for (i, n), expected in CT_INCLUSION.items():
        assert _hex(t.inclusion_proof(i, n)) == expected
        assert verify_inclusion(t.levels[0][i], i, n, t.inclusion_proof(i, n), t.root(n))
    for (m, n), expected in CT_CONSISTENCY.items():
        assert _hex(t.consistency_proof(m, n)) == expected
        assert verify_consistency(m, n, t.root(m), t.root(n), t.consistency_proof(m, n))


def test_roots_agree_with_the_rfc_recursive_definition() -> None:
    t = matrix_tree()
    for n in range(MAX_SIZE + 1):
        assert t.root(n) == tree_root(t.levels[0][:n])


def test_agrees_with_pymerkle() -> None:
    """pymerkle (an implementation we did not write) in its RFC 9162 mode (security prefixes)."""
    theirs = InmemoryTree(algorithm="sha256")
    assert theirs.security
    ours = MemoryTree()
    for i in range(MAX_SIZE):
        data = b"pymerkle entry %d" % i
        theirs.append_entry(data)
        ours.append(leaf_hash(data))
    for n in range(1, MAX_SIZE + 1):
        assert ours.root(n) == theirs.get_root(n)
        for i in range(n):  # pymerkle indexes leaves from 1 and puts the leaf first in its path
            path = [bytes.fromhex(h) for h in theirs.prove_inclusion(i + 1, n).serialize()["path"]]
            assert path[0] == ours.levels[0][i]
            assert path[1:] == ours.inclusion_proof(i, n)
        for m in range(1, n):
            # pymerkle's consistency paths decompose the old tree differently (not RFC 9162's
            # PROOF), so compare meaning: its own verifier links *our* roots of m and n, and
            # refuses a root we did not produce.
            proof = theirs.prove_consistency(m, n)
            verify_pymerkle(ours.root(m), ours.root(n), proof, prior_size=m, later_size=n)
            with pytest.raises(InvalidProof):
                verify_pymerkle(ours.root(m), ours.root(n)[::-1], proof, prior_size=m, later_size=n)


def test_consistency_matrix_off_chain() -> None:
    counts: Counter[str] = Counter()
    for case in consistency_cases():
        got = verify_consistency(
            case.old_size, case.new_size, case.old_root, case.new_root, case.proof
        )
        assert got is case.valid, case
        counts[case.label if case.valid else "rejected"] += 1
    assert counts["valid"] == MAX_SIZE * (MAX_SIZE + 1) // 2
    assert counts["rejected"] > 20 * counts["valid"]


def test_inclusion_matrix_off_chain() -> None:
    counts: Counter[str] = Counter()
    for case in inclusion_cases():
        got = verify_inclusion(case.leaf, case.index, case.size, case.proof, case.root)
        assert got is case.valid, case
        counts[case.label if case.valid else "rejected"] += 1
    assert counts["valid"] == MAX_SIZE * (MAX_SIZE + 1) // 2
    assert counts["rejected"] > 20 * counts["valid"]


def test_edge_cases() -> None:
    t = matrix_tree()
    assert verify_consistency(0, 5, b"", t.root(5), [])  # the empty tree precedes everything
    assert not verify_consistency(0, 5, b"", t.root(5), [t.root(5)])
    assert verify_consistency(5, 5, t.root(5), t.root(5), [])
    assert not verify_consistency(5, 5, t.root(5), t.root(4), [])
    assert not verify_consistency(6, 5, t.root(6), t.root(5), [])
    assert not verify_inclusion(t.levels[0][0], 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(t.levels[0][0], -1, 3, [], t.root(3))
    assert not verify_consistency(3, 7, t.root(3), t.root(7), [b"short"])
    with pytest.raises(ProofError):
        t.inclusion_proof(5, 5)
    with pytest.raises(ProofError):
        t.consistency_proof(6, 5)
    with pytest.raises(ProofError):
        t.root(MAX_SIZE + 1)
    assert node_hash(b"a" * 32, b"b" * 32) != node_hash(b"b" * 32, b"a" * 32)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_large_trees_random_pairs(data: st.DataObject) -> None:
    """Sizes far beyond the exhaustive range: proofs from stored subtrees stay valid and short."""
    n = data.draw(st.integers(2, 5000))
    t = _big_tree()
    m = data.draw(st.integers(1, n))
    i = data.draw(st.integers(0, n - 1))
    cp = consistency_proof(t, m, n)
    ip = inclusion_proof(t, i, n)
    assert verify_consistency(m, n, t.root(m), t.root(n), cp)
    assert verify_inclusion(t.levels[0][i], i, n, ip, t.root(n))
    assert len(cp) <= 2 * n.bit_length()
    assert len(ip) <= n.bit_length()


_BIG: list[MemoryTree] = []


def _big_tree() -> MemoryTree:
    if not _BIG:
        _BIG.append(MemoryTree(leaf_hash(i.to_bytes(4, "big")) for i in range(5000)))
    return _BIG[0]


class CountingSource:
    """Counts node reads, to show proofs cost O(log n) reads of stored subtrees."""

    def __init__(self, tree: MemoryTree) -> None:
        self.tree = tree
        self.reads = 0

    def get_nodes(self, nodes: object) -> dict[tuple[int, int], bytes]:
        got = self.tree.get_nodes(nodes)  # type: ignore[arg-type]
        self.reads += len(got)
        return got


def test_proofs_read_logarithmically_many_nodes() -> None:
    n = 2**16 + 12345
    t = MemoryTree(leaf_hash(i.to_bytes(4, "big")) for i in range(n))
    src = CountingSource(t)
    inclusion_proof(src, 777, n)
    assert src.reads <= 2 * n.bit_length()
    src.reads = 0
    consistency_proof(src, 40000, n)
    assert src.reads <= 3 * n.bit_length()


def test_all_inclusion_proofs_equal_the_one_at_a_time_paths() -> None:
    for n in range(0, 70):
        leaves = [leaf_hash(b"%d" % i) for i in range(n)]
        tree = MemoryTree(leaves)
        assert all_inclusion_proofs(leaves) == [tree.inclusion_proof(i) for i in range(n)]
