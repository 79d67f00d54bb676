"""`creditchain serve` as a real process for end-to-end tests: start, wait for health, SIGKILL
(and make sure its anvil child is gone before the next start), stop cleanly.

The local chain runs as a child of the serve process (``node/_local.py``) and gets SIGTERM from
the kernel when serve dies (``PR_SET_PDEATHSIG``), dumping its state on the way out. A restart
must not begin before that anvil has exited: it would find the chain port taken, or load a state
file that is still being written.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

CLI = str(Path(sys.executable).parent / "creditchain")


def fixed_port(rng: random.Random | None = None) -> int:
    """A free loopback port *below* the kernel's ephemeral range, for a server restarted on the
    same port many times: while it is down, ``free_port()`` callers and outgoing connections
    (which draw from the ephemeral range) cannot take it."""
    rng = rng or random.Random()
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


class GatewayDied(AssertionError):
    """The serve process exited on its own (it refused to start, or crashed)."""


def _children(pid: int) -> set[int]:
    """Direct children of ``pid`` (Linux ``/proc/<pid>/task/*/children``)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found.update(int(c) for c in f.read().split())
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pid_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a dead child nobody reaped yet: an
    orphaned anvil may be reparented to a PID 1 that never reaps)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


@dataclass
class GatewayProcess:
    """One data dir's gateway, started and killed as often as a test likes."""

    data_dir: Path
    port: int
    chain_port: int
    extra_args: tuple[str, ...] = ()
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    anvil_pids: set[int] = field(default_factory=set)
    starts: int = 0
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def spawn(self) -> None:
        """Start ``creditchain serve --dev`` (does not wait)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if self._log is None:
            self._log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115
        self._log.write(f"\n===== start {self.starts} at {time.time():.3f} =====\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [
                CLI,
                "serve",
                "--dev",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--chain-port",
                str(self.chain_port),
                *self.extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "CREDITCHAIN_DEBUG": "1"},
        )
        self.starts += 1

    def track_anvil(self) -> set[int]:
        """Remember the serve process's anvil child(ren); returns the ones seen now."""
        if self.proc is None or self.proc.poll() is not None:
            return set()
        now = {c for c in _children(self.proc.pid) if "anvil" in _cmdline(c)}
        self.anvil_pids |= now
        return now

    def orphan_anvils(self) -> set[int]:
        """Live anvil processes of *this* data dir (by their state file argument): catches one
        spawned in the instant before a kill, before :meth:`track_anvil` could see it."""
        state = str(self.data_dir / "chain" / "anvil-state.json")
        found = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                cmd = _cmdline(int(entry))
                if "anvil" in cmd and state in cmd.split():
                    found.add(int(entry))
        return {p for p in found if pid_running(p)}

    def wait_healthy(self, timeout: float = 120.0) -> float:
        """Wait until ``GET /v1/health`` answers 200; returns the seconds waited."""
        assert self.proc is not None
        t0 = time.monotonic()
        deadline = t0 + timeout
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                self.track_anvil()
                if self.proc.poll() is not None:
                    raise GatewayDied(
                        f"creditchain serve exited with {self.proc.returncode} during start-up; "
                        f"log: {self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.url}/v1/health").status_code == 200:
                        self.track_anvil()
                        return time.monotonic() - t0
                time.sleep(0.05)
        raise AssertionError(f"gateway not healthy within {timeout:.0f}s; log: {self.log_tail()}")

    def kill(self, anvil_timeout: float = 30.0) -> dict[str, float | int]:
        """SIGKILL serve; wait until its anvil exited (it should, on PDEATHSIG's SIGTERM, after
        dumping its state). An anvil still alive after ``anvil_timeout`` gets SIGTERM, then
        SIGKILL. Returns timings and how many anvils had to be ended by hand."""
        assert self.proc is not None
        self.track_anvil()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.anvil_pids |= self.orphan_anvils()
        anvils = len(self.anvil_pids)
        t0 = time.monotonic()
        by_hand = self._reap_anvils(anvil_timeout)
        return {
            "anvils": anvils,
            "anvil_exit_s": round(time.monotonic() - t0, 3),
            "anvil_by_hand": by_hand,
        }

    def _reap_anvils(self, timeout: float) -> int:
        by_hand = 0
        deadline = time.monotonic() + timeout
        for pid in sorted(self.anvil_pids):
            while pid_running(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if pid_running(pid):
                by_hand += 1
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                t = time.monotonic() + 20
                while pid_running(pid) and time.monotonic() < t:
                    time.sleep(0.05)
                if pid_running(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    while pid_running(pid):
                        time.sleep(0.05)
        self.anvil_pids.clear()
        return by_hand

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM serve (a clean shutdown) and wait; then make sure no anvil is left."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.track_anvil()
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif self.proc is not None:
            code = self.proc.returncode
        self.anvil_pids |= self.orphan_anvils()
        self._reap_anvils(10.0)
        return code

    def close(self) -> None:
        """Stop everything this object started (for ``finally`` blocks)."""
        with contextlib.suppress(Exception):
            self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        if self._log is not None:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
