"""A :class:`~gateway.verify.ChainView` over raw JSON-RPC, and a cache of its immutable answers.

A bundle's chain questions are three view calls and one event query: ``Membership.keysAt``,
``CheckpointLog.checkpointForSize`` (and the ``CheckpointAnchored`` event of its block) and
``RecordStatus.stateOf``. :class:`RpcChainView` asks them with call data built from fixed
selectors and static ABI words — no web3 provider, no contract objects, a keep-alive HTTP
connection per thread — so ``creditchain verify`` imports neither web3 nor eth-account and
``POST /v1/verify`` pays one round trip per question (~0.3 ms to a local node).

:class:`CachingChainView` keeps what can never change (issue 12, item 5):

- a checkpoint found on chain (its root, block and anchoring transaction): a size once
  anchored is never anchored again (``CheckpointAlreadyAnchored``);
- an org's keys at a time *before the newest block seen*: a rotation takes effect at its
  own block's time, so no later block changes ``keysAt(org, t)`` for ``t`` below it;
- never the record's status, which any block may change: it is asked every time.

"Not anchored (yet)" is not kept either. A chain reorganisation deep enough to drop an
anchoring block would leave a stale entry until the process restarts; verifiers that must
survive one should not share a cache across it.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, Final, Protocol

from gateway.verify._checks import Anchor, ChainQueryFailed, ChainView, RecordLifecycle

__all__ = ["CachingChainView", "JsonRpc", "RpcChainView", "RpcClient", "RpcError", "Web3Rpc"]

_KEYS_AT: Final = bytes.fromhex("44c6842a")  # keysAt(bytes32,uint64)
_CHECKPOINT_FOR_SIZE: Final = bytes.fromhex("d197a2da")  # checkpointForSize(bytes32,uint64)
_STATE_OF: Final = bytes.fromhex("64482ac4")  # stateOf(bytes32)
# CheckpointAnchored(bytes32 indexed logId, uint64 indexed size, bytes32, uint256)
_ANCHORED_TOPIC: Final = "0xa84cc3a1b9adf85cb490f15d77a1dd56e917dfc44b464e927613530376abc9fc"
_NOT_THERE: Final = {
    bytes.fromhex("88f42f0f"): "UnknownOrg",  # UnknownOrg(bytes32)
    bytes.fromhex("b9a66957"): "NoKeyAt",  # NoKeyAt(bytes32,uint64)
    bytes.fromhex("695a2920"): "CheckpointNotFound",  # CheckpointNotFound(bytes32,uint64)
    bytes.fromhex("3d199f11"): "UnknownLog",  # UnknownLog(bytes32)
}
_STATUSES: Final = ("active", "objected", "corrected", "repaired", "withdrawn", "erased")
_MAX_UINT64: Final = 2**64 - 1
_ZERO32: Final = bytes(32)


class RpcClient(Protocol):
    """Anything that answers JSON-RPC requests: :class:`JsonRpc`, :class:`Web3Rpc`."""

    url: str

    def call(self, method: str, params: list[Any]) -> Any: ...

    def close(self) -> None: ...


class RpcError(Exception):
    """A JSON-RPC error answer; ``data`` holds revert bytes when the node gave them."""

    def __init__(self, message: str, data: bytes | None = None) -> None:
        super().__init__(message)
        self.data = data


class JsonRpc:
    """``call(method, params)`` over HTTP(S) JSON-RPC, one keep-alive connection per thread
    (the standard library's ``http.client``: nothing to import at start)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an HTTP(S) JSON-RPC URL: {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._local = threading.local()
        self._ids = iter(range(1, 2**62))

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self._timeout)
            conn.connect()
            # headers and body go out as two writes: without this, Nagle's algorithm holds
            # the body until the node's delayed ACK of the headers (ms per request)
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
        return conn

    def call(self, method: str, params: list[Any]) -> Any:
        """The ``result`` of one request; :class:`RpcError` for an error answer, ``OSError``
        (or ``http.client.HTTPException``) when the node cannot be reached."""
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        ).encode()
        for attempt in (0, 1):  # a kept connection the node closed meanwhile: once more
            conn = self._connection()
            try:
                conn.request(
                    "POST", self._path, body=body, headers={"content-type": "application/json"}
                )
                response = conn.getresponse()
                raw = response.read()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        if response.status != 200:
            raise RpcError(f"HTTP {response.status} from {self.url}")
        answer = json.loads(raw)
        if not isinstance(answer, dict):
            raise RpcError(f"not a JSON-RPC answer from {self.url}")
        if "error" in answer:
            error = answer["error"] or {}
            data = error.get("data") if isinstance(error, dict) else None
            if isinstance(data, dict):  # some nodes nest it
                data = data.get("data")
            revert = None
            if isinstance(data, str) and data.startswith("0x"):
                try:
                    revert = bytes.fromhex(data[2:])
                except ValueError:
                    revert = None
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RpcError(str(message), revert)
        return answer.get("result")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _words(result: object, count: int) -> list[bytes]:
    if not isinstance(result, str) or not result.startswith("0x"):
        raise ValueError(f"not ABI data: {result!r}")
    data = bytes.fromhex(result[2:])
    if len(data) < 32 * count:
        raise ValueError(f"{len(data)} bytes of ABI data, expected {32 * count}")
    return [data[32 * i : 32 * i + 32] for i in range(count)]


