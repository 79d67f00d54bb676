"""`check` over the outbox tables (issue 9, insider tamper): ``anchor``, ``submission`` (request
nonces) and the relay columns of ``status_change``, against the logs and the chain.

    anchor-row   a ``confirmed`` anchor row is a checkpoint the chain holds (size, root,
                 block, and the anchoring transaction where the chain can tell); the newest
                 confirmed row of a log is the chain's latest checkpoint; a ``prepared`` /
                 ``sent`` row's root is the log's root at its size
    nonce-reuse  two access-log entries carry the same signer and nonce, or two records-log
                 leaves the same (org, nonce, batch index): a request was replayed
    nonce-row    a logged request's nonce has no ``submission`` row (it could be replayed), or
                 a records submission's ``request_digest`` is not the one its leaves give
    relay-row    a ``confirmed`` status change RecordStatus does not hold (or whose tx_hash is
                 not the transaction that made it), or a ``pending`` / ``failed`` one the chain
                 already holds

The checks read rows and log entries only; the chain's facts come in through
:class:`OutboxChain` (the integrity check reads them before the rows, except the relay events,
read after them so that a change the relay confirms meanwhile is on both sides).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa

from gateway.store import DbLog, StoreError
from node import Checkpoint, CheckpointLogClient, ContractRevert, RecordStatusClient

__all__ = [
    "OutboxChain",
    "check_anchor_rows",
    "check_nonces",
    "check_relay_rows",
    "outbox_chain",
]


@dataclass(frozen=True)
class OutboxChain:
    """What the outbox checks ask the chain.

    ``checkpoint_at(log, size)``: the chain's checkpoint of that size (None: none), for rows
    beyond the checkpoints read before; ``anchor_tx(log, size, block)``: the ``0x`` hash of the
    transaction that anchored it (None: the chain cannot tell); ``status_txs()``: every
    RecordStatus change, ``(record id hex, version after) -> (0x tx hash, to status)``."""

    checkpoint_at: Callable[[str, int], Checkpoint | None]
    anchor_tx: Callable[[str, int, int], str | None]
    status_txs: Callable[[], Mapping[tuple[str, int], tuple[str, str]]] | None


def outbox_chain(
    checkpoint_log: CheckpointLogClient,
    log_ids: Mapping[str, bytes],
    record_status: RecordStatusClient | None,
) -> OutboxChain:
    """The chain's side of the outbox checks, from the gateway's contracts (``record_status``
    None: a manifest without RecordStatus, the relay rows are not checked)."""

    def checkpoint_at(name: str, size: int) -> Checkpoint | None:
        try:
            return checkpoint_log.for_size(log_ids[name], size)
        except ContractRevert:
            return None

    def anchor_tx(name: str, size: int, block: int) -> str | None:
        mined = checkpoint_log.anchoring_tx(log_ids[name], size, block)
        return None if mined is None else "0x" + mined.hex()

    def status_txs() -> dict[tuple[str, int], tuple[str, str]]:
        assert record_status is not None
        return {
            (ev["record_id"].hex(), ev["version"]): (
                "0x" + ev["transaction_hash"].hex(),
                ev["to"].name.lower(),
            )
            for ev in record_status.status_changes(0, "latest")
        }

    return OutboxChain(checkpoint_at, anchor_tx, status_txs if record_status else None)


class _Finding(NamedTuple):
    """(check, where, detail): :class:`gateway._integrity.Finding`'s fields."""

    check: str
    where: str
    detail: str


def _rows(conn: sa.Connection, sql: str, **params: object) -> Iterator[Any]:
    yield from conn.execution_options(stream_results=True).execute(sa.text(sql), params)


# ---------------------------------------------------------------------------------------------
# anchor


def check_anchor_rows(
    conn: sa.Connection, checkpoints: Mapping[str, Sequence[Checkpoint]], chain: OutboxChain
) -> list[_Finding]:
    out: list[_Finding] = []
    newest: dict[str, int] = {}
    open_sizes: dict[str, set[int]] = {}
    for aid, name, size, root, state, tx_hash, block in _rows(
        conn,
        "SELECT id, log_name, size, root, state, tx_hash, block_number FROM anchor "
        "ORDER BY log_name, size",
    ):
        where, size, root = f"anchor {aid} ({name}@{size})", int(size), bytes(root)
        if name not in checkpoints:
            out.append(_Finding("anchor-row", where, f"no log named {name!r}"))
            continue
        if state != "confirmed":
            open_sizes.setdefault(name, set()).add(size)
            problem = _log_root_problem(conn, name, size, root)
            if problem:
                out.append(_Finding("anchor-row", where, problem))
            continue
        newest[name] = max(newest.get(name, 0), size)
        cp = next((c for c in checkpoints[name] if c.size == size), None)
        if cp is None:
            cp = chain.checkpoint_at(name, size)
        if cp is None:
            out.append(
                _Finding("anchor-row", where, "confirmed, but the chain holds no such checkpoint")
            )
            continue
        if cp.root != root:
            out.append(_Finding("anchor-row", where, "root differs from the chain's checkpoint"))
        if block is None or int(block) != cp.block_number:
            out.append(
                _Finding(
                    "anchor-row",
                    where,
                    f"block_number {block}, the chain's checkpoint is in block {cp.block_number}",
                )
            )
        mined = chain.anchor_tx(name, size, cp.block_number)
        if mined is not None and str(tx_hash or "").lower() != mined.lower():
            out.append(
                _Finding("anchor-row", where, "tx_hash is not the transaction that anchored it")
            )
    for name, cps in checkpoints.items():
        if not cps:
            continue
        latest = max(c.size for c in cps)
        if newest.get(name, 0) < latest and latest not in open_sizes.get(name, set()):
            out.append(
                _Finding(
                    "anchor-row",
                    name,
                    f"the chain's latest checkpoint is size {latest}, the newest confirmed row "
                    f"size {newest.get(name, 0)}: a confirmed row was removed or altered",
                )
            )
    return out


