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

import hashlib
import re
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway._access_index import (
    IndexRow,
    compare_index,
    describe,
    entry_rows,
    index_document,
    parse_entry,
)
from gateway.domain.canonical import parse_json
from gateway.domain.errors import CanonicalizationError
from gateway.domain.merkle import MemoryTree, verify_consistency, verify_inclusion
from node import Checkpoint, CheckpointLogClient

PAGE = 8_192
"""Entries per request (a power of two: each page's leaves fold into whole subtrees); the
gateway serves at most gateway.store.MAX_ENTRIES_PER_READ."""

AHEAD = 3
"""Pages asked for before the oldest is hashed (a gateway of two workers keeps both busy)."""

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

    # ``AHEAD`` pages in flight while the oldest is hashed (the gateway's workers encode, we
    # hash); a page's entries and its index asked for at once. Pages are checked in order and
    # the first one that cannot be served ends the check, as if they came one by one.
    pages = [(a, min(a + page, served_size)) for a in range(0, served_size, page)]
    inflight: deque[tuple[int, int, Future[httpx.Response], Future[httpx.Response] | None]]
    inflight = deque()
    with ThreadPoolExecutor(max_workers=AHEAD * (2 if with_index else 1)) as pool:
        queued = iter(pages)

        def ask() -> None:
            for start, end in queued:
                ri = pool.submit(fetch_index, start, end) if with_index else None
                inflight.append((start, end, pool.submit(fetch, start, end), ri))
                return

        for _ in range(AHEAD):
            ask()
        try:
            while inflight:
                start, end, fr, fi = inflight.popleft()
                r, ri = fr.result(), (None if fi is None else fi.result())
                ask()
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
                extend_tree(tree, leaf_hashes(entries))
                if ri is not None:
                    report.findings += _index_findings(where, start, entries, ri.content)
                if progress is not None:
                    progress(len(entries))
        finally:
            for *_, fr, fi in inflight:
                fr.cancel()
                if fi is not None:
                    fi.cancel()
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


def leaf_hashes(entries: list[bytes]) -> list[bytes]:
    """RFC 9162 leaf hashes SHA-256(0x00 || entry) of a page, in one comprehension."""
    sha = hashlib.sha256
    return [sha(b"\x00" + e).digest() for e in entries]


def extend_tree(tree: MemoryTree, leaves: list[bytes]) -> None:
    """Append ``leaves`` (leaf hashes) to ``tree`` level by level: every interior node the new
    leaves complete is hashed in one comprehension per level — the same ``tree.levels`` as
    appending them one by one, without a Python loop step per node."""
    sha = hashlib.sha256
    levels = tree.levels
    levels[0].extend(leaves)
    level = 0
    while True:
        below = levels[level]
        if level + 1 == len(levels):
            if len(below) < 2:
                return
            levels.append([])
        above = levels[level + 1]
        first = 2 * len(above)
        if len(below) - first < 2:
            return
        above.extend(
            [
                sha(b"\x01" + below[i] + below[i + 1]).digest()
                for i in range(first, len(below) - 1, 2)
            ]
        )
        level += 1


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
    if expected_index_document(start, entries) == served:  # the usual case: byte-equal
        return []
    want: list[IndexRow] = []
    unreadable: list[AuditFinding] = []
    for i, e in enumerate(entries, start):
        try:
            want += page_entry_rows(i, e)
        except (KeyError, TypeError, ValueError, AttributeError):  # not an access entry's shape
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


