// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IMembership} from "./interfaces/IMembership.sol";

/// @title Membership
/// @notice The consortium's registry of member organisations and their keys.
/// @dev Roles: the default admin (two-step transfer with a delay) makes a city credit office's
/// account the registrar of that one city (`grantCityRegistrar`, or `grantRole` with
/// `registrarRole(city)`); a city's registrars register, suspend and reactivate organisations
/// of that city only, and may rotate keys on behalf of one of them (a lost key). There is no
/// registrar of every city. An organisation's current signer may rotate its own keys. A signing
/// address is never reused across organisations.
contract Membership is IMembership, AccessControlDefaultAdminRules {
    /// @notice The base of every city's registrar role (`registrarRole`); not granted itself.
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
    ) external {
        _checkRegistrar(city);
        if (orgId == bytes32(0) || kind == OrgKind.None || city == 0) revert InvalidOrgParameters();
        if (_orgs[orgId].kind != OrgKind.None) revert OrgAlreadyRegistered(orgId);
        _orgs[orgId] = Org({city: city, kind: kind, active: true, registeredAt: uint64(block.timestamp), keyCount: 0});
        _pushKeys(orgId, signer, encryptionKey);
        emit OrgRegistered(orgId, city, kind, signer, encryptionKey);
    }

    /// @inheritdoc IMembership
    function rotateKeys(bytes32 orgId, address signer, bytes32 encryptionKey) external {
        Org storage o = _existing(orgId);
        if (_orgOfSigner[msg.sender] != orgId && !hasRole(registrarRole(o.city), msg.sender)) {
            revert NotOrgSignerOrRegistrar(orgId, msg.sender);
        }
        delete _orgOfSigner[_keys[orgId][o.keyCount - 1].signer];
        uint256 epoch = _pushKeys(orgId, signer, encryptionKey);
        emit KeysRotated(orgId, epoch, signer, encryptionKey);
    }

    /// @inheritdoc IMembership
    function suspend(bytes32 orgId, bytes32 reasonCode) external {
        Org storage o = _existing(orgId);
        _checkRegistrar(o.city);
        if (!o.active) revert OrgNotActive(orgId);
        o.active = false;
        emit OrgSuspended(orgId, reasonCode);
    }

    /// @inheritdoc IMembership
    function reactivate(bytes32 orgId) external {
        Org storage o = _existing(orgId);
        _checkRegistrar(o.city);
        if (o.active) revert OrgAlreadyActive(orgId);
        o.active = true;
        emit OrgReactivated(orgId);
    }

    /// @inheritdoc IMembership
    function grantCityRegistrar(uint32 city, address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (city == 0) revert InvalidCity();
        _grantRole(registrarRole(city), account);
        emit CityRegistrarGranted(city, account);
    }

    /// @inheritdoc IMembership
    function revokeCityRegistrar(uint32 city, address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _revokeRole(registrarRole(city), account);
        emit CityRegistrarRevoked(city, account);
    }

    /// @inheritdoc IMembership
    function registrarRole(uint32 city) public pure returns (bytes32) {
        return keccak256(abi.encode(REGISTRAR_ROLE, city));
    }

    /// @inheritdoc IMembership
    function isRegistrar(address account, uint32 city) external view returns (bool) {
        return hasRole(registrarRole(city), account);
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

    function _checkRegistrar(uint32 city) private view {
        if (!hasRole(registrarRole(city), msg.sender)) revert NotCityRegistrar(msg.sender, city);
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