def _log_root_problem(conn: sa.Connection, name: str, size: int, root: bytes) -> str | None:
    try:
        log = DbLog(conn, name)
        have = log.size() if log.exists() else 0
        if not 0 < size <= have:
            return f"size {size} is not a size of the log (it holds {have})"
        if log.root(size) != root:
            return "root is not the log's root at that size"
    except StoreError as exc:
        return f"the log's root at that size cannot be computed: {exc}"
    return None


# ---------------------------------------------------------------------------------------------
# submission (request nonces)


def _nonce_rows(conn: sa.Connection) -> dict[tuple[str, str], bytes]:
    return {
        (str(org).lower(), str(nonce).lower()): bytes(digest)
        for org, nonce, digest in _rows(
            conn, "SELECT org_id, nonce, request_digest FROM submission"
        )
    }


def check_nonces(conn: sa.Connection) -> list[_Finding]:
    out: list[_Finding] = []
    claimed = _nonce_rows(conn)

    # the access log: one entry per signed request
    seen: dict[tuple[str, str], int] = {}
    for idx, entry in _rows(
        conn, "SELECT idx, entry FROM log_entry WHERE log_name = 'access' ORDER BY idx"
    ):
        try:
            doc = json.loads(bytes(entry))
            key = (str(doc["requester"]).lower(), str(doc["sig"]["nonce"]).lower())
        except (ValueError, KeyError, TypeError):
            continue  # entry-hash / anchored-root speak for the log itself
        where = f"access[{idx}]"
        if key in seen:
            out.append(
                _Finding(
                    "nonce-reuse",
                    where,
                    f"same signer and nonce as access[{seen[key]}]: a replayed request",
                )
            )
            continue
        seen[key] = int(idx)
        if key not in claimed:
            out.append(
                _Finding(
                    "nonce-row",
                    where,
                    f"no submission row for nonce {key[1]} of {key[0]}: it could be replayed",
                )
            )

    # the records log: one leaf per record of a signed submission
    groups: dict[tuple[str, str], dict[int, tuple[int, str, str, bytes, int]]] = {}
    for idx, entry in _rows(
        conn, "SELECT idx, entry FROM log_entry WHERE log_name = 'records' ORDER BY idx"
    ):
        try:
            doc = json.loads(bytes(entry))
            if doc.get("kind") != "record":
                continue
            sig = doc["sig"]
            key = (str(doc["org"]).lower(), str(sig["nonce"]).lower())
            batch = sig.get("batch") or {"index": 0, "count": 1}
            at, count = int(batch["index"]), int(batch["count"])
            part = (int(idx), str(sig["type"]), str(sig["value"]), bytes.fromhex(doc["commitment"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        group = groups.setdefault(key, {})
        if at in group:
            out.append(
                _Finding(
                    "nonce-reuse",
                    f"records[{idx}]",
                    f"same org, nonce and batch index as records[{group[at][0]}]",
                )
            )
            continue
        group[at] = (*part, count)
    for key, group in groups.items():
        first = min(p[0] for p in group.values())
        where = f"records[{first}]"
        if key not in claimed:
            out.append(
                _Finding(
                    "nonce-row",
                    where,
                    f"no submission row for nonce {key[1]} of {key[0]}: it could be replayed",
                )
            )
            continue
        parts = [group[i] for i in sorted(group)]
        if len(parts) != parts[0][4]:
            continue  # part of the batch was known already (idempotent records): not knowable
        _, sig_type, value, _, _ = parts[0]
        try:
            h = hashlib.sha256(sig_type.encode() + b"\x00" + bytes.fromhex(value[2:]))
        except ValueError:
            continue
        for p in parts:
            h.update(p[3])
        if h.digest() != claimed[key]:
            out.append(
                _Finding(
                    "nonce-row",
                    where,
                    f"request_digest of nonce {key[1]} of {key[0]} is not its leaves' request",
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# status_change relay columns


def check_relay_rows(
    conn: sa.Connection,
    chain_state: Callable[[str], tuple[str, int] | None],
    chain: OutboxChain,
) -> list[_Finding]:
    out: list[_Finding] = []
    status_txs = chain.status_txs
    if status_txs is None:
        return out
    rows = conn.execute(
        sa.text("SELECT id, record_id, version, to_status, state, tx_hash FROM status_change")
    ).all()
    events: Mapping[tuple[str, int], tuple[str, str]] | None = None
    for sid, rid, version, to, state, tx_hash in rows:
        where, after = f"status_change {sid}", int(version) + 1
        if state == "confirmed":
            if events is None:
                events = status_txs()  # read after the rows
            held = events.get((str(rid), after))
            if held is None:
                out.append(
                    _Finding(
                        "relay-row",
                        where,
                        f"confirmed, but RecordStatus never moved record {rid} to version {after}",
                    )
                )
            elif held[1] != to:
                out.append(
                    _Finding("relay-row", where, f"RecordStatus moved it to {held[1]!r}, not {to}")
                )
            elif tx_hash is not None and str(tx_hash).lower() != held[0].lower():
                out.append(
                    _Finding("relay-row", where, "tx_hash is not the transaction that made it")
                )
        else:
            now = chain_state(str(rid))
            if now is not None and now[1] >= after:
                out.append(
                    _Finding(
                        "relay-row",
                        where,
                        f"{state}, but RecordStatus already holds version {after} of record "
                        f"{rid} (edited, or a relay stopped between its transaction and its "
                        "row: the next relay pass confirms it)",
                    )
                )
    return out