def _uint(word: bytes, bits: int) -> int:
    value = int.from_bytes(word, "big")
    if value >> bits:
        raise ValueError(f"not a uint{bits}: {word.hex()}")
    return value


def _address(word: bytes) -> bytes:
    if word[:12] != bytes(12):
        raise ValueError(f"not an address: {word.hex()}")
    return word[12:]


def _nonzero(value: bytes) -> bytes | None:
    return None if value == _ZERO32 else value


class RpcChainView:
    """Answers a bundle's chain questions from the trusted manifest's contracts by raw
    ``eth_call``/``eth_getLogs``; the same answers and the same errors as
    :class:`~gateway.verify.NodeChainView`: only the contracts' "not there" errors become
    ``None``, anything else is :class:`~gateway.verify.ChainQueryFailed` (no verdict).

    ``record_status`` is the RecordStatus address, or None for a manifest without one: then
    status queries give no verdict (never "active")."""

    def __init__(
        self,
        rpc: RpcClient,
        *,
        membership: str,
        checkpoint_log: str,
        record_status: str | None,
    ) -> None:
        self.rpc = rpc
        self._membership = membership
        self._log = checkpoint_log
        self._status = record_status

    def _call(self, to: str, data: bytes, what: str) -> Any:
        try:
            return self.rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
        except RpcError as exc:
            name = _NOT_THERE.get((exc.data or b"")[:4])
            if name is not None:
                return _Missing(name)
            raise ChainQueryFailed(f"{what} reverted: {exc}") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ChainQueryFailed(f"cannot query {what}: {exc}") from exc

    def keys_at(self, org_id: bytes, timestamp: int) -> str | None:
        if not 0 <= timestamp <= _MAX_UINT64:
            return None
        data = _KEYS_AT + org_id.rjust(32, b"\0") + timestamp.to_bytes(32, "big")
        result = self._call(self._membership, data, "Membership.keysAt")
        if isinstance(result, _Missing):
            return None if result.name in ("UnknownOrg", "NoKeyAt") else self._odd(result)
        try:
            signer = _address(_words(result, 4)[0])
        except ValueError as exc:
            raise ChainQueryFailed(f"Membership.keysAt answered {exc}") from exc
        return _checksum(signer)

    def _checkpoint(self, log_id: bytes, size: int) -> tuple[int, bytes] | None:
        data = _CHECKPOINT_FOR_SIZE + log_id.rjust(32, b"\0") + size.to_bytes(32, "big")
        result = self._call(self._log, data, "CheckpointLog.checkpointForSize")
        if isinstance(result, _Missing):
            if result.name in ("CheckpointNotFound", "UnknownLog"):
                return None
            self._odd(result)
        try:
            words = _words(result, 4)
            return _uint(words[2], 64), words[3]
        except ValueError as exc:
            raise ChainQueryFailed(f"CheckpointLog.checkpointForSize answered {exc}") from exc

    def checkpoint_root(self, log_id: bytes, size: int) -> bytes | None:
        if not 0 <= size <= _MAX_UINT64:
            return None
        found = self._checkpoint(log_id, size)
        return None if found is None else found[1]

    def anchor(self, log_id: bytes, size: int) -> Anchor | None:
        if not 0 <= size <= _MAX_UINT64:
            return None
        found = self._checkpoint(log_id, size)
        if found is None:
            return None
        block = found[0]
        topics = [_ANCHORED_TOPIC, "0x" + log_id.rjust(32, b"\0").hex(), f"0x{size:064x}"]
        try:
            logs = self.rpc.call(
                "eth_getLogs",
                [
                    {
                        "address": self._log,
                        "fromBlock": hex(block),
                        "toBlock": hex(block),
                        "topics": topics,
                    }
                ],
            )
            matching = [
                e
                for e in logs
                if [t.lower() for t in e["topics"][:3]] == topics
                and int(e["blockNumber"], 16) == block
                and str(e["address"]).lower() == self._log.lower()
            ]
            if len(matching) != 1:
                return None
            tx = bytes.fromhex(matching[0]["transactionHash"].removeprefix("0x"))
        except RpcError as exc:
            raise ChainQueryFailed(f"cannot query CheckpointLog events: {exc}") from exc
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
            raise ChainQueryFailed(f"cannot query CheckpointLog events: {exc}") from exc
        return Anchor(block_number=block, tx_hash=tx)

    def record_status(self, record_id: bytes) -> RecordLifecycle:
        if self._status is None:
            raise ChainQueryFailed(
                "cannot read record statuses: the manifest has no RecordStatus contract"
            )
        result = self._call(self._status, _STATE_OF + record_id, "RecordStatus.stateOf")
        if isinstance(result, _Missing):
            self._odd(result)
        try:
            w = _words(result, 8)
            status = _uint(w[7], 8)
            if status >= len(_STATUSES):
                raise ValueError(f"status {status}")
            return RecordLifecycle(
                status=_STATUSES[status],
                successor=_nonzero(w[1]),
                origin=_nonzero(w[0]),
                actor=_nonzero(w[3]),
                reason=_nonzero(w[2]),
                updated_at=_uint(w[5], 64),
                version=_uint(w[6], 32),
            )
        except ValueError as exc:
            raise ChainQueryFailed(f"RecordStatus.stateOf answered {exc}") from exc

    def latest_time(self) -> int:
        """The newest block's timestamp."""
        try:
            block = self.rpc.call("eth_getBlockByNumber", ["latest", False])
            return int(block["timestamp"], 16)
        except RpcError as exc:
            raise ChainQueryFailed(f"cannot read the newest block: {exc}") from exc
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
            raise ChainQueryFailed(f"cannot read the newest block: {exc}") from exc

    @staticmethod
    def _odd(missing: _Missing) -> Any:
        raise ChainQueryFailed(f"unexpected revert {missing.name}")


