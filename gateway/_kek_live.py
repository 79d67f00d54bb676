"""The key-encryption keys of a *running* gateway: always the keyring file's, and a lease that
tells `creditchain keys retire` which KEKs a serving process may still seal with.

A serving process picks up ``keys/kek.json`` when it changes (a ``stat`` per use: inode,
size and mtime), so after ``keys rotate-kek`` it seals new records under the new active KEK,
and it never seals with a KEK that is no longer active in the file.

A process that seals holds a **lease**: ``keys/leases/<id>.lock``, ``flock``-ed for the
process's lifetime (the kernel drops it when the process dies, however it dies), next to
``keys/leases/<id>.json`` = ``{"pid", "active", "recent": {kek_id: until}}``, the KEK it
seals with and every KEK it handed out for sealing within the last ``grace`` seconds (a
transaction that took the old KEK just before the switch may still be writing with it). A
thread re-reads the keyring every second so an idle process moves on too. ``retire`` refuses
to drop a KEK that a live lease names (:func:`kek_ids_leased`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from gateway.domain.envelope import Kek, Keyring
from gateway.errors import ConfigurationError
from node._accounts import private_dir

LEASES_DIR = "leases"
GRACE_SECONDS = 60.0
_POLL_SECONDS = 1.0

Loader = Callable[[], tuple[Keyring, Kek]]


class LiveKeyring:
    """The keyring file's current keys, re-read when the file changes."""

    def __init__(
        self,
        path: Path,
        load: Loader,
        *,
        grace: float = GRACE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._load = load
        self.grace = grace
        self.clock = clock
        self._lock = threading.Lock()
        load()  # a development keyring is created on first load
        self._stamp = self._stat()
        self._state = load()
        self._lease: _Lease | None = None

    def _stat(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise ConfigurationError(f"cannot read the keyring {self.path}: {exc}") from exc
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _fresh(self) -> tuple[Keyring, Kek]:
        if self._stat() == self._stamp:
            return self._state
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp:
                self._state = self._load()
                self._stamp = stamp
                if self._lease is not None:
                    self._lease.use(self._state[1].kek_id, self.grace)
            return self._state

    @property
    def keyring(self) -> Keyring:
        """Every KEK of the file (to open envelopes)."""
        return self._fresh()[0]

    def active(self) -> Kek:
        """The file's active KEK, to seal with; takes this process's lease on first use."""
        if self._lease is None:
            with self._lock:
                if self._lease is None:
                    self._lease = _Lease(self.path.parent / LEASES_DIR, self.clock)
                    self._lease.use(self._state[1].kek_id, self.grace)
                    threading.Thread(
                        target=_poll, args=(weakref.ref(self),), name="kek-lease", daemon=True
                    ).start()
        return self._fresh()[1]

    def release(self) -> None:
        """Drop the lease (tests; a process exiting drops it anyway)."""
        with self._lock:
            if self._lease is not None:
                self._lease.close()


def _poll(ref: weakref.ref[LiveKeyring]) -> None:
    """Follow the keyring file every second, so an idle process's lease moves on too; ends
    when the keyring object is gone, its lease released, or its directory removed."""
    while True:
        time.sleep(_POLL_SECONDS)
        live = ref()
        if live is None or live._lease is None or live._lease.closed:
            return
        if not live.path.parent.exists():
            return
        try:
            live._fresh()
            live._lease.expire()
        except Exception:  # noqa: BLE001, S112 - a bad file now: the next pass (sealing raises)
            continue
        finally:
            del live


class _Lease:
    def __init__(self, directory: Path, clock: Callable[[], float]) -> None:
        private_dir(directory)
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.lock_path = directory / f"{name}.lock"
        self.info_path = directory / f"{name}.json"
        self.clock = clock
        self.active: str | None = None
        self.recent: dict[str, float] = {}
        self._fd: int | None = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def use(self, kek_id: str, grace: float) -> None:
        if self.active is not None and self.active != kek_id:
            self.recent[self.active] = self.clock() + grace
        self.active = kek_id
        self.recent.pop(kek_id, None)
        self._write()

    def expire(self) -> None:
        now = self.clock()
        gone = [k for k, until in self.recent.items() if until <= now]
        for k in gone:
            del self.recent[k]
        if gone:
            self._write()

    def _write(self) -> None:
        if self._fd is None:
            return
        doc = {"pid": os.getpid(), "active": self.active, "recent": dict(self.recent)}
        tmp = self.info_path.with_name(self.info_path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(doc) + "\n")
        os.replace(tmp, self.info_path)

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        if self._fd is None:
            return
        for p in (self.info_path, self.lock_path):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        os.close(self._fd)
        self._fd = None


def kek_ids_leased(keys_dir: Path, *, now: float | None = None) -> dict[str, list[int]]:
    """KEK ids that a live serving process may still seal with, each with those processes'
    pids. Leases of dead processes are removed on the way."""
    directory = keys_dir / LEASES_DIR
    held: dict[str, list[int]] = {}
    try:
        locks = sorted(directory.glob("*.lock"))
    except OSError:
        return held
    when = time.time() if now is None else now
    for lock_path in locks:
        info_path = lock_path.with_suffix(".json")
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                live = True
            else:
                live = False
                for p in (info_path, lock_path):
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
        finally:
            os.close(fd)
        if not live:
            continue
        try:
            doc = json.loads(info_path.read_text())
        except (OSError, ValueError):
            # a lease being taken right now: its process will seal with the active KEK
            continue
        pid = int(doc.get("pid", 0))
        ids = {str(doc.get("active"))}
        ids.update(k for k, until in dict(doc.get("recent", {})).items() if float(until) > when)
        for k in ids:
            held.setdefault(k, []).append(pid)
    return held
