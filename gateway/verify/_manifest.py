"""The verifier's trusted deployment manifest and its check against a chain, over raw JSON-RPC.

The same rules as :meth:`node.Deployment.load` and :meth:`node.Deployment.check` — the chain
id must be the manifest's, every contract's code must be the committed artifact's (up to the
constructor's immutables), and Grants and RecordStatus must use the manifest's Membership —
asked with a handful of plain ``eth_chainId``/``eth_getCode``/``eth_call`` requests, so that
``creditchain verify`` needs no web3. ``tests/integration/test_verify_fast.py`` holds the two
to the same verdicts.
"""

from __future__ import annotations

import http.client
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gateway.verify._checks import TrustRoot
from gateway.verify._rpc import RpcChainView, RpcClient, RpcError
from node.errors import ChainUnavailable, ManifestError

__all__ = ["Manifest", "local_rpc_url"]

_MANIFEST_VERSION: Final = 1
_ON_MEMBERSHIP: Final = ("Grants", "RecordStatus")
_MEMBERSHIP_FN: Final = "0xa2bf68b9"  # membership()


@dataclass(frozen=True)
class Manifest:
    """The parts of a deployment manifest a verifier uses: chain id and contract addresses."""

    chain_id: int
    contracts: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"no deployment manifest at {path}") from None
        except (OSError, ValueError) as exc:
            raise ManifestError(f"cannot read deployment manifest {path}: {exc}") from exc
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        try:
            if data.get("version") != _MANIFEST_VERSION:
                raise ManifestError(f"unsupported manifest version {data.get('version')!r}")
            contracts = {}
            for name, c in data["contracts"].items():
                if set(c) != {"address", "tx_hash", "block", "artifact_sha256"}:
                    raise TypeError(f"contract {name}: members {sorted(c)}")
                contracts[str(name)] = str(c["address"])
            chain_id = data["chain_id"]
            if type(chain_id) is not int:
                raise TypeError("chain_id is not an integer")
            return cls(chain_id=chain_id, contracts=contracts)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ManifestError(f"malformed deployment manifest: {exc}") from exc

    def address(self, name: str) -> str:
        try:
            return self.contracts[name]
        except KeyError:
            raise ManifestError(f"manifest has no {name} contract") from None

    def trust_root(self) -> TrustRoot:
        return TrustRoot(
            chain_id=self.chain_id,
            membership=self.address("Membership"),
            checkpoint_log=self.address("CheckpointLog"),
        )

    def chain_view(self, rpc: RpcClient) -> RpcChainView:
        """The bundle checks' view of the chain: this manifest's contracts, nothing else."""
        return RpcChainView(
            rpc,
            membership=self.address("Membership"),
            checkpoint_log=self.address("CheckpointLog"),
            record_status=self.contracts.get("RecordStatus"),
        )

    def check(self, rpc: RpcClient) -> None:
        """Refuse a chain that is not the one this manifest describes (as
        :meth:`node.Deployment.check`): :class:`ManifestError` for another chain or other
        code, :class:`ChainUnavailable` when the node cannot be asked."""
        from node._artifacts import load_artifact

        chain_id = int(_ask(rpc, "eth_chainId", []), 16)
        if chain_id != self.chain_id:
            raise ManifestError(
                f"manifest is for chain id {self.chain_id}, the node reports {chain_id}"
            )
        for name, address in self.contracts.items():
            code = bytes.fromhex(str(_ask(rpc, "eth_getCode", [address, "latest"]))[2:])
            artifact = load_artifact(name)
            expected = bytes.fromhex(artifact.deployed_bytecode.removeprefix("0x"))
            if not code or not _same_code(code, expected, artifact.immutable_ranges):
                what = "no contract" if not code else "different code"
                raise ManifestError(f"{name} at {address}: {what} on chain {chain_id}")
        for name in _ON_MEMBERSHIP:
            if name not in self.contracts:
                continue
            word = str(
                _ask(
                    rpc, "eth_call", [{"to": self.address(name), "data": _MEMBERSHIP_FN}, "latest"]
                )
            )
            linked = "0x" + word[-40:]
            if len(word) != 66 or linked.lower() != self.address("Membership").lower():
                raise ManifestError(
                    f"{name} at {self.address(name)} uses Membership {linked}, "
                    f"the manifest says {self.address('Membership')}"
                )


def _ask(rpc: RpcClient, method: str, params: list[Any]) -> Any:
    try:
        return rpc.call(method, params)
    except RpcError as exc:
        raise ChainUnavailable(f"{method} failed at {rpc.url}: {exc}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise ChainUnavailable(f"cannot reach chain at {rpc.url}: {exc}") from exc


def _same_code(code: bytes, expected: bytes, immutables: tuple[tuple[int, int], ...]) -> bool:
    """Equal, except in the byte ranges the constructor fills in (immutables)."""
    if len(code) != len(expected):
        return False
    masked = bytearray(code)
    for start, length in immutables:
        masked[start : start + length] = expected[start : start + length]
    return bytes(masked) == expected


def local_rpc_url(data_dir: Path) -> str:
    """The JSON-RPC URL of the data dir's running node (as :func:`node.open_chain` finds it)."""
    try:
        info = json.loads((data_dir / "chain" / "node.json").read_text())
        pid = int(info.get("pid", 0))
        os.kill(pid, 0)
        return str(info["url"])
    except PermissionError:
        return str(info["url"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ChainUnavailable(
            f"no chain is running for {data_dir}: start one with `creditchain chain up` "
            "or pass --rpc URL"
        ) from None
