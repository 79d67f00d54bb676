// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IMembership} from "./interfaces/IMembership.sol";
import {IDirectory} from "./interfaces/IDirectory.sol";

/// @title Directory
/// @notice The network's service directory: each city's gateway organisation and its base URL.
/// @dev No roles and no admin: like Grants and RecordStatus, every authority comes from
/// `Membership` (the gateway's current signer, its city's registrars, its kind and standing),
/// so rotating a gateway's keys moves the right to change its entry, and suspending it there
/// hides it here at once.
contract Directory is IDirectory {
    /// @notice Longest URL accepted, in bytes.
    uint256 public constant MAX_URL_LENGTH = 256;

    IMembership private immutable _membership;

    mapping(bytes32 gatewayOrg => Entry) private _entries;
    mapping(uint32 city => bytes32 gatewayOrg) private _gatewayOfCity;
    uint32[] private _cities;

    /// @param membership_ the consortium's Membership registry
    constructor(IMembership membership_) {
        _membership = membership_;
    }

    /// @notice The Membership registry this directory takes organisations from.
    function membership() external view returns (IMembership) {
        return _membership;
    }

    /// @inheritdoc IDirectory
    function setEndpoint(bytes32 gatewayOrg, string calldata url) external {
        IMembership.Org memory o = _membership.org(gatewayOrg);
        if (o.kind != IMembership.OrgKind.Gateway) revert NotGateway(gatewayOrg);
        if (!o.active) revert GatewayNotActive(gatewayOrg);
        _checkCaller(gatewayOrg, o.city);
        uint256 length = bytes(url).length;
        if (length == 0 || length > MAX_URL_LENGTH) revert InvalidEndpoint();
        bytes32 previous = _gatewayOfCity[o.city];
        if (previous == bytes32(0)) {
            _cities.push(o.city);
        } else if (previous != gatewayOrg) {
            delete _entries[previous];
            emit EndpointRemoved(previous, o.city);
        }
        _gatewayOfCity[o.city] = gatewayOrg;
        _entries[gatewayOrg] = Entry({gatewayOrg: gatewayOrg, city: o.city, updatedAt: uint64(block.timestamp), url: url});
        emit EndpointSet(gatewayOrg, o.city, url);
    }

    /// @inheritdoc IDirectory
    function removeEndpoint(bytes32 gatewayOrg) external {
        Entry storage e = _entries[gatewayOrg];
        if (e.gatewayOrg == bytes32(0)) revert NotListed(gatewayOrg);
        uint32 city = e.city;
        _checkCaller(gatewayOrg, city);
        delete _entries[gatewayOrg];
        delete _gatewayOfCity[city];
        emit EndpointRemoved(gatewayOrg, city);
    }

    /// @inheritdoc IDirectory
    function endpointOf(bytes32 gatewayOrg) external view returns (Entry memory) {
        Entry memory e = _entries[gatewayOrg];
        if (e.gatewayOrg == bytes32(0)) revert NotListed(gatewayOrg);
        if (!_membership.isActive(gatewayOrg)) revert GatewayNotActive(gatewayOrg);
        return e;
    }

    /// @inheritdoc IDirectory
    function gatewayOfCity(uint32 city) external view returns (Entry memory) {
        bytes32 gatewayOrg = _gatewayOfCity[city];
        if (gatewayOrg == bytes32(0)) revert NoGatewayForCity(city);
        if (!_membership.isActive(gatewayOrg)) revert GatewayNotActive(gatewayOrg);
        return _entries[gatewayOrg];
    }

    /// @inheritdoc IDirectory
    function cities() external view returns (uint32[] memory) {
        return _cities;
    }

    function _checkCaller(bytes32 gatewayOrg, uint32 city) private view {
        if (_membership.currentKeys(gatewayOrg).signer != msg.sender && !_membership.isRegistrar(msg.sender, city)) {
            revert NotGatewaySignerOrRegistrar(gatewayOrg, msg.sender);
        }
    }
}
