"""RFC 9162 §2.1 Merkle tree math: tree hashes, inclusion and consistency proofs.

Pure code: no I/O, no clock, no randomness. Hashing is SHA-256 with the RFC's domain
separation (``0x00`` before a leaf, ``0x01`` before an interior node).

Proof generation never rebuilds the tree. Every hash a proof needs is the hash of a
*perfect subtree* — ``2**level`` leaves starting at ``index * 2**level`` — or a right-fold of a
few of them, so a store that keeps perfect-subtree hashes answers any proof with O(log n)
node reads (:class:`NodeSource`). :class:`MemoryTree` is such a store in memory.

Verification follows the RFC's algorithms (§2.1.3.2 and §2.1.4.2) step by step; the Solidity
``CheckpointLog`` contract implements the same two algorithms, and the tests hold them to the
same verdict on every corrupted proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "MemoryTree",
    "NodeSource",
    "ProofError",
    "all_inclusion_proofs",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root_from_perfect_subtrees",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) — the hash of an empty tree (RFC 9162 §2.1.1)."""

Node = tuple[int, int]
"""A perfect subtree: (level, index) covers leaves ``[index << level, (index + 1) << level)``."""


class ProofError(ValueError):
    """A proof was requested for sizes or indices that do not exist."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# ---------------------------------------------------------------------------------------------
# Which perfect subtrees a proof needs
# ---------------------------------------------------------------------------------------------


def _range_nodes(start: int, end: int) -> list[Node]:
    """Perfect subtrees, largest first, whose right-fold is MTH(D[start:end]).

    Every range that RFC 9162's recursive definitions produce starts at a multiple of the
    largest power of two below its length (or is perfect itself), so it decomposes into
    aligned perfect subtrees of strictly decreasing size.
    """
    nodes: list[Node] = []
    pos = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        size = 1 << level
        if pos % size:  # pragma: no cover - unreachable for RFC 9162 ranges
            raise ProofError(f"range [{start}, {end}) is not RFC 9162-aligned")
        nodes.append((level, pos >> level))
        pos += size
        remaining -= size
    return nodes


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PATH(index, D[0:size]), leaf to root (RFC 9162 §2.1.3.1)."""
    ranges: list[tuple[int, int]] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1)."""
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while True:
        if m == hi - lo:
            if not complete:
                ranges.append((lo, hi))
            break
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    ranges.reverse()
    return ranges


# ---------------------------------------------------------------------------------------------
# Hashes from perfect subtrees
# ---------------------------------------------------------------------------------------------


class NodeSource(Protocol):
    """Anything that can return perfect-subtree hashes, many at once (one query for a store)."""

    def get_nodes(self, nodes: Sequence[Node]) -> Mapping[Node, bytes]:
        """Return the hash of each requested (level, index); all must exist."""
        ...


def root_from_perfect_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Right-fold perfect-subtree hashes given largest first: h0 . (h1 . (h2 ...))."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _hashes_for(source: NodeSource, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    per_range = [_range_nodes(a, b) for a, b in ranges]
    wanted = sorted({n for nodes in per_range for n in nodes})
    got = source.get_nodes(wanted)
    return [root_from_perfect_subtrees([got[n] for n in nodes]) for nodes in per_range]


def range_hash(source: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for an RFC 9162-aligned range, from O(log n) perfect subtrees."""
    if not 0 <= start <= end:
        raise ProofError(f"bad range [{start}, {end})")
    return _hashes_for(source, [(start, end)])[0]


def inclusion_proof(source: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) — the audit path of leaf ``index`` in the tree of ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    return _hashes_for(source, _inclusion_ranges(index, size))


def consistency_proof(source: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]); empty when old_size is 0 or equals new_size."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    return _hashes_for(source, _consistency_ranges(old_size, new_size))


# ---------------------------------------------------------------------------------------------
# Verification (RFC 9162 §2.1.3.2, §2.1.4.2)
# ---------------------------------------------------------------------------------------------


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` under ``root``?"""
    if index < 0 or index >= size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (new_size, new_root) an extension of (old_size, old_root)?

    The RFC's algorithm covers 0 < old_size < new_size. The edge cases follow its definitions:
    from the empty tree every tree is an extension (empty proof), and equal sizes need equal
    roots (empty proof).
    """
    if old_size < 0 or new_size < old_size or any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == 0:
        return not proof
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # exact power of two: the old root is a node of the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


# ---------------------------------------------------------------------------------------------
# An in-memory store of perfect subtrees
# ---------------------------------------------------------------------------------------------


@dataclass
class MemoryTree:
    """An append-only RFC 9162 tree in memory, keeping every perfect-subtree hash.

    ``levels[l][i]`` is the hash of perfect subtree (l, i). Appending a leaf costs amortised
    O(1) hashes; root, inclusion and consistency proofs of any past size cost O(log n).
    """

    levels: list[list[bytes]]

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels = [[]]
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> int:
        """Append one leaf *hash*; return its index."""
        index = self.size
        self.levels[0].append(leaf)
        level, i, h = 0, index, leaf
        while i & 1:
            h = node_hash(self.levels[level][i - 1], h)
            level += 1
            i >>= 1
            if level == len(self.levels):
                self.levels.append([])
            self.levels[level].append(h)
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf in leaf_hashes:
            self.append(leaf)

    def get_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        return {(level, i): self.levels[level][i] for level, i in nodes}

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size]); the current root by default."""
        n = self.size if size is None else size
        if not 0 <= n <= self.size:
            raise ProofError(f"tree has {self.size} leaves, not {n}")
        return range_hash(self, 0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        n = self.size if size is None else size
        if n > self.size:
            raise ProofError(f"tree has {self.size} leaves, not {n}")
        return inclusion_proof(self, index, n)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        n = self.size if new_size is None else new_size
        if n > self.size:
            raise ProofError(f"tree has {self.size} leaves, not {n}")
        return consistency_proof(self, old_size, n)


def all_inclusion_proofs(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """PATH(i, D[0:n]) for every leaf i, in one O(n log n) pass (each subtree hashed once).

    Equal to ``[inclusion_proof(tree, i, n) for i in range(n)]``; RFC 9162 §2.1.3.1's recursion
    run for all leaves at once: the paths in the left subtree end with MTH(right) and those in
    the right subtree with MTH(left).
    """
    n = len(leaf_hashes)
    paths: list[list[bytes]] = [[] for _ in range(n)]

    def build(start: int, end: int) -> bytes:
        if end - start == 1:
            return leaf_hashes[start]
        k = _split(end - start)
        left = build(start, start + k)
        right = build(start + k, end)
        for i in range(start, start + k):
            paths[i].append(right)
        for i in range(start + k, end):
            paths[i].append(left)
        return node_hash(left, right)

    if n:
        build(0, n)
    return paths


def tree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes, by the RFC's recursive definition (reference code)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(tree_root(leaf_hashes[:k]), tree_root(leaf_hashes[k:]))
