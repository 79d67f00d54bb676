// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Service directory of the network's gateways
/// @notice Where each city's gateway answers: gateway organisation → base URL, so that a
/// gateway finds a partner city from the chain alone (like X-Road's global configuration).
/// Only active `Gateway`-kind organisations are listed; at most one gateway per city.
interface IDirectory {
    /// @notice A listed gateway.
    /// @param gatewayOrg the gateway organisation's id in Membership
    /// @param city its city (GB/T 2260), copied from Membership when set
    /// @param updatedAt block timestamp of the last change
    /// @param url its base URL (e.g. "https://credit.lanzhou.example/")
    struct Entry {
        bytes32 gatewayOrg;
        uint32 city;
        uint64 updatedAt;
        string url;
    }

    /// @notice Emitted when a gateway's URL is set (it becomes its city's listed gateway).
    event EndpointSet(bytes32 indexed gatewayOrg, uint32 indexed city, string url);
    /// @notice Emitted when a gateway is removed from the directory.
    event EndpointRemoved(bytes32 indexed gatewayOrg, uint32 indexed city);

    /// @dev The organisation is not of kind Gateway.
    error NotGateway(bytes32 orgId);
    /// @dev The gateway organisation is suspended.
    error GatewayNotActive(bytes32 orgId);
    /// @dev Only the gateway's current signer or a registrar of its city may change its entry.
    error NotGatewaySignerOrRegistrar(bytes32 orgId, address caller);
    /// @dev Empty URL, or longer than MAX_URL_LENGTH bytes.
    error InvalidEndpoint();
    /// @dev The gateway organisation has no entry.
    error NotListed(bytes32 orgId);
    /// @dev No gateway is listed for the city.
    error NoGatewayForCity(uint32 city);

    /// @notice List `gatewayOrg` at `url`, replacing its city's previous gateway if another.
    /// Callable by the gateway's current signer (key rotation moves the right) or a registrar
    /// of its city; the organisation must be an active Gateway.
    function setEndpoint(bytes32 gatewayOrg, string calldata url) external;

    /// @notice Remove `gatewayOrg` from the directory. Same callers as `setEndpoint` (a
    /// suspended gateway's registrar may remove it).
    function removeEndpoint(bytes32 gatewayOrg) external;

    /// @notice The entry of `gatewayOrg`; reverts NotListed, or GatewayNotActive once suspended.
    function endpointOf(bytes32 gatewayOrg) external view returns (Entry memory);

    /// @notice The gateway listed for `city`; reverts NoGatewayForCity, or GatewayNotActive
    /// when that gateway has been suspended since.
    function gatewayOfCity(uint32 city) external view returns (Entry memory);

    /// @notice Every city that has, or had, a listed gateway, in the order first listed.
    function cities() external view returns (uint32[] memory);
}
