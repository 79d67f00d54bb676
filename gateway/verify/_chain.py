"""The real :class:`~gateway.verify.ChainView`: the deployed contracts, through ``node``."""

from __future__ import annotations

from typing import Final

from gateway.verify._checks import Anchor, ChainQueryFailed, RecordLifecycle, TrustRoot
from node import (
    Chain,
    CheckpointLogClient,
    ContractRevert,
    Deployment,
    ManifestError,
    MembershipClient,
    RecordStatusClient,
)

__all__ = ["NodeChainView", "trust_root_from"]

_MAX_UINT64: Final = 2**64 - 1
_NO_KEY: Final = frozenset(("UnknownOrg", "NoKeyAt"))
_NO_CHECKPOINT: Final = frozenset(("CheckpointNotFound", "UnknownLog"))
_ZERO32: Final = bytes(32)


def trust_root_from(deployment: Deployment) -> TrustRoot:
    """The trust root a verifier takes from its own (trusted) deployment manifest."""
    return TrustRoot(
        chain_id=deployment.chain_id,
        membership=deployment.address("Membership"),
        checkpoint_log=deployment.address("CheckpointLog"),
    )


class NodeChainView:
    """Answers verification queries from the Membership, CheckpointLog and RecordStatus
    contracts of ``deployment`` — the verifier's own trusted manifest, never addresses taken
    from a bundle.

    Only "not there" answers become ``None`` (an unknown org, a time before the org's first
    key, an unknown log, a size never anchored). Any other revert, and any failure to reach
    the node, raises :class:`~gateway.verify.ChainQueryFailed`: no verdict rather than a
    wrong one. So does a manifest without RecordStatus (one written before the contract
    existed), at construction: without it a record's status cannot be known, and "active"
    would be a guess.

    The caller should have checked the chain against the manifest first
    (:meth:`node.Deployment.check`), so that the addresses hold the expected code.
    """

    def __init__(self, chain: Chain, deployment: Deployment) -> None:
        self._membership: MembershipClient = deployment.membership(chain)
        self._log: CheckpointLogClient = deployment.checkpoint_log(chain)
        try:
            self._status: RecordStatusClient = deployment.record_status(chain)
        except ManifestError as exc:
            raise ChainQueryFailed(f"cannot read record statuses: {exc}") from exc

    def keys_at(self, org_id: bytes, timestamp: int) -> str | None:
        if not 0 <= timestamp <= _MAX_UINT64:
            return None
        try:
            return self._membership.keys_at(org_id, timestamp).signer
        except ContractRevert as exc:
            if exc.name in _NO_KEY:
                return None
            raise ChainQueryFailed(f"Membership.keysAt reverted: {exc}") from exc
        except Exception as exc:
            raise ChainQueryFailed(f"cannot query Membership.keysAt: {exc}") from exc

    def checkpoint_root(self, log_id: bytes, size: int) -> bytes | None:
        if not 0 <= size <= _MAX_UINT64:
            return None
        try:
            return self._log.for_size(log_id, size).root
        except ContractRevert as exc:
            if exc.name in _NO_CHECKPOINT:
                return None
            raise ChainQueryFailed(f"CheckpointLog.checkpointForSize reverted: {exc}") from exc
        except Exception as exc:
            raise ChainQueryFailed(f"cannot query CheckpointLog.checkpointForSize: {exc}") from exc

    def anchor(self, log_id: bytes, size: int) -> Anchor | None:
        if not 0 <= size <= _MAX_UINT64:
            return None
        try:
            block = self._log.for_size(log_id, size).block_number
            tx_hash = self._log.anchoring_tx(log_id, size, block)
        except ContractRevert as exc:
            if exc.name in _NO_CHECKPOINT:
                return None
            raise ChainQueryFailed(f"CheckpointLog.checkpointForSize reverted: {exc}") from exc
        except Exception as exc:
            raise ChainQueryFailed(f"cannot query CheckpointLog events: {exc}") from exc
        return None if tx_hash is None else Anchor(block_number=block, tx_hash=tx_hash)

    def record_status(self, record_id: bytes) -> RecordLifecycle:
        try:
            state = self._status.state(record_id)
        except ContractRevert as exc:
            raise ChainQueryFailed(f"RecordStatus.stateOf reverted: {exc}") from exc
        except Exception as exc:
            raise ChainQueryFailed(f"cannot query RecordStatus.stateOf: {exc}") from exc
        return RecordLifecycle(
            status=state.status.label,
            successor=_nonzero(state.successor),
            origin=_nonzero(state.origin),
            actor=_nonzero(state.actor),
            reason=_nonzero(state.reason),
            updated_at=state.updated_at,
            version=state.version,
        )


def _nonzero(value: bytes) -> bytes | None:
    return None if value == _ZERO32 else value
