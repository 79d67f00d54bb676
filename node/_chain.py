"""A connected chain: contract handles, signed transactions, decoded reverts."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed as _TesterFailed
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import BlockIdentifier, TxReceipt

from node._artifacts import error_table, load_artifact
from node.errors import ChainUnavailable, ContractRevert, TransactionFailed

_REVERTS: tuple[type[Exception], ...] = (
    ContractLogicError,
    ContractCustomError,
    ContractPanicError,
    _TesterFailed,
)

_TESTER_MESSAGE = re.compile(r"execution reverted: (b'.*'|b\".*\")$", re.DOTALL)
_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


def decode_revert(data: bytes | str | None, message: str = "") -> ContractRevert:
    """Turn revert data into a ContractRevert naming the custom error and its arguments."""
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x")) if data else b""
    data = data or b""
    selector, body = data[:4], data[4:]
    if selector == _ERROR_STRING:
        (reason,) = abi_decode(["string"], body)
        return ContractRevert("Error", (reason,), raw=data.hex())
    if selector == _PANIC:
        (code,) = abi_decode(["uint256"], body)
        return ContractRevert("Panic", (code,), raw=data.hex())
    known = error_table().get(selector)
    if known is None:
        return ContractRevert("UnknownRevert", (message or "0x" + data.hex(),), raw=data.hex())
    name, types = known
    return ContractRevert(name, tuple(abi_decode(types, body)), raw=data.hex())


def _tester_revert_bytes(exc: BaseException) -> bytes | None:
    """eth-tester raises its own TransactionFailed carrying the raw revert bytes somewhere in
    the exception chain; find them."""
    seen: BaseException | None = exc
    while seen is not None:
        if seen.args and isinstance(seen.args[0], bytes):
            return seen.args[0]
        if seen.args and isinstance(seen.args[0], str):
            # web3's eth-tester provider re-raises with the bytes' repr in the message
            m = _TESTER_MESSAGE.search(seen.args[0])
            if m:
                value = ast.literal_eval(m.group(1))
                if isinstance(value, bytes):
                    return value
        seen = seen.__cause__ or seen.__context__
    return None


def _revert_from(exc: Exception) -> ContractRevert:
    if isinstance(exc, _TesterFailed):
        raw = _tester_revert_bytes(exc)
        if raw is not None:
            return decode_revert(raw)
        return ContractRevert("Error", (str(exc),))
    if isinstance(exc, ContractCustomError):
        data = exc.data if isinstance(exc.data, str) else None
        return decode_revert(data, str(exc))
    if isinstance(exc, ContractPanicError):
        return decode_revert(exc.data if isinstance(exc.data, str) else None, str(exc))
    if isinstance(exc, ContractLogicError):
        data = exc.data if isinstance(exc.data, str) else None
        if data and len(data) > 2:
            return decode_revert(data, str(exc))
        return ContractRevert("Error", (exc.message or str(exc),))
    return ContractRevert("UnknownRevert", (str(exc),))


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction not yet (or not known to be) on chain."""

    raw: bytes
    tx_hash: str
    tx: dict[str, Any]


