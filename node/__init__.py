"""creditchain's chain side: compiled contracts, providers, accounts, deployment.

Dependencies run one way: ``gateway`` uses ``node``, ``node`` talks to the chain. Names are
loaded on first use (PEP 562), so importing ``node`` (or ``node.errors``) does not pull in
web3 until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from node.errors import (
    ChainUnavailable,
    ContractRevert,
    KeystoreError,
    ManifestError,
    NodeError,
    TransactionFailed,
)

if TYPE_CHECKING:
    from node._accounts import create_keystore, keystore_address, load_keystore
    from node._artifacts import Artifact, load_artifact
    from node._chain import Chain, SignedTx, decode_revert
    from node._contracts import (
        CITIES,
        YULIN,
        Checkpoint,
        CheckpointLogClient,
        DirectoryClient,
        DirectoryEntry,
        Grant,
        GrantBasis,
        GrantParams,
        GrantsClient,
        KeyEpoch,
        MembershipClient,
        Org,
        OrgKind,
        RecordStatusClient,
        RecordStatusView,
        StatusCode,
        StatusTransition,
        purpose_id,
        reason_code,
        registrar_role,
        sign_grant,
        sign_revocation,
        sign_transition,
        transition_digest,
    )
    from node._deploy import DeployedContract, Deployment, deploy_all, ensure_record_status
    from node._local import ChainPaths, LocalChain, open_chain, running_node
    from node._providers import AnvilNode, anvil_binary, connect, embedded, free_port

_LAZY = {
    "create_keystore": "node._accounts",
    "keystore_address": "node._accounts",
    "load_keystore": "node._accounts",
    "Artifact": "node._artifacts",
    "load_artifact": "node._artifacts",
    "Chain": "node._chain",
    "decode_revert": "node._chain",
    "SignedTx": "node._chain",
    "Checkpoint": "node._contracts",
    "CheckpointLogClient": "node._contracts",
    "CITIES": "node._contracts",
    "YULIN": "node._contracts",
    "DirectoryClient": "node._contracts",
    "DirectoryEntry": "node._contracts",
    "registrar_role": "node._contracts",
    "Grant": "node._contracts",
    "GrantBasis": "node._contracts",
    "GrantParams": "node._contracts",
    "GrantsClient": "node._contracts",
    "KeyEpoch": "node._contracts",
    "MembershipClient": "node._contracts",
    "Org": "node._contracts",
    "OrgKind": "node._contracts",
    "RecordStatusClient": "node._contracts",
    "RecordStatusView": "node._contracts",
    "StatusCode": "node._contracts",
    "StatusTransition": "node._contracts",
    "purpose_id": "node._contracts",
    "reason_code": "node._contracts",
    "sign_grant": "node._contracts",
    "sign_revocation": "node._contracts",
    "sign_transition": "node._contracts",
    "transition_digest": "node._contracts",
    "DeployedContract": "node._deploy",
    "Deployment": "node._deploy",
    "deploy_all": "node._deploy",
    "ensure_record_status": "node._deploy",
    "ChainPaths": "node._local",
    "LocalChain": "node._local",
    "open_chain": "node._local",
    "running_node": "node._local",
    "AnvilNode": "node._providers",
    "anvil_binary": "node._providers",
    "connect": "node._providers",
    "embedded": "node._providers",
    "free_port": "node._providers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'node' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CITIES",
    "YULIN",
    "AnvilNode",
    "Artifact",
    "Chain",
    "ChainPaths",
    "ChainUnavailable",
    "Checkpoint",
    "CheckpointLogClient",
    "ContractRevert",
    "DeployedContract",
    "Deployment",
    "DirectoryClient",
    "DirectoryEntry",
    "Grant",
    "GrantBasis",
    "GrantParams",
    "GrantsClient",
    "KeyEpoch",
    "KeystoreError",
    "LocalChain",
    "ManifestError",
    "MembershipClient",
    "NodeError",
    "Org",
    "OrgKind",
    "RecordStatusClient",
    "RecordStatusView",
    "SignedTx",
    "StatusCode",
    "StatusTransition",
    "TransactionFailed",
    "anvil_binary",
    "connect",
    "create_keystore",
    "decode_revert",
    "deploy_all",
    "embedded",
    "ensure_record_status",
    "free_port",
    "keystore_address",
    "load_artifact",
    "load_keystore",
    "open_chain",
    "purpose_id",
    "reason_code",
    "registrar_role",
    "running_node",
    "sign_grant",
    "sign_revocation",
    "sign_transition",
    "transition_digest",
]
