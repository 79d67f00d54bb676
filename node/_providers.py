"""Ways to reach a chain: embedded (eth-tester / py-evm), a local anvil, any JSON-RPC URL."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from eth_typing import ChecksumAddress
from web3 import HTTPProvider, Web3
from web3.types import Wei

from node._chain import Chain
from node.errors import ChainUnavailable

ROOT = Path(__file__).resolve().parent.parent


def embedded() -> Chain:
    """An in-process chain (eth-tester on py-evm). Its state lives and dies with the process."""
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider

    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(EthereumTesterProvider(tester))
    bank = w3.eth.accounts[0]

    def faucet(address: ChecksumAddress, wei: int) -> None:
        tx = w3.eth.send_transaction({"from": bank, "to": address, "value": Wei(wei)})
        w3.eth.wait_for_transaction_receipt(tx)

    def time_machine(seconds: int) -> None:
        # eth-tester travels the *pending* block and mines the one before it, one second
        # earlier: aim one second further so the mined block is exactly `seconds` later.
        latest = w3.eth.get_block("latest")["timestamp"]
        tester.time_travel(int(latest) + seconds + 1)

    return Chain(
        w3,
        kind="embedded",
        faucet=faucet,
        time_machine=time_machine,
        miner=lambda n: tester.mine_blocks(n),
    )


def connect(url: str, *, timeout: float = 30.0) -> Chain:
    """Any EVM JSON-RPC endpoint (Besu QBFT, geth, anvil, FISCO BCOS EVM, ...)."""
    if not url.startswith(("http://", "https://")):
        raise ChainUnavailable(f"not an HTTP(S) JSON-RPC URL: {url!r}")
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))
    chain = Chain(w3, kind="rpc", url=url)
    chain.chain_id  # noqa: B018 - fail now, with a clear message, if it is unreachable
    return chain


def anvil_binary() -> Path:
    """The anvil executable installed by `npm ci` (@foundry-rs/anvil)."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = platform.system().lower()
    candidates = [
        ROOT / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil",
        ROOT / "node_modules" / ".bin" / "anvil",
    ]
    for c in candidates:
        if c.exists():
            return c
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ChainUnavailable("anvil not found: run `npm ci` in the repository root")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host:port`` already (``SO_REUSEADDR``, as anvil binds:
    connections of an earlier run still in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on loopback ``port`` (Linux ``/proc/net/tcp``), None elsewhere."""
    try:
        with open("/proc/net/tcp") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    found: set[str] = set()
    for line in lines:
        parts = line.split()
        if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
            found.add(parts[9])
    return found


def _holds_port(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds the listening socket of ``port``; None if unknowable."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def _private_child() -> None:  # pragma: no cover - runs in the child before exec
    """Files the child creates (anvil's state dump) are private to the user (mode 0600)."""
    os.umask(0o077)
    if platform.system() == "Linux":
        _die_with_parent()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: have the kernel send SIGTERM to anvil if its parent dies (anvil then dumps state)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class AnvilNode:
    """A local anvil process on a loopback port, its state persisted to ``state_file``.

    State is loaded at start if the file exists, dumped every second while running and on a
    clean stop (SIGTERM), so a restart shows the same contracts and storage.
    """

    def __init__(
        self,
        *,
        state_file: Path | None = None,
        port: int | None = None,
        chain_id: int = 31337,
        log_file: Path | None = None,
        block_time: float | None = None,
    ) -> None:
        self.state_file = state_file
        self.port = port or free_port()
        self.chain_id = chain_id
        self.log_file = log_file
        self.block_time = block_time
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> AnvilNode:
        """Start anvil and wait until it answers. Refuses a port that is taken already, and
        counts the node as ready only when the answer comes from *this* anvil (on Linux: the
        port's listening socket belongs to our process), never from another chain that
        happens to listen there."""
        if port_in_use(self.port):
            raise ChainUnavailable(
                f"port {self.port} is in use already (another chain or program listens on "
                f"127.0.0.1:{self.port}): stop it or choose another port"
            )
        cmd = [
            str(anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            "1",
        ]
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--state", str(self.state_file), "--state-interval", "1"]
        if self.block_time:
            cmd += ["--block-time", str(self.block_time)]
        out = (
            os.fdopen(os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
            if self.log_file
            else subprocess.DEVNULL
        )
        try:
            self.process = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_private_child,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ChainUnavailable(
                    f"anvil exited with code {self.process.returncode} at start"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            if self._ready() and self._ours():
                return self
            time.sleep(0.05)
        self.stop()
        raise ChainUnavailable(f"anvil did not answer on {self.url} within {timeout:.0f}s")

    def _ours(self) -> bool:
        """The answering node is our process (unknowable off Linux: then trust the pre-check)."""
        assert self.process is not None
        if self.process.poll() is not None:
            return False
        return _holds_port(self.process.pid, self.port) is not False

    def _ready(self) -> bool:
        try:
            r = requests.post(
                self.url,
                json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                timeout=1,
            )
            return r.ok
        except requests.RequestException:
            return False

    def chain(self) -> Chain:
        w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 60}))

        def faucet(address: ChecksumAddress, wei: int) -> None:
            w3.provider.make_request("anvil_setBalance", [address, hex(wei)])  # type: ignore[arg-type]

        def time_machine(seconds: int) -> None:
            w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

        def miner(blocks: int) -> None:
            w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]

        return Chain(
            w3, kind="anvil", url=self.url, faucet=faucet, time_machine=time_machine, miner=miner
        )

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (anvil dumps its state on exit), then SIGKILL if it will not go."""
        p = self.process
        if p is None or p.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
