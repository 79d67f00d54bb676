"""creditchain's chain side: compiled contracts, providers, accounts, deployment.

Dependencies run one way: ``gateway`` uses ``node``, ``node`` talks to the chain.
"""

from node._accounts import create_keystore, keystore_address, load_keystore
from node._artifacts import Artifact, load_artifact
from node._chain import Chain, decode_revert
from node._contracts import (
    Checkpoint,
    CheckpointLogClient,
    KeyEpoch,
    MembershipClient,
    Org,
    OrgKind,
)
from node._deploy import DeployedContract, Deployment, deploy_all
from node._local import ChainPaths, LocalChain, open_chain, running_node
from node._providers import AnvilNode, anvil_binary, connect, embedded, free_port
from node.errors import (
    ChainUnavailable,
    ContractRevert,
    KeystoreError,
    ManifestError,
    NodeError,
    TransactionFailed,
)

__all__ = [
    "AnvilNode",
    "Artifact",
    "ChainPaths",
    "ChainUnavailable",
    "Chain",
    "Checkpoint",
    "CheckpointLogClient",
    "ContractRevert",
    "DeployedContract",
    "Deployment",
    "KeyEpoch",
    "KeystoreError",
    "LocalChain",
    "ManifestError",
    "MembershipClient",
    "NodeError",
    "Org",
    "OrgKind",
    "TransactionFailed",
    "anvil_binary",
    "connect",
    "create_keystore",
    "decode_revert",
    "deploy_all",
    "embedded",
    "free_port",
    "keystore_address",
    "load_artifact",
    "load_keystore",
    "open_chain",
    "running_node",
]