_N = rb"(?:0|[1-9][0-9]{0,18})"
_H64 = rb"[0-9a-f]{64}"
_WORDS = rb'\[(?:"[a-z0-9_]+"(?:,"[a-z0-9_]+")*)?\]'
_DECISION = (
    rb'\{"allowed":(true|false),"basis":(?:null|"([a-z_]+)"),"fields":' + _WORDS + rb","
    rb'"grant":(?:null|"(0x' + _H64 + rb')"),"reason":"([a-z_-]+)","record":"(' + _H64 + rb')"\}'
)
_DECISION_RE = re.compile(_DECISION)
_NO_GROUPS = re.compile(rb"\((?!\?)")
_ENTRY_RE = re.compile(
    rb'\{"block":' + _N + rb',"categories":' + _WORDS + rb","
    rb'"clock":\{"block":' + _N + rb',"gateway":' + _N + rb"\},"
    rb'"decided_at":(' + _N + rb'),"decision":"(allow|deny)",'
    rb'"decisions":\[((?:'
    + _NO_GROUPS.sub(b"(?:", _DECISION)
    + rb"(?:,"
    + _NO_GROUPS.sub(b"(?:", _DECISION)
    + rb")*)?)\],"
    rb'"grant":(?:null|"(0x' + _H64 + rb')"),"kind":"access","policy":' + _N + rb","
    rb'"purpose":"([a-z0-9_]+)","reason":"([a-z_-]+)","record":(?:null|"(' + _H64 + rb')"),'
    rb'"requester":"(0x[0-9a-fA-F]{64})",'
    rb'"sig":\{"nonce":"0x' + _H64 + rb'","scheme":"[a-z0-9-]+","signed_at":' + _N + rb","
    rb'"type":"[A-Za-z]+","value":"0x[0-9a-f]{130}"\},'
    rb'"subject_digest":(?:null|"' + _H64 + rb'"),"subject_salt":"[0-9a-f]{32}",'
    rb'"subject_tag":"(' + _H64 + rb')","v":2\}'
)


def _text(b: bytes | None) -> str | None:
    return None if b is None else b.decode()


def page_entry_rows(index: int, raw: bytes) -> list[IndexRow]:
    """:func:`gateway._access_index.entry_rows` of a stored entry: one regular-expression
    match when the entry has the exact shape the gateway writes for a v2 access entry (a
    strict grammar: every value of a known form, so the match is the JSON's only reading),
    else the entry parsed whole (None or a shape error when it is no access entry)."""
    m = _ENTRY_RE.fullmatch(raw)
    if m is None:
        doc = parse_entry(raw)
        return [] if doc is None else entry_rows(index, doc)
    at_, decision, decisions, grant_, purpose_, reason_, record_, requester_, tag_ = m.groups()
    at, purpose = int(at_), purpose_.decode()
    requester, tag = requester_.decode().lower(), tag_.decode()
    if not decisions:  # no record decided: the request's own row
        allow = decision == b"allow"
        reason = "no-records" if allow else reason_.decode()
        return [
            (
                index,
                requester,
                tag,
                _text(record_),
                purpose,
                decision.decode(),
                reason,
                None,
                _text(grant_),
                at,
            )
        ]
    return [
        (
            index,
            requester,
            tag,
            record.decode(),
            purpose,
            "allow" if allowed == b"true" else "deny",
            reason.decode(),
            _text(basis),
            _text(grant),
            at,
        )
        for allowed, basis, grant, reason, record in (
            d.groups() for d in _DECISION_RE.finditer(decisions)
        )
    ]


def _json_text(value: bytes | None) -> bytes:
    return b"null" if value is None else b'"' + value + b'"'


def expected_index_document(start: int, entries: list[bytes]) -> bytes | None:
    """:func:`gateway._access_index.index_document` of the rows the page's entries say,
    written straight from the matched bytes (no row tuples, no JSON encoder) when every entry
    has the gateway's exact shape (:data:`_ENTRY_RE`: its strings need no escaping); None
    otherwise (then the rows are built one by one)."""
    rows: list[bytes] = []
    match, decisions_of = _ENTRY_RE.fullmatch, _DECISION_RE.finditer
    for i, raw in enumerate(entries, start):
        m = match(raw)
        if m is None:
            return None
        at, decision, decisions, grant, purpose, reason, record, requester, tag = m.groups()
        head = b'[%d,"%s","%s",' % (i, requester.lower(), tag)
        tail = b",%d]" % int(at)
        if not decisions:  # no record decided: the request's own row
            allow = decision == b"allow"
            rows.append(
                head
                + b'%s,"%s","%s","%s",null,%s'
                % (
                    _json_text(record),
                    purpose,
                    decision,
                    b"no-records" if allow else reason,
                    _json_text(grant),
                )
                + tail
            )
            continue
        for d in decisions_of(decisions):
            allowed, basis, d_grant, d_reason, d_record = d.groups()
            rows.append(
                head
                + b'"%s","%s","%s","%s",%s,%s'
                % (
                    d_record,
                    purpose,
                    b"allow" if allowed == b"true" else b"deny",
                    d_reason,
                    _json_text(basis),
                    _json_text(d_grant),
                )
                + tail
            )
    return b'{"rows":[' + b",".join(rows) + b"]}"


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
