"""``POST /v1/verify``: the gateway verifies a bundle with the checks `creditchain verify` runs.

The chain is asked over raw JSON-RPC (:class:`~gateway.verify.RpcChainView`) through one
:class:`~gateway.verify.CachingChainView` shared by every request: a checkpoint once found and
keys at a time already past are asked once per process; the record's status every time. So a
verification costs a few hashes, two signature recoveries and one ``eth_call`` (issue 12,
item 5) instead of web3 contract calls and an event query per bundle.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from gateway.verify._checks import TrustRoot, verify_bundle
from gateway.verify._rpc import CachingChainView, JsonRpc, RpcChainView, RpcClient, Web3Rpc

if TYPE_CHECKING:
    from gateway._service import Gateway

__all__ = ["BundleVerifier"]


class BundleVerifier:
    """Verifies bundles against ``gateway``'s chain and trusted manifest, with its pepper
    (so the subject is checked too)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self._lock = threading.Lock()
        self._view: CachingChainView | None = None
        self._trusted: TrustRoot | None = None

    def _prepared(self) -> tuple[CachingChainView, TrustRoot]:
        with self._lock:
            if self._view is None or self._trusted is None:
                chain, deployment = self.gw.chain, self.gw.deployment
                rpc: RpcClient = JsonRpc(chain.url) if chain.url else Web3Rpc(chain.w3)
                status = deployment.contracts.get("RecordStatus")
                raw = RpcChainView(
                    rpc,
                    membership=deployment.address("Membership"),
                    checkpoint_log=deployment.address("CheckpointLog"),
                    record_status=None if status is None else status.address,
                )
                self._view = CachingChainView(raw, raw.latest_time)
                self._trusted = TrustRoot(
                    chain_id=deployment.chain_id,
                    membership=deployment.address("Membership"),
                    checkpoint_log=deployment.address("CheckpointLog"),
                )
            return self._view, self._trusted

    def verify(self, body: bytes) -> dict[str, Any]:
        from gateway._service import parse_body

        doc = parse_body(body)
        view, trusted = self._prepared()
        result = verify_bundle(doc, view, trusted=trusted, pepper=self.gw.secrets.pepper)
        return {"valid": True, **result.to_json()}
