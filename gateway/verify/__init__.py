"""Offline verification of proof bundles (``docs/formats.md`` §7-§8).

A bundle is verified with nothing but a chain endpoint and the verifier's own deployment
manifest — no gateway::

    from gateway.verify import NodeChainView, trust_root_from, verify_bundle

    result = verify_bundle(bundle, NodeChainView(chain, deployment),
                           trusted=trust_root_from(deployment))

:func:`verify_bundle` runs ``trust-root`` (the bundle names the trusted chain and contracts)
and then the §8 checks in order — ``record-commitment``, ``department-signature``,
``leaf-hash``, ``inclusion``, ``checkpoint-on-chain``, ``receipt-signature``, ``status`` —
raising :class:`VerificationError` naming the first that fails (:class:`BundleMalformed`,
check ``malformed``, when the bundle cannot be parsed), or returns a
:class:`VerificationResult`. :class:`ChainQueryFailed` means the chain could not answer:
no verdict. All of them derive from :class:`VerifyError`.

The result reports the record's lifecycle status from the trusted manifest's RecordStatus
contract (:class:`RecordLifecycle`): a corrected, withdrawn, repaired or erased record's
bundle still verifies, and a corrected one names its successor.

Without web3 (what ``creditchain verify`` and ``POST /v1/verify`` use): :class:`RpcChainView`
asks the same questions over raw JSON-RPC (:class:`JsonRpc`; :class:`Web3Rpc` for a chain
with no URL), :class:`CachingChainView` keeps its immutable answers, and
``gateway.verify._manifest.Manifest`` loads the trusted manifest and checks the chain against
it. :class:`NodeChainView` and :func:`trust_root_from` load web3 on first use.
"""

from typing import TYPE_CHECKING, Any

from gateway.verify._checks import (
    BUNDLE_VERSION,
    DEFAULT_CHECKS,
    RECORD_STATUSES,
    STATUS_SOURCE,
    Anchor,
    Bundle,
    BundleMalformed,
    ChainQueryFailed,
    ChainRef,
    ChainView,
    Check,
    CheckpointOnChainCheck,
    DepartmentSignatureCheck,
    InclusionCheck,
    LeafHashCheck,
    LogProof,
    ReceiptSignatureCheck,
    RecordCommitmentCheck,
    RecordLifecycle,
    StatusCheck,
    TrustRoot,
    TrustRootCheck,
    VerificationError,
    VerificationResult,
    VerifyContext,
    VerifyError,
    make_bundle,
    parse_bundle,
    verify_bundle,
)
from gateway.verify._rpc import (
    CachingChainView,
    JsonRpc,
    RpcChainView,
    RpcClient,
    RpcError,
    Web3Rpc,
)

if TYPE_CHECKING:
    from gateway.verify._chain import NodeChainView, trust_root_from


def __getattr__(name: str) -> Any:
    """:class:`NodeChainView` and :func:`trust_root_from` come with web3 (through ``node``):
    loaded on first use, so that ``creditchain verify`` starts without it."""
    if name in ("NodeChainView", "trust_root_from"):
        from gateway.verify import _chain

        return getattr(_chain, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUNDLE_VERSION",
    "DEFAULT_CHECKS",
    "RECORD_STATUSES",
    "STATUS_SOURCE",
    "Anchor",
    "Bundle",
    "BundleMalformed",
    "CachingChainView",
    "ChainQueryFailed",
    "ChainRef",
    "ChainView",
    "Check",
    "CheckpointOnChainCheck",
    "DepartmentSignatureCheck",
    "InclusionCheck",
    "JsonRpc",
    "LeafHashCheck",
    "LogProof",
    "NodeChainView",
    "ReceiptSignatureCheck",
    "RecordCommitmentCheck",
    "RecordLifecycle",
    "RpcChainView",
    "RpcClient",
    "RpcError",
    "StatusCheck",
    "TrustRoot",
    "TrustRootCheck",
    "VerificationError",
    "VerificationResult",
    "VerifyContext",
    "VerifyError",
    "Web3Rpc",
    "make_bundle",
    "parse_bundle",
    "trust_root_from",
    "verify_bundle",
]