class Chain:
    """One EVM chain reached through web3: embedded (eth-tester), anvil, or any JSON-RPC URL.

    Transactions are signed locally with an account's key and sent raw, with nonce, gas and
    fees set explicitly, so the same path works on every backend.
    """

    def __init__(
        self,
        w3: Web3,
        *,
        kind: str,
        url: str | None = None,
        closer: Callable[[], None] | None = None,
        faucet: Callable[[ChecksumAddress, int], None] | None = None,
        time_machine: Callable[[int], None] | None = None,
        miner: Callable[[int], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.kind = kind
        self.url = url
        self._closer = closer
        self._faucet = faucet
        self._time_machine = time_machine
        self._miner = miner
        self._chain_id: int | None = None

    # -- basics ---------------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            try:
                self._chain_id = int(self.w3.eth.chain_id)
            except Exception as exc:  # connection refused, bad URL, not a JSON-RPC server
                raise ChainUnavailable(
                    f"cannot reach chain at {self.url or self.kind}: {exc}"
                ) from exc
        return self._chain_id

    def head(self) -> int:
        try:
            return int(self.w3.eth.block_number)
        except Exception as exc:
            raise ChainUnavailable(f"cannot reach chain at {self.url or self.kind}: {exc}") from exc

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fund(self, address: str, wei: int) -> None:
        """Give an account ether on a development chain (embedded or anvil only)."""
        if self._faucet is None:
            raise TransactionFailed(f"a {self.kind} chain has no faucet: fund {address} yourself")
        self._faucet(Web3.to_checksum_address(address), wei)

    def advance_time(self, seconds: int) -> None:
        """Mine a block ``seconds`` later than the latest (development chains only)."""
        if self._time_machine is None:
            raise TransactionFailed(f"a {self.kind} chain cannot travel in time")
        self._time_machine(seconds)

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (development chains only)."""
        if self._miner is None:
            raise TransactionFailed(f"a {self.kind} chain cannot mine on demand")
        self._miner(blocks)

    @property
    def can_mine(self) -> bool:
        return self._miner is not None

    def contract(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=load_artifact(name).abi
        )

    # -- calls and transactions -----------------------------------------------------------------

    def call(self, fn: ContractFunction, block: BlockIdentifier = "latest") -> Any:
        """eth_call a view function; a revert becomes ContractRevert."""
        try:
            return fn.call(block_identifier=block)
        except _REVERTS as exc:
            raise _revert_from(exc) from None

    def transact(
        self,
        account: LocalAccount,
        fn: ContractFunction | ContractConstructor,
        *,
        gas: int | None = None,
        timeout: float = 120.0,
    ) -> TxReceipt:
        """Sign and send a transaction calling ``fn``; wait for its receipt.

        Raises ContractRevert when it would revert (decoded from the estimate, or replayed at
        the block where it failed), TransactionFailed for anything else.
        """
        signed = self.sign(account, fn, gas=gas)
        self.broadcast(signed)
        return self.wait(signed, timeout=timeout)

    def sign(
        self,
        account: LocalAccount,
        fn: ContractFunction | ContractConstructor,
        *,
        gas: int | None = None,
    ) -> SignedTx:
        """Build and sign a transaction without sending it, so its hash can be recorded first
        (an outbox). Estimating gas surfaces a would-be revert as ContractRevert now."""
        sender = account.address
        tx: dict[str, Any] = {"from": sender, "chainId": self.chain_id}
        if gas is None:
            try:
                gas = int(fn.estimate_gas({"from": sender}))
            except _REVERTS as exc:
                raise _revert_from(exc) from None
            except Exception as exc:  # unfunded sender, node errors, bad params
                raise TransactionFailed(f"gas estimation failed: {exc}") from exc
            gas = gas + gas // 5 + 10_000
        tx["gas"] = gas
        tx["nonce"] = self.w3.eth.get_transaction_count(sender, "pending")
        tx.update(self._fees())
        built: dict[str, Any] = dict(fn.build_transaction(tx))  # type: ignore[arg-type]
        signed = account.sign_transaction(built)
        return SignedTx(
            raw=bytes(signed.raw_transaction), tx_hash="0x" + bytes(signed.hash).hex(), tx=built
        )

    def broadcast(self, signed: SignedTx) -> None:
        """Send a signed transaction; sending one the node already knows is not an error."""
        try:
            self.w3.eth.send_raw_transaction(signed.raw)
        except (Web3RPCError, ValueError) as exc:
            text = str(exc).lower()
            if "already known" in text or "known transaction" in text:
                return
            raise TransactionFailed(f"transaction rejected by the node: {exc}") from exc

    def wait(self, signed: SignedTx, *, timeout: float = 120.0) -> TxReceipt:
        """Wait for the receipt of a broadcast transaction; a failed one raises."""
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                HexBytes(signed.tx_hash), timeout=timeout, poll_latency=0.05
            )
        except TimeExhausted as exc:
            raise TransactionFailed(f"transaction not mined within {timeout:.0f}s") from exc
        if receipt["status"] != 1:
            raise self._replay_failure(signed.tx, receipt)
        return receipt

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        """The receipt of a mined transaction, or None (pending, dropped or unknown)."""
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def is_pending(self, tx_hash: str) -> bool:
        """True when the node still holds the transaction unmined."""
        try:
            tx = self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return False
        return tx.get("blockNumber") is None

    def _fees(self) -> dict[str, int]:
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:  # pre-London chain (some consortium chains): legacy pricing
            return {"gasPrice": int(self.w3.eth.gas_price)}
        tip = 10**9
        return {"maxFeePerGas": 2 * int(base) + tip, "maxPriorityFeePerGas": tip}

    def _replay_failure(self, tx: dict[str, Any], receipt: TxReceipt) -> Exception:
        call = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
        try:
            self.w3.eth.call(call, block_identifier=receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except _REVERTS as exc:
            return _revert_from(exc)
        except Exception as exc:  # noqa: BLE001 - the original failure is what matters
            return TransactionFailed(
                f"transaction {HexBytes(receipt['transactionHash']).hex()} failed ({exc})"
            )
        return TransactionFailed(f"transaction {HexBytes(receipt['transactionHash']).hex()} failed")

    def deploy(self, account: LocalAccount, name: str, *args: Any) -> tuple[str, TxReceipt]:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.transact(account, factory.constructor(*args))
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionFailed(f"deploying {name} created no contract")
        return str(address), receipt
