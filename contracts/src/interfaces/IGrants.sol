// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IMembership} from "./IMembership.sol";

/// @title Consent and statutory grants
/// @notice The bases on which a member organisation may read a data subject's credit records:
/// the subject's consent, or a statutory basis recorded by a credit office. A grant names the
/// subject (a peppered commitment, never a plain identifier), the grantee organisation, a
/// purpose, a set of catalog categories, a validity window and the hash of its evidence.
///
/// Subjects are not member organisations. A credit office binds a subject commitment to the
/// subject's own key after verifying their identity; that key then creates consent grants and
/// revokes consent grants by EIP-712 signatures that anyone may relay.
///
/// A grant's id is derived from its content and a caller-chosen nonce (see `grantIdOf`), and
/// an id is never reused: a revoked grant cannot be re-created under the same id.
///
/// Nothing here loops over a subject's grants: events carry the subject and grantee as
/// indexed topics so that an off-chain indexer can list them.
///
/// Reads: the gateway evaluates `isLive` / `permits` against the state of the latest confirmed
/// block, passing that block's timestamp, so a revocation stops reads from the first confirmed
/// block that contains it on.
interface IGrants {
    /// @notice On what a grant rests. `None` is never stored.
    enum Basis {
        None,
        Consent,
        Statutory
    }

    /// @notice What a grant's creator supplies; together with a nonce it determines the id.
    /// @param subject the subject commitment (HMAC-SHA256 of the identifier under the network
    /// pepper); zero means "any subject", allowed for statutory grants only
    /// @param grantee the member organisation that may read
    /// @param purpose keccak256 of the purpose code string, e.g. keccak256("loan_approval")
    /// @param categories bit i set = the category with catalog index i is covered
    /// @param validFrom first second (unix time) at which the grant is live
    /// @param validUntil first second at which it is no longer live (validFrom < validUntil)
    /// @param basis consent or statutory
    /// @param evidenceHash hash of the evidence: the signed authorisation letter, a consent
    /// receipt (Kantara / ISO/IEC TS 27560), or the statutory instrument
    struct GrantParams {
        bytes32 subject;
        bytes32 grantee;
        bytes32 purpose;
        uint256 categories;
        uint64 validFrom;
        uint64 validUntil;
        Basis basis;
        bytes32 evidenceHash;
    }

    /// @notice A grant as stored (field order packs the timestamps and basis into one slot).
    /// @param registrar the organisation that created it; zero when the subject's own key did
    /// @param createdAt block timestamp of creation (never zero for an existing grant)
    /// @param revokedAt block timestamp of revocation; zero while not revoked
    struct Grant {
        bytes32 subject;
        bytes32 grantee;
        bytes32 purpose;
        uint256 categories;
        bytes32 evidenceHash;
        bytes32 registrar;
        uint64 validFrom;
        uint64 validUntil;
        uint64 createdAt;
        Basis basis;
        uint64 revokedAt;
    }

    /// @notice Emitted when a credit office binds, or rebinds, a subject's key.
    /// @param previousKey the key it replaces; zero for a first binding
    event SubjectKeyBound(bytes32 indexed subject, address indexed key, bytes32 indexed byOrg, address previousKey);
    /// @notice Emitted when a credit office unbinds a subject's key (lost or compromised).
    event SubjectKeyUnbound(bytes32 indexed subject, address indexed previousKey, bytes32 indexed byOrg);
    /// @notice Emitted when a grant is created; `registrar` is zero when the subject signed it.
    event GrantCreated(
        bytes32 indexed grantId,
        bytes32 indexed subject,
        bytes32 indexed grantee,
        bytes32 registrar,
        Basis basis,
        bytes32 purpose,
        uint256 categories,
        uint64 validFrom,
        uint64 validUntil,
        bytes32 evidenceHash
    );
    /// @notice Emitted when a grant is revoked; `byOrg` is zero when the subject signed the
    /// revocation.
    event GrantRevoked(bytes32 indexed grantId, bytes32 indexed subject, bytes32 indexed grantee, bytes32 byOrg);

