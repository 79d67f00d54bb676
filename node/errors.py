"""The exceptions of the chain side. Every one derives from :class:`NodeError`."""

from __future__ import annotations

from typing import Any


class NodeError(Exception):
    """Root of every error raised by the ``node`` package."""

    code = "node-error"


class ChainUnavailable(NodeError):
    """The chain cannot be reached, or a local node could not be started."""

    code = "chain-unavailable"


class ManifestError(NodeError):
    """A deployment manifest is missing, malformed, or does not match the chain."""

    code = "manifest-error"


class KeystoreError(NodeError):
    """A keystore could not be created, read or decrypted."""

    code = "keystore-error"


class TransactionFailed(NodeError):
    """A transaction was mined but failed, or could not be sent."""

    code = "transaction-failed"


class ContractRevert(NodeError):
    """A call or transaction reverted with a decoded custom error (or a reason string)."""

    code = "contract-revert"

    def __init__(self, name: str, args: tuple[Any, ...] = (), raw: str = "") -> None:
        self.name = name
        self.args_ = args
        self.raw = raw
        shown = ", ".join(_show(a) for a in args)
        super().__init__(f"{name}({shown})")


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
