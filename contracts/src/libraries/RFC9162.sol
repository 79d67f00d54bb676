// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title RFC 9162 §2.1 Merkle proof verification (SHA-256, 0x00 leaf / 0x01 node prefixes)
/// @notice Step-by-step transcriptions of the RFC's verification algorithms (§2.1.3.2 inclusion,
/// §2.1.4.2 consistency). Hashing uses the SHA-256 precompile.
library RFC9162 {
    /// @notice SHA-256(0x01 || left || right).
    function nodeHash(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x01), left, right));
    }

    /// @notice RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in the tree (size, root)?
    function verifyInclusion(
        uint256 index,
        uint256 size,
        bytes32 leaf,
        bytes32[] calldata proof,
        bytes32 root
    ) internal pure returns (bool) {
        if (index >= size) return false;
        uint256 fn = index;
        uint256 sn = size - 1;
        bytes32 r = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            if (sn == 0) return false;
            if (fn & 1 == 1 || fn == sn) {
                r = nodeHash(proof[i], r);
                if (fn & 1 == 0) {
                    while (fn != 0 && fn & 1 == 0) {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                r = nodeHash(r, proof[i]);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }

    /// @notice RFC 9162 §2.1.4.2: is (newSize, newRoot) an append-only extension of (oldSize, oldRoot)?
    /// @dev From the empty tree every tree is an extension (empty proof); equal sizes need equal
    /// roots (empty proof). Otherwise the RFC's algorithm for 0 < oldSize < newSize applies.
    function verifyConsistency(
        uint256 oldSize,
        uint256 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) internal pure returns (bool) {
        if (newSize < oldSize) return false;
        if (oldSize == 0) return proof.length == 0;
        if (oldSize == newSize) return proof.length == 0 && oldRoot == newRoot;
        // Step 2: when oldSize is an exact power of two, the old root heads the path.
        bool prepend = oldSize & (oldSize - 1) == 0;
        if (!prepend && proof.length == 0) return false;
        uint256 fn = oldSize - 1;
        uint256 sn = newSize - 1;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        uint256 i;
        bytes32 fr;
        if (prepend) {
            fr = oldRoot;
        } else {
            fr = proof[0];
            i = 1;
        }
        bytes32 sr = fr;
        for (; i < proof.length; ++i) {
            if (sn == 0) return false;
            bytes32 c = proof[i];
            if (fn & 1 == 1 || fn == sn) {
                fr = nodeHash(c, fr);
                sr = nodeHash(c, sr);
                if (fn & 1 == 0) {
                    while (fn != 0 && fn & 1 == 0) {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                sr = nodeHash(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return fr == oldRoot && sr == newRoot && sn == 0;
    }
}
