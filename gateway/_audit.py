"""The auditor's check that a gateway's logs are complete and unforked (DESIGN §2 guarantee 5).

Trusts neither the gateway nor its database: every checkpoint comes from the chain
(``CheckpointAnchored`` events of the log), every entry from the gateway's public log API; the
tree is recomputed from the entries alone. Findings name their place:

    withheld        the gateway serves fewer entries than the chain has anchored
    unavailable     the gateway failed to serve a range of entries
    mismatch        the served entries do not hash to a checkpoint anchored on chain; the first
                    entry that differs is located with the gateway's own inclusion proofs
    consistency     two consecutive checkpoints on chain are not consistent (cannot happen with
                    the CheckpointLog contract; checked anyway)
    index           the gateway's access index (what subjects' and auditors' traces are found
                    by) lacks a decision an access entry says, or holds one no entry says

Entries are served to a signed ``LogRequest`` only (formats §9.2): ``sign(action, start,
end)`` builds one with the auditor's key.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway._access_index import (
    IndexRow,
    compare_index,
    describe,
    fast_entry_rows,
    index_document,
)
from gateway.domain.canonical import parse_json
from gateway.domain.errors import CanonicalizationError
from gateway.domain.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from node import Checkpoint, CheckpointLogClient

PAGE = 10_000
"""Entries per request; the gateway serves at most gateway.store.MAX_ENTRIES_PER_READ."""

LogSigner = Callable[[str, int, int], dict[str, Any]]
"""``(action, start, end) -> body`` of a signed ``LogRequest`` (gateway.client)."""


@dataclass(frozen=True)
class AuditFinding:
    check: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.where}: {self.detail}"


@dataclass
class AuditReport:
    log: str
    entries: int = 0
    checkpoints: int = 0
    anchored_size: int = 0
    findings: list[AuditFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def chain_checkpoints(log_client: CheckpointLogClient, log_id: bytes) -> list[Checkpoint]:
    """Every checkpoint of the log, in order, straight from the contract's storage."""
    return log_client.checkpoints(log_id)


def verify_log(
    http: httpx.Client,
    base_url: str,
    log: str,
    checkpoints: list[Checkpoint],
    *,
    sign: LogSigner,
    index: bool = True,
    progress: Callable[[int], None] | None = None,
    page: int = PAGE,
) -> AuditReport:
    """Verify ``log`` against ``checkpoints``; with ``index`` (the access log only), also
    compare the gateway's access index with the entries."""
    report = AuditReport(log=log, checkpoints=len(checkpoints))
    where = f"{log} log"
    # the chain's checkpoints link up
    previous: Checkpoint | None = None
    for cp in checkpoints:
        if previous is not None and cp.size < previous.size:
            report.findings.append(
                AuditFinding(
                    "consistency", f"{where}@{cp.size}", "a checkpoint smaller than its predecessor"
                )
            )
        previous = cp
    anchored = checkpoints[-1].size if checkpoints else 0
    report.anchored_size = anchored

    head = http.get(f"{base_url}/v1/logs/{log}/checkpoint")
    head.raise_for_status()
    served_size = int(response_json(head)["size"])
    if served_size < anchored:
        report.findings.append(
            AuditFinding(
                "withheld",
                where,
                f"the gateway serves {served_size} entries but the chain anchors "
                f"{anchored}: entries [{served_size}, {anchored}) are withheld",
            )
        )

    tree = MemoryTree()

    with_index = index and log == "access"

    def fetch(start: int, end: int) -> httpx.Response:
        return http.post(
            f"{base_url}/v1/logs/{log}/entries",
            json=sign(f"entries/{log}", start, end),
            headers={"accept": "application/jsonl"},
        )

    def fetch_index(start: int, end: int) -> httpx.Response:
        return http.post(f"{base_url}/v1/logs/access/index", json=sign("index/access", start, end))

    # One page in flight while the previous one is hashed (the gateway encodes, we hash); its
    # entries and its index asked for at once (a gateway of several workers serves both).
    pages = [(a, min(a + page, served_size)) for a in range(0, served_size, page)]
    with ThreadPoolExecutor(max_workers=2) as pool:

        def ask(
            start: int, end: int
        ) -> tuple[Future[httpx.Response], Future[httpx.Response] | None]:
            index = pool.submit(fetch_index, start, end) if with_index else None
            return pool.submit(fetch, start, end), index

        pending = ask(*pages[0]) if pages else None
        for k, (start, end) in enumerate(pages):
            assert pending is not None
            r, ri = pending[0].result(), (None if pending[1] is None else pending[1].result())
            pending = ask(*pages[k + 1]) if k + 1 < len(pages) else None
            for what, resp in (("entries", r), ("index", ri)):
                if resp is not None and resp.status_code != 200:
                    detail = (
                        response_json(resp).get("detail", resp.text)
                        if resp.headers.get("content-type", "").endswith("json")
                        else resp.text
                    )
                    report.findings.append(
                        AuditFinding(
                            "unavailable",
                            f"{where}[{start}:{end}]",
                            f"the gateway could not serve these {what} "
                            f"(HTTP {resp.status_code}): {detail}",
                        )
                    )
                    return report
            entries = _lines(r)
            if len(entries) != end - start:
                report.findings.append(
                    AuditFinding(
                        "unavailable",
                        f"{where}[{start}:{end}]",
                        f"asked for {end - start} entries, got {len(entries)}",
                    )
                )
                return report
            tree.extend(leaf_hash(e) for e in entries)
            if ri is not None:
                report.findings += _index_findings(where, start, entries, ri.content)
            if progress is not None:
                progress(len(entries))
    report.entries = tree.size

    # every anchored checkpoint must be a prefix of the served log
    for k, cp in enumerate(checkpoints):
        if cp.size > tree.size:
            break  # reported as withheld above
        if tree.root(cp.size) != cp.root:
            lo = checkpoints[k - 1].size if k else 0
            report.findings.append(
                AuditFinding(
                    "mismatch",
                    f"{where}@{cp.size}",
                    f"the served entries do not hash to the root anchored at size {cp.size} "
                    f"(block {cp.block_number}); {_locate(http, base_url, log, tree, cp, lo)}",
                )
            )
            break
        if k and not verify_consistency(
            checkpoints[k - 1].size,
            cp.size,
            checkpoints[k - 1].root,
            cp.root,
            tree.consistency_proof(checkpoints[k - 1].size, cp.size),
        ):
            report.findings.append(
                AuditFinding(
                    "consistency",
                    f"{where}@{cp.size}",
                    "not consistent with the previous checkpoint",
                )
            )
    return report


