// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ICheckpointLog} from "./interfaces/ICheckpointLog.sol";
import {RFC9162} from "./libraries/RFC9162.sol";

/// @title CheckpointLog
/// @notice Keeps every checkpoint of every registered RFC 9162 log and accepts a new one only
/// with a valid consistency proof from the latest, so history can be extended but never
/// rewritten, truncated or forked.
/// @dev Roles: the default admin (two-step transfer with a delay) grants LOG_ADMIN_ROLE, which
/// registers logs and rotates their operators; each log's operator alone anchors it.
contract CheckpointLog is ICheckpointLog, AccessControlDefaultAdminRules {
    /// @notice Registers logs and replaces their operators.
    bytes32 public constant LOG_ADMIN_ROLE = keccak256("LOG_ADMIN_ROLE");

    mapping(bytes32 logId => LogInfo) private _logs;
    mapping(bytes32 logId => Checkpoint[]) private _checkpoints;

    /// @param adminDelay seconds a default-admin transfer must wait before it can be accepted
    /// @param admin the initial default admin (the consortium's admin account)
    constructor(uint48 adminDelay, address admin) AccessControlDefaultAdminRules(adminDelay, admin) {}

    /// @inheritdoc ICheckpointLog
    function registerLog(bytes32 logId, bytes32 ownerOrg, address operator) external onlyRole(LOG_ADMIN_ROLE) {
        if (logId == bytes32(0) || operator == address(0)) revert InvalidLogParameters();
        if (_logs[logId].operator != address(0)) revert LogAlreadyRegistered(logId);
        _logs[logId] = LogInfo({operator: operator, ownerOrg: ownerOrg});
        emit LogRegistered(logId, ownerOrg, operator);
    }

    /// @inheritdoc ICheckpointLog
    function setOperator(bytes32 logId, address operator) external onlyRole(LOG_ADMIN_ROLE) {
        if (operator == address(0)) revert InvalidLogParameters();
        LogInfo storage info = _logs[logId];
        address previous = info.operator;
        if (previous == address(0)) revert UnknownLog(logId);
        info.operator = operator;
        emit LogOperatorChanged(logId, previous, operator);
    }

    /// @inheritdoc ICheckpointLog
    function anchor(bytes32 logId, uint64 size, bytes32 root, bytes32[] calldata proof) external {
        address operator = _logs[logId].operator;
        if (operator == address(0)) revert UnknownLog(logId);
        if (msg.sender != operator) revert NotLogOperator(logId, msg.sender);
        if (size == 0) revert EmptyCheckpoint(logId);

        Checkpoint[] storage checkpoints = _checkpoints[logId];
        uint256 count = checkpoints.length;
        if (count == 0) {
            if (proof.length != 0) revert InvalidConsistencyProof(logId, 0, size);
        } else {
            Checkpoint storage latest = checkpoints[count - 1];
            uint64 latestSize = latest.size;
            bytes32 latestRoot = latest.root;
            if (size < latestSize) revert CheckpointNotNewer(logId, size, latestSize);
            if (size == latestSize) {
                if (root == latestRoot) revert CheckpointAlreadyAnchored(logId, size);
                revert ConflictingRoot(logId, size, latestRoot, root);
            }
            if (!RFC9162.verifyConsistency(latestSize, size, latestRoot, root, proof)) {
                revert InvalidConsistencyProof(logId, latestSize, size);
            }
        }
        checkpoints.push(
            Checkpoint({size: size, timestamp: uint64(block.timestamp), blockNumber: uint64(block.number), root: root})
        );
        emit CheckpointAnchored(logId, size, root, count);
    }

    /// @inheritdoc ICheckpointLog
    function logInfo(bytes32 logId) external view returns (LogInfo memory) {
        LogInfo memory info = _logs[logId];
        if (info.operator == address(0)) revert UnknownLog(logId);
        return info;
    }

    /// @inheritdoc ICheckpointLog
    function checkpointCount(bytes32 logId) external view returns (uint256) {
        return _checkpoints[logId].length;
    }

    /// @inheritdoc ICheckpointLog
    function checkpointAt(bytes32 logId, uint256 index) external view returns (Checkpoint memory) {
        Checkpoint[] storage checkpoints = _checkpoints[logId];
        if (index >= checkpoints.length) revert CheckpointNotFound(logId, 0);
        return checkpoints[index];
    }

    /// @inheritdoc ICheckpointLog
    function latestCheckpoint(bytes32 logId) external view returns (Checkpoint memory) {
        Checkpoint[] storage checkpoints = _checkpoints[logId];
        uint256 count = checkpoints.length;
        if (count == 0) revert CheckpointNotFound(logId, 0);
        return checkpoints[count - 1];
    }

    /// @inheritdoc ICheckpointLog
    function checkpointForSize(bytes32 logId, uint64 size) public view returns (Checkpoint memory) {
        Checkpoint[] storage checkpoints = _checkpoints[logId];
        uint256 lo = 0;
        uint256 hi = checkpoints.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            uint64 midSize = checkpoints[mid].size;
            if (midSize == size) return checkpoints[mid];
            if (midSize < size) lo = mid + 1;
            else hi = mid;
        }
        revert CheckpointNotFound(logId, size);
    }

    /// @inheritdoc ICheckpointLog
    function verifyInclusion(
        bytes32 logId,
        uint64 size,
        uint64 index,
        bytes32 leafHash,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 root = checkpointForSize(logId, size).root;
        return RFC9162.verifyInclusion(index, size, leafHash, proof, root);
    }

    /// @inheritdoc ICheckpointLog
    function verifyInclusionProof(
        uint256 index,
        uint256 size,
        bytes32 leafHash,
        bytes32[] calldata proof,
        bytes32 root
    ) external pure returns (bool) {
        return RFC9162.verifyInclusion(index, size, leafHash, proof, root);
    }

    /// @inheritdoc ICheckpointLog
    function verifyConsistencyProof(
        uint256 oldSize,
        uint256 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) external pure returns (bool) {
        return RFC9162.verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof);
    }
}
