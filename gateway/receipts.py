"""Receipt holders' tool (the SCT check of Certificate Transparency): keep every receipt a
gateway signed for you, and once its ``anchor_by`` has passed, check against the chain that its
index holds its leaf.

    store = ReceiptStore(Path("~/.local/share/creditchain/receipts").expanduser())
    client = DepartmentClient(url, account, org, ..., receipt_store=store)   # keeps each one
    for check in verify_receipts(store.load(), chain=chain, deployment=deployment):
        print(check.status, check.detail)

Each receipt is one of:

``ok``            the leaf at its index, proven against the newest checkpoint anchored on
                  chain, is the receipt's leaf;
``pending``       ``anchor_by`` has not passed yet;
``overdue``       ``anchor_by`` has passed and no checkpoint on chain covers the index: the
                  gateway broke its promise (or the chain is far behind);
``contradicted``  the chain's checkpoint covers the index and the gateway proves *another*
                  leaf there: the entry behind this signed receipt was dropped or replaced;
``unproven``      the gateway could not prove any leaf at that index against the chain's
                  checkpoint (it answers garbage or not at all).

The store is one JSON line per receipt in ``<dir>/receipts.jsonl`` (``{"url", "receipt"}``),
appended with ``O_APPEND`` (mode 0600).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.domain.merkle import verify_inclusion
from gateway.domain.records import log_id as make_log_id
from node import Chain, Checkpoint, Deployment

STORE_FILE = "receipts.jsonl"
LOG_NAMES = ("records", "access")
STATUSES = ("ok", "pending", "overdue", "contradicted", "unproven")
FAILED = frozenset({"overdue", "contradicted", "unproven"})


@dataclass(frozen=True)
class StoredReceipt:
    url: str
    """The gateway base URL that answered with the receipt."""
    receipt: Mapping[str, Any]


class ReceiptStore:
    """Every receipt kept, one JSON line each, in ``<directory>/receipts.jsonl``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STORE_FILE

    def add(self, url: str, receipts: Iterable[Mapping[str, Any]]) -> None:
        lines = "".join(
            json.dumps({"url": url, "receipt": dict(r)}, sort_keys=True) + "\n" for r in receipts
        )
        if not lines:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, lines.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def load(self) -> list[StoredReceipt]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        out = []
        seen: set[tuple[str, int, str]] = set()
        for line in text.splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            receipt = doc["receipt"]
            key = (str(receipt["log_id"]), int(receipt["index"]), str(receipt["leaf_hash"]))
            if key in seen:  # the same receipt served again (an idempotent retry)
                continue
            seen.add(key)
            out.append(StoredReceipt(str(doc["url"]), receipt))
        return out

    def __iter__(self) -> Iterator[StoredReceipt]:
        return iter(self.load())


@dataclass(frozen=True)
class ReceiptCheck:
    status: str
    log: str
    index: int
    leaf_hash: str
    anchor_by: int
    detail: str
    url: str

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "log": self.log,
            "index": self.index,
            "leaf_hash": self.leaf_hash,
            "anchor_by": self.anchor_by,
            "detail": self.detail,
            "url": self.url,
        }


@dataclass(frozen=True)
class _Verdict:
    index: int
    leaf_hash: str
    anchor_by: int
    url: str

    def __call__(self, status: str, detail: str, name: str = "?") -> ReceiptCheck:
        return ReceiptCheck(
            status, name, self.index, self.leaf_hash, self.anchor_by, detail, self.url
        )


def _hex(value: object) -> bytes:
    return bytes.fromhex(str(value).removeprefix("0x"))


def verify_receipts(
    receipts: Iterable[StoredReceipt],
    *,
    chain: Chain,
    deployment: Deployment,
    http: httpx.Client | None = None,
    now: Callable[[], float] = time.time,
) -> list[ReceiptCheck]:
    """Check each receipt whose ``anchor_by`` has passed against the newest checkpoint of its
    log on chain (module docstring). The gateway is asked only for public log data (an entry
    and inclusion proofs); the verdict rests on the chain's checkpoint."""
    own = http is None
    client = http or httpx.Client(timeout=60)
    log_client = deployment.checkpoint_log(chain)
    latest: dict[bytes, Checkpoint | None] = {}
    out = []
    try:
        for stored in receipts:
            r = stored.receipt
            lid = _hex(r["log_id"])
            gateway_org = _hex(r["gateway"])
            names = [n for n in LOG_NAMES if make_log_id(gateway_org, n) == lid]
            index, leaf, anchor_by = int(r["index"]), _hex(r["leaf_hash"]), int(r["anchor_by"])

            check = _Verdict(index, str(r["leaf_hash"]), anchor_by, stored.url)

            if not names:
                out.append(check("unproven", f"log id 0x{lid.hex()} is not one of the gateway's"))
                continue
            name = names[0]
            if now() < anchor_by:
                out.append(check("pending", f"anchor_by {anchor_by} has not passed", name))
                continue
            if lid not in latest:
                latest[lid] = log_client.latest(lid)
            cp = latest[lid]
            if cp is None or cp.size <= index:
                anchored = cp.size if cp else 0
                out.append(
                    check(
                        "overdue",
                        f"anchor_by {anchor_by} has passed but the chain anchors only "
                        f"{anchored} entries of the {name} log",
                        name,
                    )
                )
                continue
            out.append(_against(client, stored.url, name, index, leaf, cp, check))
    finally:
        if own:
            client.close()
    return out


def _against(
    http: httpx.Client,
    url: str,
    name: str,
    index: int,
    leaf: bytes,
    cp: Checkpoint,
    check: _Verdict,
) -> ReceiptCheck:
    base = f"{url.rstrip('/')}/v1/logs/{name}"
    try:
        got = http.get(f"{base}/inclusion", params={"index": index, "size": cp.size})
        got.raise_for_status()
        proof = [bytes.fromhex(p) for p in got.json()["proof"]]
        if verify_inclusion(leaf, index, cp.size, proof, cp.root):
            return check("ok", f"included at index {index} under the chain's size {cp.size}", name)
        leaves = http.get(f"{base}/leaves", params={"start": index, "end": index + 1})
        leaves.raise_for_status()  # leaf hashes are public; entries are not (formats §9.2)
        served = bytes.fromhex(leaves.json()["leaves"][0])
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        return check("unproven", f"the gateway gave no usable proof: {exc}", name)
    if served != leaf and verify_inclusion(served, index, cp.size, proof, cp.root):
        return check(
            "contradicted",
            f"index {index} of the {name} log holds leaf 0x{served.hex()} under the chain's "
            f"checkpoint (size {cp.size}), not this receipt's",
            name,
        )
    return check(
        "unproven", f"no leaf at index {index} proves against the chain's checkpoint", name
    )
