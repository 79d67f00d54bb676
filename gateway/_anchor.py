"""The anchoring worker: puts checkpoints of the gateway's logs on chain, through an outbox.

Each anchor moves through the ``anchor`` table:

    prepared   the checkpoint (size, root) is decided and committed — before any transaction
    sent       a signed transaction's hash is committed — before it is broadcast
    confirmed  the chain holds the checkpoint, ``confirmations`` blocks deep, re-read from chain

A crash at any point leaves a row whose next step is safe to repeat: a prepared row is signed
and sent; a sent row whose transaction the node no longer knows (never broadcast, or dropped by
a reorg) is signed and sent again; the contract itself refuses a second copy of a checkpoint
(``CheckpointAlreadyAnchored``), which counts as success. Nothing is anchored twice, nothing
acknowledged is left out: the next checkpoint always covers the whole log.

On start, :meth:`Anchorer.check_against_chain` compares the database with the chain and raises
:class:`ChainDisagrees` if the chain holds a checkpoint the database cannot reproduce. A row to
send whose (size, root) is not the log's own checkpoint (an edited outbox row) is refused the
same way before anything is signed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from gateway._config import AnchorPolicy
from gateway.errors import ChainDisagrees
from gateway.store import Anchor, DbLog, LogCorrupted, session_scope
from node import Chain, CheckpointLogClient, ContractRevert, NodeError

log = logging.getLogger("creditchain.anchor")

_FATAL_REVERTS = {
    "CheckpointNotNewer",
    "ConflictingRoot",
    "InvalidConsistencyProof",
    "UnknownLog",
    "NotLogOperator",
}


@dataclass(frozen=True)
class AnchoredCheckpoint:
    log_name: str
    size: int
    root: bytes
    tx_hash: str | None
    block_number: int | None


class Anchorer:
    """Anchors every named log of one gateway. Safe to run in one process per database."""

    def __init__(
        self,
        engine: Engine,
        chain: Chain,
        checkpoint_log: CheckpointLogClient,
        operator: LocalAccount,
        logs: dict[str, bytes],
        policy: AnchorPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.chain = chain
        self.contract = checkpoint_log
        self.operator = operator
        self.logs = logs
        self.policy = policy
        self.clock = clock
        self._rechecked: dict[str, float] = {}
        self._waiting_since: dict[str, float] = {}
        self.error: Exception | None = None

    # -- start-up ---------------------------------------------------------------------------

    def check_against_chain(self) -> None:
        """Refuse to run when the chain holds a checkpoint this database cannot reproduce."""
        for name, log_id in self.logs.items():
            latest = self.contract.latest(log_id)
            with session_scope(self.engine) as s:
                db = DbLog(s, name)
                db.ensure()
                size = db.size()
                if latest is not None:
                    if latest.size > size:
                        raise ChainDisagrees(
                            f"the chain anchors {latest.size} entries of the {name} log but this "
                            f"database holds only {size}: it lost data, or belongs to another "
                            "gateway; refusing to run",
                            log=name,
                        )
                    ours = db.root(latest.size)
                    if ours != latest.root:
                        raise ChainDisagrees(
                            f"the {name} log's root at size {latest.size} is 0x{ours.hex()} here "
                            f"but 0x{latest.root.hex()} on chain: the database was altered or "
                            "belongs to another gateway; refusing to run",
                            log=name,
                        )
            self._reopen_lost(name, latest.size if latest else 0)

    def _reopen_lost(self, name: str, chain_size: int) -> None:
        """Anchors the chain no longer has (a node restored from an older state, a reorg deeper
        than the confirmations) go back to ``prepared``: they will be anchored again."""
        with session_scope(self.engine) as s:
            lost = s.exec(
                select(Anchor).where(
                    Anchor.log_name == name, Anchor.size > chain_size, Anchor.state == "confirmed"
                )
            ).all()
            for row in lost:
                log.warning(
                    "%s checkpoint %d is not on chain any more; re-anchoring", name, row.size
                )
                row.state, row.tx_hash, row.block_number = "prepared", None, None
                row.updated_at = int(self.clock())
                s.add(row)

    def _recheck(self, name: str) -> None:
        """Each pass: is the newest confirmed checkpoint still on chain (reorg-aware)?"""
        newest = latest_confirmed(self.engine, name)
        if newest is None:
            return
        latest = self.contract.latest(self.logs[name])
        chain_size = latest.size if latest else 0
        if chain_size < newest.size:
            self._reopen_lost(name, chain_size)

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Anchor until ``stop`` is set. A fatal disagreement stops the worker (see .error)."""
        while not stop.is_set():
            try:
                self.step()
            except (ChainDisagrees, LogCorrupted) as exc:  # never anchor what disagrees
                self.error = exc
                log.error("anchoring stopped: %s", exc)
                return
            except (NodeError, OSError) as exc:  # chain unreachable for now: retry
                log.warning("anchoring pass failed, will retry: %s", exc)
            except Exception:  # a database hiccup must not end the worker: retry
                log.exception("anchoring pass failed, will retry")
            stop.wait(self.policy.interval)

    def step(self, *, force: bool = False) -> list[AnchoredCheckpoint]:
        """One pass over every log; returns the checkpoints confirmed in it."""
        done: list[AnchoredCheckpoint] = []
        for name in self.logs:
            confirmed = self._step_log(name, force=force)
            if confirmed is not None:
                done.append(confirmed)
        return done

    def anchor_now(self, timeout: float = 60.0) -> list[AnchoredCheckpoint]:
        """Anchor everything appended so far and wait until it is confirmed (tests, CLI)."""
        deadline = time.monotonic() + timeout
        done = self.step(force=True)
        while self._pending() and time.monotonic() < deadline:
            if self.policy.confirmations and self.chain.can_mine:
                self.chain.mine(1)
            else:
                time.sleep(0.05)
            done += self.step(force=True)
        if self._pending():
            raise ChainDisagrees("anchors still pending after the timeout")
        return done

    def _pending(self) -> bool:
        with session_scope(self.engine, read_only=True) as s:
            row = s.exec(select(Anchor).where(Anchor.state != "confirmed").limit(1)).first()
            return row is not None

    # -- one log ----------------------------------------------------------------------------

    def _step_log(self, name: str, *, force: bool) -> AnchoredCheckpoint | None:
        now = time.monotonic()
        if force or now - self._rechecked.get(name, -math.inf) >= self.policy.recheck_every:
            self._recheck(name)
            self._rechecked[name] = now
        pending = self._first_pending(name)
        if pending is None and self._maybe_prepare(name, force=force):
            pending = self._first_pending(name)
        return None if pending is None else self._advance(pending)

    def _first_pending(self, name: str) -> Anchor | None:
        with session_scope(self.engine, read_only=True) as s:
            return s.exec(
                select(Anchor)
                .where(Anchor.log_name == name, Anchor.state != "confirmed")
                .order_by(col(Anchor.size))
            ).first()

    def _maybe_prepare(self, name: str, *, force: bool) -> bool:
        """Commit a ``prepared`` checkpoint of the whole log when one is due."""
        now = time.monotonic()
        with session_scope(self.engine) as s:
            db = DbLog(s, name)
            db.ensure()
            size = db.size()
            last = s.exec(
                select(Anchor).where(Anchor.log_name == name).order_by(col(Anchor.size).desc())
            ).first()
            anchored = last.size if last else 0
            if size <= anchored:
                self._waiting_since.pop(name, None)
                return False
            since = self._waiting_since.setdefault(name, now)
            due = (
                force
                or size - anchored >= self.policy.size_threshold
                or now - since >= self.policy.anchor_after
            )
            if not due:
                return False
            t = int(self.clock())
            s.add(
                Anchor(
                    log_name=name,
                    size=size,
                    root=db.root(size),
                    from_size=anchored,
                    state="prepared",
                    created_at=t,
                    updated_at=t,
                )
            )
        self._waiting_since.pop(name, None)
        return True

    def _advance(self, row: Anchor) -> AnchoredCheckpoint | None:
        log_id = self.logs[row.log_name]
        latest = self.contract.latest(log_id)
        if latest is not None and latest.size >= row.size:
            return self._settle(row, log_id)
        if row.state == "sent" and row.tx_hash:
            receipt = self.chain.receipt(row.tx_hash)
            if receipt is not None and receipt["status"] == 1:
                return None  # mined; the chain view above will show it on a later pass
            if receipt is None and self.chain.is_pending(row.tx_hash):
                return None
            log.warning("%s anchor tx %s was dropped; sending again", row.log_name, row.tx_hash)
        self._send(row, log_id, latest.size if latest else 0, latest.root if latest else None)
        return None

    def _send(self, row: Anchor, log_id: bytes, chain_size: int, chain_root: bytes | None) -> None:
        with session_scope(self.engine, read_only=True) as s:
            db = DbLog(s, row.log_name)
            if not 0 < row.size <= db.size() or db.root(row.size) != row.root:
                # an edited outbox row: never sign a checkpoint the log does not have (the
                # contract can tell only from the second checkpoint on, by its proof)
                raise ChainDisagrees(
                    f"the {row.log_name} anchor row for size {row.size} is not the log's "
                    "checkpoint at that size: the anchor table was altered; refusing to anchor",
                    log=row.log_name,
                )
            if chain_size and db.root(chain_size) != chain_root:
                raise ChainDisagrees(
                    f"the {row.log_name} log's root at size {chain_size} differs from the chain's",
                    log=row.log_name,
                )
            proof = db.consistency_proof(chain_size, row.size) if chain_size else []
        fn = self.contract.contract.functions.anchor(log_id, row.size, row.root, proof)
        try:
            signed = self.chain.sign(self.operator, fn)
        except ContractRevert as exc:
            if exc.name == "CheckpointAlreadyAnchored":
                return  # on chain already; the next pass settles it
            if exc.name in _FATAL_REVERTS:
                raise ChainDisagrees(
                    f"the chain refuses {row.log_name} checkpoint {row.size}: {exc}",
                    log=row.log_name,
                ) from exc
            raise
        with session_scope(self.engine) as s:
            fresh = s.get(Anchor, row.id)
            assert fresh is not None
            fresh.state, fresh.tx_hash = "sent", signed.tx_hash
            fresh.updated_at = int(self.clock())
            s.add(fresh)
        self.chain.broadcast(signed)

    def _settle(self, row: Anchor, log_id: bytes) -> AnchoredCheckpoint | None:
        try:
            cp = self.contract.for_size(log_id, row.size)
        except ContractRevert as exc:
            if exc.name != "CheckpointNotFound":
                raise
            # The chain moved past this size by another anchor: drop the superseded row if the
            # chain's checkpoint is ours, else the chain disagrees.
            self.check_against_chain()
            with session_scope(self.engine) as s:
                stale = s.get(Anchor, row.id)
                if stale is not None and stale.state != "confirmed":
                    s.delete(stale)
            return None
        if cp.root != row.root:
            raise ChainDisagrees(
                f"the chain's {row.log_name} checkpoint at size {row.size} has root "
                f"0x{cp.root.hex()}, not ours (0x{row.root.hex()})",
                log=row.log_name,
            )
        if self.chain.head() - cp.block_number < self.policy.confirmations:
            return None
        mined = self.contract.anchoring_tx(log_id, row.size, cp.block_number)
        tx_hash = "0x" + mined.hex() if mined is not None else row.tx_hash
        with session_scope(self.engine) as s:
            fresh = s.get(Anchor, row.id)
            assert fresh is not None
            fresh.state = "confirmed"
            fresh.block_number = cp.block_number
            fresh.tx_hash = tx_hash
            fresh.updated_at = int(self.clock())
            s.add(fresh)
        log.info(
            "anchored %s checkpoint size %d in block %d", row.log_name, row.size, cp.block_number
        )
        return AnchoredCheckpoint(row.log_name, row.size, row.root, tx_hash, cp.block_number)


def latest_confirmed(engine: Engine, log_name: str) -> Anchor | None:
    """The newest confirmed checkpoint of a log, from the outbox."""
    with session_scope(engine, read_only=True) as s:
        return s.exec(
            select(Anchor)
            .where(Anchor.log_name == log_name, Anchor.state == "confirmed")
            .order_by(col(Anchor.size).desc())
        ).first()
