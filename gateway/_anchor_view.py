"""The checkpoint the gateway serves (with proofs, in the subject and auditor views, at
``GET /v1/logs/{log}/checkpoint``), taken from the anchoring outbox only once the chain has
confirmed that very row: size, root, block and anchoring transaction (issue 9, insider tamper).

An ``anchor`` row the chain does not hold is never served: :class:`ChainDisagrees` (503). Rows
already checked are remembered by their content, so a chain lookup happens once per anchor.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from gateway._anchor import latest_confirmed
from gateway.errors import ChainDisagrees
from gateway.store import Anchor
from node import ContractRevert

if TYPE_CHECKING:
    from gateway._service import Gateway

__all__ = ["served_anchor"]

_Key = tuple[str, int, bytes, int | None, str | None]
_SEEN: weakref.WeakKeyDictionary[Gateway, set[_Key]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_KEEP = 256


def served_anchor(gw: Gateway, log_name: str) -> Anchor | None:
    """The newest confirmed anchor row of ``log_name``, as the chain holds it (None: none)."""
    row = latest_confirmed(gw.engine, log_name)
    if row is None:
        return None
    key: _Key = (log_name, row.size, bytes(row.root), row.block_number, row.tx_hash)
    with _LOCK:
        seen = _SEEN.setdefault(gw, set())
        if key in seen:
            return row
    if not _on_chain(gw, row):
        raise ChainDisagrees(
            f"the {log_name} log's confirmed anchor row for size {row.size} is not a checkpoint "
            "the chain holds (root, block or transaction differ): the anchor table was altered",
            log=log_name,
        )
    with _LOCK:
        if len(seen) >= _KEEP:
            seen.clear()
        seen.add(key)
    return row


def _on_chain(gw: Gateway, row: Anchor) -> bool:
    client = gw.deployment.checkpoint_log(gw.chain)
    log_id = gw.log_ids[row.log_name]
    try:
        cp = client.for_size(log_id, row.size)
    except ContractRevert:
        return False
    if cp.root != bytes(row.root) or cp.block_number != row.block_number:
        return False
    mined = client.anchoring_tx(log_id, row.size, cp.block_number)
    return mined is None or "0x" + mined.hex() == str(row.tx_hash or "").lower()