class _Missing:
    """A "not there" revert of one of the contracts (its error's name)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _checksum(address: bytes) -> str:
    """EIP-55 form of a 20-byte address."""
    from gateway.domain.signing import checksum_address

    return checksum_address(address)


class CachingChainView:
    """A :class:`~gateway.verify.ChainView` that keeps ``inner``'s immutable answers (see
    the module's text); ``latest_time()`` gives the newest block's timestamp. Thread-safe:
    racing misses both ask the chain and store the same answer."""

    def __init__(self, inner: ChainView, latest_time: Callable[[], int]) -> None:
        self._inner = inner
        self._latest_time = latest_time
        self._settled = -1  # every time below this is before a block already seen
        self._keys: dict[tuple[bytes, int], str | None] = {}
        self._roots: dict[tuple[bytes, int], bytes] = {}
        self._anchors: dict[tuple[bytes, int], Anchor] = {}
        self._limit = 100_000

    def _keep(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if len(table) >= self._limit:
            table.clear()
        table[key] = value

    def keys_at(self, org_id: bytes, timestamp: int) -> str | None:
        key = (org_id, timestamp)
        if key in self._keys:
            return self._keys[key]
        if timestamp >= self._settled:
            self._settled = max(self._settled, self._latest_time())
        signer = self._inner.keys_at(org_id, timestamp)
        if timestamp < self._settled:
            self._keep(self._keys, key, signer)
        return signer

    def checkpoint_root(self, log_id: bytes, size: int) -> bytes | None:
        key = (log_id, size)
        root = self._roots.get(key)
        if root is None:
            root = self._inner.checkpoint_root(log_id, size)
            if root is not None:
                self._keep(self._roots, key, root)
        return root

    def anchor(self, log_id: bytes, size: int) -> Anchor | None:
        key = (log_id, size)
        found = self._anchors.get(key)
        if found is None:
            found = self._inner.anchor(log_id, size)
            if found is not None:
                self._keep(self._anchors, key, found)
        return found

    def record_status(self, record_id: bytes) -> RecordLifecycle:
        return self._inner.record_status(record_id)


class Web3Rpc:
    """:class:`JsonRpc`'s ``call`` over a web3 provider: for a chain with no URL (the
    in-process eth-tester chain of tests and ``serve --dev --embedded``)."""

    def __init__(self, w3: Any) -> None:
        self._w3 = w3
        self.url = "the in-process chain"

    def call(self, method: str, params: list[Any]) -> Any:
        """The five requests a verifier makes, through web3's ``eth`` module (which fills in
        what eth-tester wants), answered in JSON-RPC's wire form."""
        eth = self._w3.eth
        try:
            if method == "eth_call":
                return "0x" + bytes(eth.call(params[0], params[1])).hex()
            if method == "eth_getLogs":
                query = dict(params[0])
                query["fromBlock"] = int(query["fromBlock"], 16)
                query["toBlock"] = int(query["toBlock"], 16)
                return [
                    {
                        "address": str(e["address"]),
                        "topics": ["0x" + bytes(t).hex() for t in e["topics"]],
                        "blockNumber": hex(int(e["blockNumber"])),
                        "transactionHash": "0x" + bytes(e["transactionHash"]).hex(),
                    }
                    for e in eth.get_logs(query)
                ]
            if method == "eth_getBlockByNumber":
                return {"timestamp": hex(int(eth.get_block(params[0])["timestamp"]))}
            if method == "eth_chainId":
                return hex(int(eth.chain_id))
            if method == "eth_getCode":
                return "0x" + bytes(eth.get_code(params[0], params[1])).hex()
        except Exception as exc:
            from node._chain import _revert_from

            raw = _revert_from(exc).raw
            raise RpcError(str(exc), bytes.fromhex(raw) if raw else None) from exc
        raise RpcError(f"{method} is not offered over web3 here")

    def close(self) -> None:
        return None
