// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IMembership} from "./interfaces/IMembership.sol";

/// @title Membership
/// @notice The consortium's registry of member organisations and their keys.
/// @dev Roles: the default admin (two-step transfer with a delay) grants REGISTRAR_ROLE to the
/// city credit offices' accounts; registrars register, suspend and reactivate organisations
/// and may rotate keys on an organisation's behalf (a lost key). An organisation's current
/// signer may rotate its own keys. A signing address is never reused across organisations.
contract Membership is IMembership, AccessControlDefaultAdminRules {
    /// @notice Registers, suspends and reactivates organisations.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    mapping(bytes32 orgId => Org) private _orgs;
    mapping(bytes32 orgId => KeyEpoch[]) private _keys;
    mapping(address signer => bytes32 orgId) private _orgOfSigner;
    mapping(address signer => bool) private _signerUsed;

    /// @param adminDelay seconds a default-admin transfer must wait before it can be accepted
    /// @param admin the initial default admin (the consortium's admin account)
    constructor(uint48 adminDelay, address admin) AccessControlDefaultAdminRules(adminDelay, admin) {}

    /// @inheritdoc IMembership
    function registerOrg(
        bytes32 orgId,
        uint32 city,
        OrgKind kind,
        address signer,
        bytes32 encryptionKey
    ) external onlyRole(REGISTRAR_ROLE) {
        if (orgId == bytes32(0) || kind == OrgKind.None) revert InvalidOrgParameters();
        if (_orgs[orgId].kind != OrgKind.None) revert OrgAlreadyRegistered(orgId);
        _orgs[orgId] = Org({city: city, kind: kind, active: true, registeredAt: uint64(block.timestamp), keyCount: 0});
        _pushKeys(orgId, signer, encryptionKey);
        emit OrgRegistered(orgId, city, kind, signer, encryptionKey);
    }

    /// @inheritdoc IMembership
    function rotateKeys(bytes32 orgId, address signer, bytes32 encryptionKey) external {
        Org storage o = _existing(orgId);
        if (_orgOfSigner[msg.sender] != orgId && !hasRole(REGISTRAR_ROLE, msg.sender)) {
            revert NotOrgSignerOrRegistrar(orgId, msg.sender);
        }
        delete _orgOfSigner[_keys[orgId][o.keyCount - 1].signer];
        uint256 epoch = _pushKeys(orgId, signer, encryptionKey);
        emit KeysRotated(orgId, epoch, signer, encryptionKey);
    }

    /// @inheritdoc IMembership
    function suspend(bytes32 orgId, bytes32 reasonCode) external onlyRole(REGISTRAR_ROLE) {
        Org storage o = _existing(orgId);
        if (!o.active) revert OrgNotActive(orgId);
        o.active = false;
        emit OrgSuspended(orgId, reasonCode);
    }

    /// @inheritdoc IMembership
    function reactivate(bytes32 orgId) external onlyRole(REGISTRAR_ROLE) {
        Org storage o = _existing(orgId);
        if (o.active) revert OrgAlreadyActive(orgId);
        o.active = true;
        emit OrgReactivated(orgId);
    }

    /// @inheritdoc IMembership
    function org(bytes32 orgId) external view returns (Org memory) {
        return _existing(orgId);
    }

    /// @inheritdoc IMembership
    function currentKeys(bytes32 orgId) external view returns (KeyEpoch memory) {
        Org storage o = _existing(orgId);
        return _keys[orgId][o.keyCount - 1];
    }

    /// @inheritdoc IMembership
    function keyEpoch(bytes32 orgId, uint256 epoch) external view returns (KeyEpoch memory) {
        Org storage o = _existing(orgId);
        if (epoch >= o.keyCount) revert NoKeyAt(orgId, 0);
        return _keys[orgId][epoch];
    }

    /// @inheritdoc IMembership
    function keysAt(bytes32 orgId, uint64 timestamp) external view returns (KeyEpoch memory) {
        Org storage o = _existing(orgId);
        KeyEpoch[] storage keys = _keys[orgId];
        // Find the last epoch with validFrom <= timestamp.
        uint256 lo = 0;
        uint256 hi = o.keyCount;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (keys[mid].validFrom <= timestamp) lo = mid + 1;
            else hi = mid;
        }
        if (lo == 0) revert NoKeyAt(orgId, timestamp);
        return keys[lo - 1];
    }

    /// @inheritdoc IMembership
    function orgOfSigner(address signer) external view returns (bytes32) {
        return _orgOfSigner[signer];
    }

    /// @inheritdoc IMembership
    function isActive(bytes32 orgId) external view returns (bool) {
        return _orgs[orgId].active;
    }

    function _existing(bytes32 orgId) private view returns (Org storage o) {
        o = _orgs[orgId];
        if (o.kind == OrgKind.None) revert UnknownOrg(orgId);
    }

    function _pushKeys(bytes32 orgId, address signer, bytes32 encryptionKey) private returns (uint256 epoch) {
        if (signer == address(0) || encryptionKey == bytes32(0)) revert InvalidOrgParameters();
        if (_signerUsed[signer]) revert SignerAlreadyUsed(signer);
        _signerUsed[signer] = true;
        _orgOfSigner[signer] = orgId;
        Org storage o = _orgs[orgId];
        epoch = o.keyCount;
        o.keyCount = uint32(epoch + 1);
        _keys[orgId].push(
            KeyEpoch({
                signer: signer,
                validFrom: uint64(block.timestamp),
                validFromBlock: uint64(block.number),
                encryptionKey: encryptionKey
            })
        );
    }
}
