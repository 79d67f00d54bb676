"""The receipts' high-water mark: how far into each log this gateway has signed receipts, kept
outside the database so that dropping the log's unanchored tail from the database is noticed.

Every receipt promises that its entry stays at its index (docs/formats.md §6). Before a receipt
for index ``i`` leaves, the process raises its mark for that log to ``i + 1``; at start-up the
gateway refuses to run when a mark exceeds the log's size in the database (the entries behind
signed receipts were dropped: their indices would be handed to other entries).

Layout: ``<data_dir>/state/receipts-hwm/<pid>-<random>.mark``, one file per serving process,
memory-mapped: raising the mark is a store into the page cache (it survives the process being
killed; an OS crash may lose the last seconds — the chain's anchored size stays the floor, see
:meth:`gateway._anchor.Anchorer.check_against_chain`). Each log has two slots written in turn;
a slot is ``seq (8) ‖ size (8) ‖ HMAC-SHA256(key, name ‖ seq ‖ size) (32)``, keyed by a key
derived from the gateway's signing key, so an insider who can edit the database and the files
but holds no key cannot forge a lower mark — but can delete the files (residual risk: the
gateway then starts, with a warning, from the current log sizes; receipt holders still catch
the reuse with ``creditchain receipts verify``). At start-up the marks of every earlier
process are merged into this one's file and the older files removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import mmap
import os
import secrets
import struct
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from gateway._integrity import Finding
from gateway.errors import ReceiptsBeyondLog
from gateway.store import DbLog, session_scope
from node._accounts import private_dir

if TYPE_CHECKING:
    from gateway._service import Gateway

LOG_NAMES = ("records", "access")

log = logging.getLogger("creditchain.receipts")

MARK_DIR = Path("state") / "receipts-hwm"
_SLOT = struct.Struct(">QQ32s")
_HEADER = b"creditchain-receipts-hwm-v1\n"


def mark_key(signer_key: bytes) -> bytes:
    """The MAC key of the marks: only a holder of the gateway's signing key can make one."""
    return hmac.new(signer_key, b"creditchain/receipts-hwm/v1", hashlib.sha256).digest()


def _mac(key: bytes, name: str, seq: int, size: int) -> bytes:
    return hmac.new(key, name.encode() + struct.pack(">QQ", seq, size), hashlib.sha256).digest()


class BadMark(ValueError):
    """A mark file that this gateway's key did not write."""


def _read_file(path: Path, key: bytes, names: Sequence[str]) -> dict[str, int]:
    data = path.read_bytes()
    if not data.startswith(_HEADER) or len(data) < len(_HEADER) + 2 * len(names) * _SLOT.size:
        raise BadMark(f"{path} is not a receipts mark file")
    out: dict[str, int] = {}
    for i, name in enumerate(names):
        best: tuple[int, int] | None = None
        written = False
        for j in range(2):
            off = len(_HEADER) + (2 * i + j) * _SLOT.size
            seq, size, mac = _SLOT.unpack_from(data, off)
            if seq == 0 and size == 0 and mac == bytes(32):
                continue  # never written
            written = True
            if hmac.compare_digest(mac, _mac(key, name, seq, size)) and (
                best is None or seq > best[0]
            ):
                best = (seq, size)
        if written and best is None:
            raise BadMark(f"{path}: the {name} mark is not signed by this gateway's key")
        out[name] = best[1] if best else 0
    return out


def read_marks(directory: Path, key: bytes, names: Sequence[str]) -> dict[str, int]:
    """The highest mark of each log over every process's file (0 where there is none)."""
    marks = dict.fromkeys(names, 0)
    if not directory.exists():
        return marks
    for path in sorted(directory.glob("*.mark")):
        for name, size in _read_file(path, key, names).items():
            marks[name] = max(marks[name], size)
    return marks


def has_marks(directory: Path) -> bool:
    return directory.exists() and any(directory.glob("*.mark"))


