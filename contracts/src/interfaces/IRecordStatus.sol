// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IMembership} from "./IMembership.sol";

/// @title Record lifecycle statuses
/// @notice The current status of each credit record, by record id: active, objected, corrected
/// (pointing to its successor), repaired, withdrawn or erased, with the reason code, the acting
/// organisation and the hash of the evidence of the latest transition. Records themselves stay
/// off chain; a record id is the opaque id the gateway gave the record.
///
/// A transition is signed by the acting organisation's current Membership signer (EIP-712 over
/// `Transition(…)` in the domain ("creditchain-record-status", "1", chain id, this contract))
/// and relayed by a member gateway, which pays the gas. Each signature carries the record's
/// current `version`, so it can be used exactly once.
///
/// The first transition of a record pins its origin (the submitting department). The chain
/// does not know which department submitted a record: the relaying gateway checks `origin`
/// against its records log before relaying, which is why only gateways may relay.
///
/// Transitions (everything else reverts, a status to itself included):
///   Active    → Objected, Corrected, Repaired, Withdrawn, Erased
///   Objected  → Active (objection rejected), Corrected, Repaired, Withdrawn, Erased
///   Corrected → Erased;  Repaired → Erased;  Withdrawn → Erased
///   Erased    is terminal.
/// The origin department or any credit office may act on a record; only a credit office may
/// repair one (credit repair).
interface IRecordStatus {
    /// @notice A record's status. `Active` is the status of every record never transitioned.
    enum Status {
        Active,
        Objected,
        Corrected,
        Repaired,
        Withdrawn,
        Erased
    }

    /// @notice A record's state as stored (the last three members share one slot). All zero
    /// (Active, version 0) for a record never transitioned.
    /// @param origin the submitting department's org id; zero until the first transition pins it
    /// @param successor record id of the new version, set by the Corrected transition (and
    /// kept afterwards: a corrected record can only be erased); zero otherwise
    /// @param reason reason code of the latest transition, e.g. keccak256("objection-filed")
    /// @param actor org id of the organisation that made the latest transition
    /// @param evidence hash of the latest transition's evidence or certificate (the records-log
    /// leaf hash of the lifecycle event)
    /// @param updatedAt block timestamp of the latest transition
    /// @param version number of transitions so far
    /// @param status the current status
    struct RecordState {
        bytes32 origin;
        bytes32 successor;
        bytes32 reason;
        bytes32 actor;
        bytes32 evidence;
        uint64 updatedAt;
        uint32 version;
        Status status;
    }

    /// @notice What the acting organisation signs (EIP-712 type `Transition`, `to` as uint8).
    /// @param recordId the record
    /// @param origin the record's origin department (pinned by the first transition)
    /// @param to the new status
    /// @param successor record id of the new version when `to` is Corrected; zero otherwise
    /// @param reason non-zero reason code
    /// @param evidence hash of the transition's evidence
    /// @param actor the acting organisation; `signature` is by its current signer
    /// @param version the record's current version (transitions so far)
    /// @param deadline last second at which the signature may be relayed
    struct Transition {
        bytes32 recordId;
        bytes32 origin;
        Status to;
        bytes32 successor;
        bytes32 reason;
        bytes32 evidence;
        bytes32 actor;
        uint32 version;
        uint256 deadline;
    }

    /// @notice Emitted on every transition; `version` is the record's version after it.
    event StatusChanged(
        bytes32 indexed recordId,
        bytes32 indexed actor,
        Status from,
        Status to,
        bytes32 reason,
        bytes32 successor,
        bytes32 evidence,
        uint32 version
    );

    /// @dev The caller is not the current signer of any member organisation.
    error NotMemberSigner(address caller);
    /// @dev The caller's organisation is suspended.
    error CallerOrgNotActive(bytes32 orgId);
    /// @dev The caller's organisation is not a gateway; only gateways relay transitions.
    error CallerNotGateway(bytes32 orgId);
    /// @dev The acting organisation is unknown or suspended.
    error ActorNotActive(bytes32 actor);
    /// @dev The signature does not recover to the acting organisation's current signer.
    error InvalidSignature(bytes32 actor);
    /// @dev The signature's deadline has passed.
    error SignatureExpired(uint256 deadline);
    /// @dev The signed version is not the record's current version (replayed or stale).
    error VersionMismatch(bytes32 recordId, uint32 current, uint32 signed);
    /// @dev Zero record id.
    error ZeroRecordId();
    /// @dev The record's first transition must name its (non-zero) origin.
    error ZeroOrigin(bytes32 recordId);
    /// @dev The transition names another origin than the one pinned for the record.
    error OriginMismatch(bytes32 recordId, bytes32 origin, bytes32 given);
    /// @dev Only the record's origin department or a credit office may act on it.
    error NotOriginOrCreditOffice(bytes32 actor, bytes32 origin);
    /// @dev Only a credit office may repair a record.
    error RepairRequiresCreditOffice(bytes32 actor);
    /// @dev This status change is not allowed (see the table above).
    error TransitionNotAllowed(bytes32 recordId, Status from, Status to);
    /// @dev The successor must be non-zero and not the record itself when (and only when) the
    /// record is corrected.
    error InvalidSuccessor(bytes32 recordId, bytes32 successor);
    /// @dev Zero reason code.
    error ZeroReason(bytes32 recordId);

    /// @notice Apply a transition signed by `t.actor`'s current signer. Callable by the current
    /// signer of an active gateway organisation.
    function transition(Transition calldata t, bytes calldata signature) external;

    /// @notice The EIP-712 digest the acting organisation signs for `t`.
    function transitionDigest(Transition calldata t) external view returns (bytes32);

    /// @notice The record's state; all zero (Active, version 0) for an unknown record.
    function stateOf(bytes32 recordId) external view returns (RecordState memory);

    /// @notice The record's status; Active for an unknown record.
    function statusOf(bytes32 recordId) external view returns (Status);

    /// @notice True when a record may go from status `from` to status `to`.
    function isAllowed(Status from, Status to) external pure returns (bool);

    /// @notice The Membership registry this contract takes organisations, kinds and keys from.
    function membership() external view returns (IMembership);
}
