"""Valid and corrupted RFC 9162 proofs for every tree size 1..N, shared by the off-chain and
the on-chain matrices so both verifiers face exactly the same cases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from gateway.domain.merkle import MemoryTree, leaf_hash

MAX_SIZE = 64


@cache
def matrix_tree(n: int = MAX_SIZE) -> MemoryTree:
    return MemoryTree(leaf_hash(b"leaf %d" % i) for i in range(n))


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 0x01]) + h[1:]


@dataclass(frozen=True)
class ConsistencyCase:
    label: str
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: tuple[bytes, ...]
    valid: bool
    """What every RFC 9162 verifier must answer: True for the honest proof, and for a size
    variant with the same trace as the honest one (see consistency_trace); False otherwise."""


@dataclass(frozen=True)
class InclusionCase:
    label: str
    index: int
    size: int
    leaf: bytes
    proof: tuple[bytes, ...]
    root: bytes
    valid: bool


def consistency_trace(m: int, n: int, proof_len: int) -> tuple[str, ...] | None:
    """The hash operations RFC 9162 §2.1.4.2 performs for (m, n) and a proof of that length,
    or None where its bookkeeping alone fails. Two size pairs with the same trace are
    indistinguishable to every RFC 9162 verifier: the proof nodes are opaque hashes."""
    path_len = proof_len + (1 if m & (m - 1) == 0 else 0)
    if m <= 0 or n <= m or path_len == 0:
        return None
    fn, sn, ops = m - 1, n - 1, []
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    for _ in range(path_len - 1):
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            ops.append("both-left")
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            ops.append("new-right")
        fn, sn = fn >> 1, sn >> 1
    return (str(path_len), *ops) if sn == 0 else None


def inclusion_trace(i: int, n: int, proof_len: int) -> tuple[str, ...] | None:
    """The hash operations RFC 9162 §2.1.3.2 performs for leaf i of n (see consistency_trace)."""
    if not 0 <= i < n:
        return None
    fn, sn, ops = i, n - 1, []
    for _ in range(proof_len):
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            ops.append("left")
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            ops.append("right")
        fn, sn = fn >> 1, sn >> 1
    return tuple(ops) if sn == 0 else None


def _proof_variants(proof: list[bytes], extra: bytes) -> Iterator[tuple[str, list[bytes]]]:
    for i in range(len(proof)):
        yield f"node {i} flipped", [*proof[:i], _flip(proof[i]), *proof[i + 1 :]]
        yield f"node {i} dropped", proof[:i] + proof[i + 1 :]
    for i in range(len(proof) - 1):
        if proof[i] != proof[i + 1]:
            yield (
                f"nodes {i},{i + 1} swapped",
                [*proof[:i], proof[i + 1], proof[i], *proof[i + 2 :]],
            )
    for i in (0, len(proof) // 2, len(proof)):
        yield f"node added at {i}", [*proof[:i], extra, *proof[i:]]


def consistency_cases(max_size: int = MAX_SIZE) -> Iterator[ConsistencyCase]:
    """For every 1 <= m <= n <= max_size: the valid proof and every corrupted variant."""
    t = matrix_tree(max_size)
    extra = leaf_hash(b"not in the tree")
    for n in range(1, max_size + 1):
        for m in range(1, n + 1):
            proof = t.consistency_proof(m, n)
            r_m, r_n = t.root(m), t.root(n)
            yield ConsistencyCase("valid", m, n, r_m, r_n, tuple(proof), True)
            for label, p in _proof_variants(proof, extra):
                yield ConsistencyCase(label, m, n, r_m, r_n, tuple(p), False)
            same = consistency_trace(m, n, len(proof))
            for label, mm, nn in (
                ("old size +1", m + 1, n),
                ("old size -1", m - 1, n),
                ("new size +1", m, n + 1),
                ("new size -1", m, n - 1),
            ):
                if 1 <= mm <= nn:
                    # Accepted only where RFC 9162 cannot tell the sizes apart (same trace).
                    twin = m != n and consistency_trace(mm, nn, len(proof)) == same
                    yield ConsistencyCase(
                        label + (" (same trace)" if twin else ""),
                        mm,
                        nn,
                        r_m,
                        r_n,
                        tuple(proof),
                        twin,
                    )
            yield ConsistencyCase("wrong old root", m, n, _flip(r_m), r_n, tuple(proof), False)
            yield ConsistencyCase("wrong new root", m, n, r_m, _flip(r_n), tuple(proof), False)
            if proof:
                yield ConsistencyCase("empty proof", m, n, r_m, r_n, (), False)


def inclusion_cases(max_size: int = MAX_SIZE) -> Iterator[InclusionCase]:
    """For every 0 <= i < n <= max_size: the valid proof and every corrupted variant."""
    t = matrix_tree(max_size)
    extra = leaf_hash(b"not in the tree")
    for n in range(1, max_size + 1):
        root = t.root(n)
        for i in range(n):
            leaf = t.levels[0][i]
            proof = t.inclusion_proof(i, n)
            yield InclusionCase("valid", i, n, leaf, tuple(proof), root, True)
            for label, p in _proof_variants(proof, extra):
                yield InclusionCase(label, i, n, leaf, tuple(p), root, False)
            same = inclusion_trace(i, n, len(proof))
            for label, ii, nn in (
                ("index +1", i + 1, n),
                ("index -1", i - 1, n),
                ("size +1", i, n + 1),
                ("size -1", i, n - 1),
            ):
                if 0 <= ii < nn:
                    twin = ii == i and inclusion_trace(ii, nn, len(proof)) == same
                    yield InclusionCase(
                        label + (" (same trace)" if twin else ""),
                        ii,
                        nn,
                        leaf,
                        tuple(proof),
                        root,
                        twin,
                    )
            yield InclusionCase("wrong leaf", i, n, _flip(leaf), tuple(proof), root, False)
            yield InclusionCase("wrong root", i, n, leaf, tuple(proof), _flip(root), False)
            if proof:
                yield InclusionCase("empty proof", i, n, leaf, (), root, False)
