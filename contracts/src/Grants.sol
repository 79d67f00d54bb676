// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IGrants} from "./interfaces/IGrants.sol";
import {IMembership} from "./interfaces/IMembership.sol";

/// @title Grants
/// @notice Consent and statutory grants keyed by peppered subject commitments, with derivable,
/// never-reused ids, created and revoked by the subject's own key (EIP-712, relayable) or by
/// member organisations acting as registrars.
/// @dev No roles and no admin: every authority comes from `Membership` (an organisation's
/// current signer, its kind and its standing), so suspending an organisation there stops it
/// here at once, and there is no second list of privileged accounts to keep in step. Key
/// binding is given to credit offices, which may create consent grants for any subject as
/// registrars anyway, so a separate role would not narrow anyone's power.
contract Grants is IGrants, EIP712 {
    /// @notice EIP-712 type of a subject's consent to a grant.
    bytes32 public constant GRANT_TYPEHASH = keccak256(
        "Grant(bytes32 subject,bytes32 grantee,bytes32 purpose,uint256 categories,uint64 validFrom,uint64 validUntil,uint8 basis,bytes32 evidenceHash,bytes32 nonce,uint256 deadline)"
    );
    /// @notice EIP-712 type of a subject's revocation of a grant.
    bytes32 public constant REVOCATION_TYPEHASH = keccak256("Revocation(bytes32 grantId,uint256 deadline)");
    /// @notice Domain tag of grant ids: an id is the EIP-712 struct hash of `GrantId(…)`.
    bytes32 public constant GRANT_ID_TYPEHASH = keccak256(
        "GrantId(bytes32 subject,bytes32 grantee,bytes32 purpose,uint256 categories,uint64 validFrom,uint64 validUntil,uint8 basis,bytes32 evidenceHash,bytes32 nonce)"
    );

    IMembership private immutable _membership;

    mapping(bytes32 grantId => Grant) private _grants;
    mapping(bytes32 subject => address key) private _subjectKeys;

    /// @param membership_ the consortium's Membership registry
    constructor(IMembership membership_) EIP712("creditchain-grants", "1") {
        _membership = membership_;
    }

    /// @inheritdoc IGrants
    function bindSubjectKey(bytes32 subject, address key) external {
        bytes32 office = _creditOffice();
        if (subject == bytes32(0) || key == address(0)) revert InvalidSubjectBinding();
        address previous = _subjectKeys[subject];
        _subjectKeys[subject] = key;
        emit SubjectKeyBound(subject, key, office, previous);
    }

    /// @inheritdoc IGrants
    function unbindSubjectKey(bytes32 subject) external {
        bytes32 office = _creditOffice();
        address previous = _subjectKeys[subject];
        if (previous == address(0)) revert SubjectKeyNotBound(subject);
        delete _subjectKeys[subject];
        emit SubjectKeyUnbound(subject, previous, office);
    }

    /// @inheritdoc IGrants
    function createGrantBySubject(
        GrantParams calldata params,
        bytes32 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (bytes32 grantId) {
        grantId = grantIdOf(params, nonce);
        if (params.basis != Basis.Consent) revert ConsentBasisRequired(grantId);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        _checkSubjectSignature(
            params.subject,
            _hashTypedDataV4(keccak256(abi.encode(GRANT_TYPEHASH, params, nonce, deadline))),
            signature
        );
        _create(grantId, params, bytes32(0));
    }

    /// @inheritdoc IGrants
    function createGrant(GrantParams calldata params, bytes32 nonce) external returns (bytes32 grantId) {
        (bytes32 orgId, IMembership.OrgKind kind) = _callerOrg();
        if (params.basis == Basis.Statutory) {
            if (kind != IMembership.OrgKind.CreditOffice) revert NotCreditOffice(orgId);
        } else if (kind != IMembership.OrgKind.CreditOffice && orgId != params.grantee) {
            revert NotGranteeOrCreditOffice(orgId, params.grantee);
        }
        grantId = grantIdOf(params, nonce);
        _create(grantId, params, orgId);
    }

    /// @inheritdoc IGrants
    function revokeGrant(bytes32 grantId) external {
        (bytes32 orgId, IMembership.OrgKind kind) = _callerOrg();
        Grant storage g = _live(grantId);
        if (orgId != g.registrar && kind != IMembership.OrgKind.CreditOffice) {
            revert NotRegistrarOrCreditOffice(orgId, grantId);
        }
        _revoke(g, grantId, orgId);
    }

    /// @inheritdoc IGrants
    function revokeBySubject(bytes32 grantId, uint256 deadline, bytes calldata signature) external {
        Grant storage g = _live(grantId);
        if (g.basis != Basis.Consent) revert ConsentBasisRequired(grantId);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        _checkSubjectSignature(
            g.subject,
            _hashTypedDataV4(keccak256(abi.encode(REVOCATION_TYPEHASH, grantId, deadline))),
            signature
        );
        _revoke(g, grantId, bytes32(0));
    }

    /// @inheritdoc IGrants
    function grantIdOf(GrantParams calldata params, bytes32 nonce) public pure returns (bytes32) {
        // A struct of static members is encoded in place: this is abi.encode of its fields.
        return keccak256(abi.encode(GRANT_ID_TYPEHASH, params, nonce));
    }

    /// @inheritdoc IGrants
    function grantDigest(GrantParams calldata params, bytes32 nonce, uint256 deadline) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(GRANT_TYPEHASH, params, nonce, deadline)));
    }

    /// @inheritdoc IGrants
    function revocationDigest(bytes32 grantId, uint256 deadline) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(REVOCATION_TYPEHASH, grantId, deadline)));
    }

    /// @inheritdoc IGrants
    function getGrant(bytes32 grantId) external view returns (Grant memory) {
        Grant storage g = _grants[grantId];
        if (g.createdAt == 0) revert UnknownGrant(grantId);
        return g;
    }

    /// @inheritdoc IGrants
    function isLive(bytes32 grantId, uint64 timestamp) public view returns (bool) {
        Grant storage g = _grants[grantId];
        return g.createdAt != 0 && g.revokedAt == 0 && g.validFrom <= timestamp && timestamp < g.validUntil;
    }

    /// @inheritdoc IGrants
    function permits(
        bytes32 grantId,
        bytes32 subject,
        bytes32 grantee,
        bytes32 purpose,
        uint8 category,
        uint64 timestamp
    ) external view returns (bool) {
        if (!isLive(grantId, timestamp)) return false;
        Grant storage g = _grants[grantId];
        // A zero subject exists on statutory grants only (enforced at creation).
        return (g.subject == subject || g.subject == bytes32(0)) && g.grantee == grantee && g.purpose == purpose
            && (g.categories >> category) & 1 == 1 && _membership.isActive(grantee);
    }

    /// @inheritdoc IGrants
    function subjectKey(bytes32 subject) external view returns (address) {
        return _subjectKeys[subject];
    }

    /// @inheritdoc IGrants
    function membership() external view returns (IMembership) {
        return _membership;
    }

    /// @dev The caller's organisation and kind; reverts unless it is an active member's signer.
    function _callerOrg() private view returns (bytes32 orgId, IMembership.OrgKind kind) {
        orgId = _membership.orgOfSigner(msg.sender);
        if (orgId == bytes32(0)) revert NotMemberSigner(msg.sender);
        IMembership.Org memory o = _membership.org(orgId);
        if (!o.active) revert CallerOrgNotActive(orgId);
        kind = o.kind;
    }

    /// @dev The caller's organisation; reverts unless it is an active credit office.
    function _creditOffice() private view returns (bytes32 orgId) {
        IMembership.OrgKind kind;
        (orgId, kind) = _callerOrg();
        if (kind != IMembership.OrgKind.CreditOffice) revert NotCreditOffice(orgId);
    }

    /// @dev Reverts unless `signature` over `digest` recovers to the key bound to `subject`.
    function _checkSubjectSignature(bytes32 subject, bytes32 digest, bytes calldata signature) private view {
        address key = _subjectKeys[subject];
        if (key == address(0)) revert SubjectKeyNotBound(subject);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != key) revert InvalidSubjectSignature(subject);
    }

    /// @dev An existing grant that is not revoked.
    function _live(bytes32 grantId) private view returns (Grant storage g) {
        g = _grants[grantId];
        if (g.createdAt == 0) revert UnknownGrant(grantId);
        if (g.revokedAt != 0) revert GrantAlreadyRevoked(grantId);
    }

    function _create(bytes32 grantId, GrantParams calldata p, bytes32 registrar) private {
        if (p.basis == Basis.None || p.purpose == bytes32(0) || p.categories == 0 || p.evidenceHash == bytes32(0)) {
            revert InvalidGrantParameters();
        }
        if (p.validFrom >= p.validUntil || p.validUntil <= block.timestamp) {
            revert InvalidValidity(p.validFrom, p.validUntil);
        }
        if (p.subject == bytes32(0) && p.basis != Basis.Statutory) revert AnySubjectRequiresStatutoryBasis();
        Grant storage g = _grants[grantId];
        if (g.createdAt != 0) revert GrantExists(grantId);
        if (!_membership.isActive(p.grantee)) revert GranteeNotActive(p.grantee);
        g.subject = p.subject;
        g.grantee = p.grantee;
        g.purpose = p.purpose;
        g.categories = p.categories;
        g.evidenceHash = p.evidenceHash;
        g.registrar = registrar;
        g.validFrom = p.validFrom;
        g.validUntil = p.validUntil;
        g.createdAt = uint64(block.timestamp);
        g.basis = p.basis;
        emit GrantCreated(
            grantId,
            p.subject,
            p.grantee,
            registrar,
            p.basis,
            p.purpose,
            p.categories,
            p.validFrom,
            p.validUntil,
            p.evidenceHash
        );
    }

    function _revoke(Grant storage g, bytes32 grantId, bytes32 byOrg) private {
        g.revokedAt = uint64(block.timestamp);
        emit GrantRevoked(grantId, g.subject, g.grantee, byOrg);
    }
}