def response_json(r: httpx.Response) -> Any:
    """A gateway answer's JSON, parsed strictly and depth-bounded (the gateway is what the
    auditor checks, so its answers are untrusted input); an answer that is not such JSON is
    an :class:`httpx.DecodingError`, as an undecodable body would be."""
    try:
        return parse_json(r.content)
    except CanonicalizationError as exc:
        message = f"the answer is not valid JSON: {exc}"
        raise httpx.DecodingError(message, request=r.request) from None


def _index_findings(
    where: str, start: int, entries: list[bytes], served: bytes
) -> list[AuditFinding]:
    """The gateway's index for a page (``{"rows": [...]}``) against the decisions its entries
    say: the same rows in the same order in the usual case; otherwise every difference, both
    ways."""
    want: list[IndexRow] = []
    unreadable: list[AuditFinding] = []
    for i, e in enumerate(entries, start):
        try:
            want += fast_entry_rows(i, e)
        except (KeyError, TypeError, ValueError):
            unreadable.append(AuditFinding("index", f"{where}[{i}]", "unreadable entry"))
    if not unreadable and index_document(want) == served:  # the usual case: byte-equal
        return []
    try:
        doc = parse_json(served)
        got: list[IndexRow] = [tuple(r) for r in doc["rows"]]  # type: ignore[index]
    except (CanonicalizationError, KeyError, TypeError):
        return [AuditFinding("index", f"{where}[{start}:]", "the index answer is not readable")]
    return unreadable + [
        AuditFinding("index", f"{where}[{row[0]}]", describe(kind, row))
        for kind, row in compare_index(want, got)
    ]


def _lines(r: httpx.Response) -> list[bytes]:
    """The entries of a page: one per line as stored (``application/jsonl``), or the JSON
    object form from a gateway that does not offer lines."""
    if r.headers.get("content-type", "").startswith("application/jsonl"):
        body = r.content
        if not body:
            return []
        return body.split(b"\n")[:-1] if body.endswith(b"\n") else body.split(b"\n")
    return [e.encode("utf-8") for e in response_json(r)["entries"]]


def _locate(
    http: httpx.Client, base_url: str, log: str, tree: MemoryTree, cp: Checkpoint, lo: int
) -> str:
    """Narrow the place down. The chain proves that entries [lo, size) differ from what was
    anchored; the gateway's own inclusion proofs (from its stored subtree hashes) hint where,
    but only as a hint: a thorough insider rewrites those hashes too."""
    where = f"entries [{lo}, {cp.size}) differ from what was anchored"
    for i in range(lo, cp.size):
        r = http.get(f"{base_url}/v1/logs/{log}/inclusion", params={"index": i, "size": cp.size})
        if r.status_code != 200:
            return f"{where}; the gateway cannot prove entry {i} (HTTP {r.status_code})"
        proof = [bytes.fromhex(p) for p in response_json(r)["proof"]]
        if not verify_inclusion(tree.levels[0][i], i, cp.size, proof, cp.root):
            return f"{where}; the gateway's own proofs first fail at entry {i}"
    return where
