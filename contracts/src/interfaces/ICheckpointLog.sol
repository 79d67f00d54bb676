// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Append-only checkpoints of RFC 9162 Merkle logs
/// @notice A log's operator anchors (size, root) checkpoints. Each new checkpoint must come
/// with an RFC 9162 §2.1.4 consistency proof from the previous one, verified on chain, so a
/// rewritten, truncated or forked log cannot be anchored. Every checkpoint is kept.
interface ICheckpointLog {
    /// @notice One anchored checkpoint of a log.
    /// @param size number of leaves in the tree
    /// @param timestamp block timestamp at which it was anchored
    /// @param blockNumber block in which it was anchored
    /// @param root the RFC 9162 Merkle tree head of the first `size` leaves
    struct Checkpoint {
        uint64 size;
        uint64 timestamp;
        uint64 blockNumber;
        bytes32 root;
    }

    /// @notice A registered log: who may anchor it and which member organisation owns it.
    struct LogInfo {
        address operator;
        bytes32 ownerOrg;
    }

    /// @notice Emitted when a log is registered.
    event LogRegistered(bytes32 indexed logId, bytes32 indexed ownerOrg, address indexed operator);

    /// @notice Emitted when a log's operator changes.
    event LogOperatorChanged(bytes32 indexed logId, address indexed previousOperator, address indexed newOperator);

    /// @notice Emitted when a checkpoint is anchored; `checkpointIndex` is its position in the log's list.
    event CheckpointAnchored(bytes32 indexed logId, uint64 indexed size, bytes32 root, uint256 checkpointIndex);

    /// @dev The log id is not registered.
    error UnknownLog(bytes32 logId);
    /// @dev The log id is registered already.
    error LogAlreadyRegistered(bytes32 logId);
    /// @dev The zero address cannot operate a log; the zero id cannot name one.
    error InvalidLogParameters();
    /// @dev Only the log's operator may anchor it.
    error NotLogOperator(bytes32 logId, address caller);
    /// @dev A checkpoint must cover at least one leaf.
    error EmptyCheckpoint(bytes32 logId);
    /// @dev The new size is smaller than the latest anchored size.
    error CheckpointNotNewer(bytes32 logId, uint64 size, uint64 latestSize);
    /// @dev This exact (size, root) is the latest checkpoint already.
    error CheckpointAlreadyAnchored(bytes32 logId, uint64 size);
    /// @dev A different root for a size that is anchored: evidence of a fork.
    error ConflictingRoot(bytes32 logId, uint64 size, bytes32 anchoredRoot, bytes32 root);
    /// @dev The consistency proof from the latest checkpoint to the new one does not verify.
    error InvalidConsistencyProof(bytes32 logId, uint64 fromSize, uint64 toSize);
    /// @dev No checkpoint of that size (or at that index) was anchored.
    error CheckpointNotFound(bytes32 logId, uint64 size);

    /// @notice Register a log and its operator. Requires LOG_ADMIN_ROLE.
    function registerLog(bytes32 logId, bytes32 ownerOrg, address operator) external;

    /// @notice Replace a log's operator (key rotation). Requires LOG_ADMIN_ROLE.
    function setOperator(bytes32 logId, address operator) external;

    /// @notice Anchor checkpoint (size, root) of `logId`, proving it extends the latest one.
    /// @param proof the RFC 9162 consistency proof from the latest anchored size to `size`;
    /// empty for the first checkpoint
    function anchor(bytes32 logId, uint64 size, bytes32 root, bytes32[] calldata proof) external;

    /// @notice The registration of `logId`; reverts with UnknownLog if there is none.
    function logInfo(bytes32 logId) external view returns (LogInfo memory);

    /// @notice How many checkpoints `logId` has.
    function checkpointCount(bytes32 logId) external view returns (uint256);

    /// @notice The `index`-th checkpoint of `logId` (0 = first).
    function checkpointAt(bytes32 logId, uint256 index) external view returns (Checkpoint memory);

    /// @notice The latest checkpoint; reverts with CheckpointNotFound(logId, 0) if none.
    function latestCheckpoint(bytes32 logId) external view returns (Checkpoint memory);

    /// @notice The checkpoint anchored at exactly `size` leaves (binary search, O(log k)).
    function checkpointForSize(bytes32 logId, uint64 size) external view returns (Checkpoint memory);

    /// @notice Does `proof` show leaf hash `leafHash` at `index` in the anchored checkpoint of `size`?
    function verifyInclusion(
        bytes32 logId,
        uint64 size,
        uint64 index,
        bytes32 leafHash,
        bytes32[] calldata proof
    ) external view returns (bool);

    /// @notice RFC 9162 §2.1.3.2 inclusion verification against a given root (pure math).
    function verifyInclusionProof(
        uint256 index,
        uint256 size,
        bytes32 leafHash,
        bytes32[] calldata proof,
        bytes32 root
    ) external pure returns (bool);

    /// @notice RFC 9162 §2.1.4.2 consistency verification between two tree heads (pure math).
    function verifyConsistencyProof(
        uint256 oldSize,
        uint256 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) external pure returns (bool);
}
