// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IMembership} from "./interfaces/IMembership.sol";
import {IRecordStatus} from "./interfaces/IRecordStatus.sol";

/// @title RecordStatus
/// @notice The lifecycle status of each credit record (objected, corrected → successor,
/// repaired, withdrawn, erased), changed by transitions that the acting organisation signs and
/// a member gateway relays.
/// @dev No roles and no admin: like Grants, every authority comes from `Membership` (the
/// relaying gateway's current signer, the actor's current signer, kinds and standing), so
/// suspending an organisation there stops it here at once. Checks run in this order: caller,
/// record id, deadline, actor standing, signature, version, origin, actor authority, the
/// transition table, successor, reason.
contract RecordStatus is IRecordStatus, EIP712 {
    /// @notice EIP-712 type of a transition signed by the acting organisation.
    bytes32 public constant TRANSITION_TYPEHASH = keccak256(
        "Transition(bytes32 recordId,bytes32 origin,uint8 to,bytes32 successor,bytes32 reason,bytes32 evidence,bytes32 actor,uint32 version,uint256 deadline)"
    );

    IMembership private immutable _membership;

    mapping(bytes32 recordId => RecordState) private _states;

    /// @param membership_ the consortium's Membership registry
    constructor(IMembership membership_) EIP712("creditchain-record-status", "1") {
        _membership = membership_;
    }

    /// @inheritdoc IRecordStatus
    function transition(Transition calldata t, bytes calldata signature) external {
        _checkCallerIsGateway();
        if (t.recordId == bytes32(0)) revert ZeroRecordId();
        if (block.timestamp > t.deadline) revert SignatureExpired(t.deadline);
        bool creditOffice = _checkActorSignature(t, signature) == IMembership.OrgKind.CreditOffice;
        RecordState storage s = _states[t.recordId];
        Status from = _checkChange(t, s, creditOffice);
        if (s.origin == bytes32(0)) s.origin = t.origin;
        if (t.to == Status.Corrected) s.successor = t.successor;
        s.reason = t.reason;
        s.actor = t.actor;
        s.evidence = t.evidence;
        s.updatedAt = uint64(block.timestamp);
        s.version = t.version + 1;
        s.status = t.to;
        emit StatusChanged(t.recordId, t.actor, from, t.to, t.reason, t.successor, t.evidence, t.version + 1);
    }

    /// @inheritdoc IRecordStatus
    function transitionDigest(Transition calldata t) public view returns (bytes32) {
        // A struct of static members is encoded in place: this is abi.encode of its fields.
        return _hashTypedDataV4(keccak256(abi.encode(TRANSITION_TYPEHASH, t)));
    }

    /// @inheritdoc IRecordStatus
    function stateOf(bytes32 recordId) external view returns (RecordState memory) {
        return _states[recordId];
    }

    /// @inheritdoc IRecordStatus
    function statusOf(bytes32 recordId) external view returns (Status) {
        return _states[recordId].status;
    }

    /// @inheritdoc IRecordStatus
    function isAllowed(Status from, Status to) public pure returns (bool) {
        if (from == to || from == Status.Erased) return false;
        // Active and Objected go anywhere else (Objected → Active rejects the objection);
        // Corrected, Repaired and Withdrawn can only be erased.
        return from == Status.Active || from == Status.Objected || to == Status.Erased;
    }

    /// @inheritdoc IRecordStatus
    function membership() external view returns (IMembership) {
        return _membership;
    }

    /// @dev Checks the version, the origin, the actor's authority, the transition table, the
    /// successor and the reason of `t` against the record's state `s`; returns its status.
    function _checkChange(Transition calldata t, RecordState storage s, bool creditOffice)
        private
        view
        returns (Status from)
    {
        if (t.version != s.version) revert VersionMismatch(t.recordId, s.version, t.version);
        bytes32 origin = s.origin;
        if (origin == bytes32(0)) {
            if (t.origin == bytes32(0)) revert ZeroOrigin(t.recordId);
            origin = t.origin; // pinned by this first transition
        } else if (t.origin != origin) {
            revert OriginMismatch(t.recordId, origin, t.origin);
        }
        if (t.actor != origin && !creditOffice) revert NotOriginOrCreditOffice(t.actor, origin);
        if (t.to == Status.Repaired && !creditOffice) revert RepairRequiresCreditOffice(t.actor);
        from = s.status;
        if (!isAllowed(from, t.to)) revert TransitionNotAllowed(t.recordId, from, t.to);
        if (t.to == Status.Corrected) {
            if (t.successor == bytes32(0) || t.successor == t.recordId) {
                revert InvalidSuccessor(t.recordId, t.successor);
            }
        } else if (t.successor != bytes32(0)) {
            revert InvalidSuccessor(t.recordId, t.successor);
        }
        if (t.reason == bytes32(0)) revert ZeroReason(t.recordId);
    }

    /// @dev Reverts unless the caller is the current signer of an active gateway organisation.
    function _checkCallerIsGateway() private view {
        bytes32 orgId = _membership.orgOfSigner(msg.sender);
        if (orgId == bytes32(0)) revert NotMemberSigner(msg.sender);
        IMembership.Org memory o = _membership.org(orgId);
        if (!o.active) revert CallerOrgNotActive(orgId);
        if (o.kind != IMembership.OrgKind.Gateway) revert CallerNotGateway(orgId);
    }

    /// @dev Reverts unless `t.actor` is an active organisation and `signature` over
    /// `transitionDigest(t)` recovers to its current signer; returns the actor's kind.
    function _checkActorSignature(Transition calldata t, bytes calldata signature)
        private
        view
        returns (IMembership.OrgKind)
    {
        if (!_membership.isActive(t.actor)) revert ActorNotActive(t.actor);
        address key = _membership.currentKeys(t.actor).signer;
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(transitionDigest(t), signature);
        if (err != ECDSA.RecoverError.NoError || signer != key) revert InvalidSignature(t.actor);
        return _membership.org(t.actor).kind;
    }
}
