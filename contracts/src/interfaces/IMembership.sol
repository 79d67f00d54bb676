// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Consortium membership registry
/// @notice Member organisations of the credit network: their city, kind, signing address,
/// X25519 encryption key and standing. Key rotation keeps every past key with the time it took
/// effect, so a signature can be checked against the key that was valid when it was made.
interface IMembership {
    /// @notice What an organisation is; decides what it may submit and read off chain.
    enum OrgKind {
        None,
        Department,
        FinancialInstitution,
        Utility,
        CreditOffice,
        Auditor,
        Gateway
    }

    /// @notice A member organisation.
    /// @param city GB/T 2260 administrative division code of its city (e.g. 610800 Yulin)
    /// @param kind what it is
    /// @param active false while suspended
    /// @param registeredAt block timestamp of registration
    /// @param keyCount number of key epochs (1 + rotations)
    struct Org {
        uint32 city;
        OrgKind kind;
        bool active;
        uint64 registeredAt;
        uint32 keyCount;
    }

    /// @notice The keys an organisation used from `validFrom` until the next epoch's `validFrom`.
    struct KeyEpoch {
        address signer;
        uint64 validFrom;
        uint64 validFromBlock;
        bytes32 encryptionKey;
    }

    /// @notice Emitted when an organisation is registered with its first keys.
    event OrgRegistered(bytes32 indexed orgId, uint32 indexed city, OrgKind kind, address signer, bytes32 encryptionKey);
    /// @notice Emitted when an organisation's keys change; `epoch` is the new epoch's index.
    event KeysRotated(bytes32 indexed orgId, uint256 epoch, address signer, bytes32 encryptionKey);
    /// @notice Emitted when an organisation is suspended, with a reason code.
    event OrgSuspended(bytes32 indexed orgId, bytes32 reasonCode);
    /// @notice Emitted when a suspended organisation is reactivated.
    event OrgReactivated(bytes32 indexed orgId);
    /// @notice Emitted when `account` becomes a registrar of `city` (through
    /// `grantCityRegistrar`; a direct `grantRole(registrarRole(city), …)` emits only RoleGranted).
    event CityRegistrarGranted(uint32 indexed city, address indexed account);
    /// @notice Emitted when `account` stops being a registrar of `city` (through
    /// `revokeCityRegistrar`).
    event CityRegistrarRevoked(uint32 indexed city, address indexed account);

    /// @dev No organisation has this id.
    error UnknownOrg(bytes32 orgId);
    /// @dev An organisation with this id exists.
    error OrgAlreadyRegistered(bytes32 orgId);
    /// @dev Zero id, `None` kind, city zero, zero signer or zero encryption key.
    error InvalidOrgParameters();
    /// @dev The signing address belongs, or belonged, to an organisation already.
    error SignerAlreadyUsed(address signer);
    /// @dev Only the organisation's current signer or a registrar of its city may rotate its keys.
    error NotOrgSignerOrRegistrar(bytes32 orgId, address caller);
    /// @dev The organisation is suspended already / active already.
    error OrgNotActive(bytes32 orgId);
    error OrgAlreadyActive(bytes32 orgId);
    /// @dev No key was in force at that time (before registration).
    error NoKeyAt(bytes32 orgId, uint64 timestamp);
    /// @dev The caller is not a registrar of `city` (the city of the organisation acted on).
    error NotCityRegistrar(address caller, uint32 city);
    /// @dev City code zero (GB/T 2260 codes are six-digit, non-zero).
    error InvalidCity();

    /// @notice Register an organisation of `city`. Requires `registrarRole(city)`.
    function registerOrg(bytes32 orgId, uint32 city, OrgKind kind, address signer, bytes32 encryptionKey) external;

    /// @notice Start a new key epoch. Callable by the organisation's current signer or a
    /// registrar of its city.
    function rotateKeys(bytes32 orgId, address signer, bytes32 encryptionKey) external;

    /// @notice Suspend an organisation (its signatures stop being accepted). Requires the
    /// registrar role of the organisation's city.
    function suspend(bytes32 orgId, bytes32 reasonCode) external;

    /// @notice Reactivate a suspended organisation. Requires the registrar role of its city.
    function reactivate(bytes32 orgId) external;

    /// @notice Make `account` a registrar of `city` (GB/T 2260 code). Requires the default admin.
    function grantCityRegistrar(uint32 city, address account) external;

    /// @notice Take the registrar role of `city` from `account`. Requires the default admin.
    function revokeCityRegistrar(uint32 city, address account) external;

    /// @notice The AccessControl role of `city`'s registrars:
    /// keccak256(abi.encode(keccak256("REGISTRAR_ROLE"), city)).
    function registrarRole(uint32 city) external pure returns (bytes32);

    /// @notice True when `account` holds the registrar role of `city`.
    function isRegistrar(address account, uint32 city) external view returns (bool);

    /// @notice The organisation; reverts with UnknownOrg.
    function org(bytes32 orgId) external view returns (Org memory);

    /// @notice The current key epoch of an organisation.
    function currentKeys(bytes32 orgId) external view returns (KeyEpoch memory);

    /// @notice Key epoch `epoch` of an organisation (0 = keys at registration).
    function keyEpoch(bytes32 orgId, uint256 epoch) external view returns (KeyEpoch memory);

    /// @notice The key epoch in force at `timestamp` (binary search over the history).
    function keysAt(bytes32 orgId, uint64 timestamp) external view returns (KeyEpoch memory);

    /// @notice The organisation whose current signer is `signer`, or zero.
    function orgOfSigner(address signer) external view returns (bytes32);

    /// @notice True when the organisation exists and is not suspended.
    function isActive(bytes32 orgId) external view returns (bool);
}