    /// @dev The caller is not the current signer of any member organisation.
    error NotMemberSigner(address caller);
    /// @dev The caller's organisation is suspended.
    error CallerOrgNotActive(bytes32 orgId);
    /// @dev Only an active credit office may do this (bind keys, create statutory grants).
    error NotCreditOffice(bytes32 orgId);
    /// @dev A consent grant is created by a credit office or by the grantee organisation itself.
    error NotGranteeOrCreditOffice(bytes32 orgId, bytes32 grantee);
    /// @dev Only the grant's registrar organisation or a credit office may revoke it.
    error NotRegistrarOrCreditOffice(bytes32 orgId, bytes32 grantId);
    /// @dev Zero subject or zero key.
    error InvalidSubjectBinding();
    /// @dev The subject has no bound key.
    error SubjectKeyNotBound(bytes32 subject);
    /// @dev The signature does not recover to the subject's bound key.
    error InvalidSubjectSignature(bytes32 subject);
    /// @dev The signature's deadline has passed.
    error SignatureExpired(uint256 deadline);
    /// @dev Zero purpose, no category, zero evidence hash, or basis `None`.
    error InvalidGrantParameters();
    /// @dev validFrom must be before validUntil, and validUntil in the future.
    error InvalidValidity(uint64 validFrom, uint64 validUntil);
    /// @dev "Any subject" (zero subject) is allowed for statutory grants only.
    error AnySubjectRequiresStatutoryBasis();
    /// @dev A subject's own signature creates and revokes consent grants only.
    error ConsentBasisRequired(bytes32 grantId);
    /// @dev The grantee is not a member organisation, or is suspended.
    error GranteeNotActive(bytes32 grantee);
    /// @dev A grant with this id exists or existed (ids are never reused, even after revocation).
    error GrantExists(bytes32 grantId);
    /// @dev No grant has this id.
    error UnknownGrant(bytes32 grantId);
    /// @dev The grant is revoked already.
    error GrantAlreadyRevoked(bytes32 grantId);

    /// @notice Bind (or rebind, after key loss) `subject` to the subject's own `key`. Callable
    /// by the current signer of an active credit office, after identity verification.
    function bindSubjectKey(bytes32 subject, address key) external;

    /// @notice Remove `subject`'s key (lost or compromised) without binding a new one. Callable
    /// by the current signer of an active credit office.
    function unbindSubjectKey(bytes32 subject) external;

    /// @notice Create a consent grant signed by the key bound to `params.subject`; anyone may
    /// relay it. The signature is EIP-712 over `Grant(params…, nonce, deadline)` in the domain
    /// ("creditchain-grants", "1", chain id, this contract).
    /// @param nonce caller-chosen; part of the grant id
    /// @param deadline last second at which the signature may be relayed
    /// @return grantId `grantIdOf(params, nonce)`
    function createGrantBySubject(
        GrantParams calldata params,
        bytes32 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (bytes32 grantId);

    /// @notice Create a grant as registrar: callable by the current signer of an active member
    /// organisation. Consent grants by a credit office or by the grantee itself (holding the
    /// subject's signed authorisation, whose hash is the evidence); statutory grants by a
    /// credit office only.
    /// @return grantId `grantIdOf(params, nonce)`
    function createGrant(GrantParams calldata params, bytes32 nonce) external returns (bytes32 grantId);

    /// @notice Revoke a grant: callable by the current signer of its (active) registrar
    /// organisation or of any active credit office.
    function revokeGrant(bytes32 grantId) external;

    /// @notice Revoke a consent grant by the subject's EIP-712 signature over
    /// `Revocation(grantId, deadline)`; anyone may relay it.
    function revokeBySubject(bytes32 grantId, uint256 deadline, bytes calldata signature) external;

    /// @notice The id a grant with these parameters and nonce has, or would have.
    function grantIdOf(GrantParams calldata params, bytes32 nonce) external pure returns (bytes32);

    /// @notice The EIP-712 digest a subject signs to create this grant.
    function grantDigest(GrantParams calldata params, bytes32 nonce, uint256 deadline) external view returns (bytes32);

    /// @notice The EIP-712 digest a subject signs to revoke a grant.
    function revocationDigest(bytes32 grantId, uint256 deadline) external view returns (bytes32);

    /// @notice The grant; reverts with UnknownGrant.
    function getGrant(bytes32 grantId) external view returns (Grant memory);

    /// @notice True when the grant exists, is not revoked and validFrom <= timestamp < validUntil.
    /// @dev The gateway passes the timestamp of the latest confirmed block and calls at that
    /// block. Revocation is not time-travelled: a revoked grant is not live at any timestamp.
    function isLive(bytes32 grantId, uint64 timestamp) external view returns (bool);

    /// @notice True when the grant is live at `timestamp` and covers this read: its subject is
    /// `subject` (or it is a statutory "any subject" grant), its grantee is `grantee` and still an
    /// active member, its purpose is `purpose` and it includes catalog category `category`.
    function permits(
        bytes32 grantId,
        bytes32 subject,
        bytes32 grantee,
        bytes32 purpose,
        uint8 category,
        uint64 timestamp
    ) external view returns (bool);

    /// @notice The key bound to `subject`, or zero.
    function subjectKey(bytes32 subject) external view returns (address);

    /// @notice The Membership registry this contract takes organisations and kinds from.
    function membership() external view returns (IMembership);
}