class ReceiptMark:
    """This process's marks (one memory-mapped file), raised before a receipt leaves."""

    def __init__(
        self, directory: Path, key: bytes, names: Sequence[str], start: Mapping[str, int]
    ) -> None:
        self.directory = directory
        self.key = key
        self.names = tuple(names)
        self._lock = threading.Lock()
        self._marks = {n: int(start.get(n, 0)) for n in self.names}
        self._seq = dict.fromkeys(self.names, 0)
        self._mm: mmap.mmap | None = None
        self.path: Path | None = None

    def _open(self) -> mmap.mmap:
        private_dir(self.directory.parent)
        private_dir(self.directory)
        path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}.mark"
        tmp = path.with_name(path.name + ".tmp")
        length = len(_HEADER) + 2 * len(self.names) * _SLOT.size
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, _HEADER + bytes(length - len(_HEADER)))
            os.fsync(fd)
            mm = mmap.mmap(fd, length)
        finally:
            os.close(fd)
        os.replace(tmp, path)  # only a whole file is ever a mark file
        self.path = path
        self._mm = mm
        for name in self.names:
            if self._marks[name]:
                self._store(name, self._marks[name])
        mm.flush()
        return mm

    def _store(self, name: str, size: int) -> None:
        assert self._mm is not None
        i = self.names.index(name)
        self._seq[name] += 1
        seq = self._seq[name]
        off = len(_HEADER) + (2 * i + seq % 2) * _SLOT.size
        self._mm[off : off + _SLOT.size] = _SLOT.pack(seq, size, _mac(self.key, name, seq, size))

    def raise_to(self, name: str, size: int) -> None:
        """Record that receipts up to index ``size - 1`` of log ``name`` may leave."""
        if size <= self._marks[name]:
            return
        with self._lock:
            if size <= self._marks[name]:
                return
            if self._mm is None:
                self._open()
            self._marks[name] = size
            self._store(name, size)

    def current(self) -> dict[str, int]:
        return dict(self._marks)

    def flush(self) -> None:
        with self._lock:
            if self._mm is not None:
                self._mm.flush()

    def consolidate(self) -> None:
        """Write this process's file now and remove every other process's (start-up only)."""
        with self._lock:
            if self._mm is None:
                self._open()
            else:
                self._mm.flush()
        for other in [*self.directory.glob("*.mark"), *self.directory.glob("*.mark.tmp")]:
            if other != self.path:
                with contextlib.suppress(FileNotFoundError):
                    other.unlink()

    def close(self) -> None:
        with self._lock:
            if self._mm is not None:
                self._mm.flush()
                self._mm.close()
                self._mm = None


def _log_sizes(engine: Engine, names: Sequence[str]) -> dict[str, int]:
    with session_scope(engine, read_only=True) as s:
        out = {}
        for name in names:
            db = DbLog(s, name)
            out[name] = db.size() if db.exists() else 0
        return out


def mark_findings(data_dir: Path, signer_key: bytes, engine: Engine) -> list[Finding]:
    """`creditchain check`: each log whose receipts' mark exceeds its size in the database."""
    directory = data_dir / MARK_DIR
    sizes = _log_sizes(engine, LOG_NAMES)
    try:
        marks = read_marks(directory, mark_key(signer_key), LOG_NAMES)
    except BadMark as exc:
        return [Finding("receipt-mark", str(directory), str(exc))]
    return [
        Finding("receipt-mark", f"{name} log", _beyond(name, sizes[name], marks[name], directory))
        for name in LOG_NAMES
        if marks[name] > sizes[name]
    ]


def _beyond(name: str, size: int, mark: int, directory: Path) -> str:
    return (
        f"this gateway signed receipts up to index {mark - 1} of the {name} log but the "
        f"database holds only {size} entries (marks in {directory}): entries behind signed "
        "receipts were dropped"
    )


def install(gateway: Gateway, data_dir: Path, *, check: bool) -> ReceiptMark:
    """Give ``gateway`` its receipts' mark. ``check`` (the main process, at start-up): refuse
    with :class:`ReceiptsBeyondLog` when a mark exceeds its log's size, then merge every
    earlier process's marks into this one's file."""
    directory = data_dir / MARK_DIR
    key = mark_key(bytes(gateway.secrets.signer.key))
    if not check:
        mark = ReceiptMark(directory, key, LOG_NAMES, {})
        gateway.receipt_mark = mark
        return mark
    sizes = _log_sizes(gateway.engine, LOG_NAMES)
    if not has_marks(directory):
        if any(sizes.values()):
            log.warning(
                "no receipt marks in %s: starting from the logs' sizes in the database (%s)",
                directory,
                ", ".join(f"{n} {s}" for n, s in sizes.items()),
            )
        marks = dict.fromkeys(LOG_NAMES, 0)
    else:
        try:
            marks = read_marks(directory, key, LOG_NAMES)
        except BadMark as exc:
            raise ReceiptsBeyondLog(f"{exc}; refusing to start") from exc
    for name in LOG_NAMES:
        if marks[name] > sizes[name]:
            raise ReceiptsBeyondLog(
                _beyond(name, sizes[name], marks[name], directory)
                + "; refusing to start (restore the dropped entries; after restoring an older "
                f"backup on purpose, move {directory} aside to start, knowing those receipts "
                "will be reported contradicted)",
                log=name,
                size=sizes[name],
                mark=marks[name],
            )
    mark = ReceiptMark(directory, key, LOG_NAMES, {n: max(marks[n], sizes[n]) for n in LOG_NAMES})
    mark.consolidate()
    gateway.receipt_mark = mark
    return mark
