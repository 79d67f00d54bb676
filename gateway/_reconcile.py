"""Both sides of cross-city reads audited (issue 10 item 4; docs/formats.md §13.5).

``creditchain audit reconcile --city B`` compares this city's (A's) access log with city B's:

* every ``forward`` entry at A naming B (and every one at B naming A) must have its
  ``cross_city`` access entry at the partner, with the same request hash, at the index and
  leaf hash of the partner receipt it names (a forward that *failed* before B answered needs
  none);
* every ``cross_city`` access entry at B that came from A (and at A from B) must have its
  ``forward`` entry at the home side.

Each side's entries are fetched from its gateway (an auditor-signed ``LogRequest``) and proven
against that log's checkpoints anchored on chain: the served entries must hash to every
anchored root. Findings name their side, index and request hash; nothing personal is printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from gateway._audit import PAGE, LogSigner, _lines, response_json
from gateway.domain.merkle import MemoryTree, leaf_hash
from node import Checkpoint

__all__ = ["Finding", "ReconcileReport", "Side", "fetch_side", "reconcile"]


@dataclass
class Side:
    """One city's access log as its gateway served it, proven against the chain."""

    city: int
    gateway: str
    url: str
    entries: list[bytes] = field(default_factory=list)
    anchored_size: int = 0
    proven: bool = False
    problem: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "city": self.city,
            "gateway": self.gateway,
            "url": self.url,
            "entries": len(self.entries),
            "anchored_size": self.anchored_size,
            "proven": self.proven,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Finding:
    check: str
    """``missing-at-partner`` | ``missing-at-home`` | ``receipt-mismatch`` | ``unproven``"""
    city: int
    """The city whose log holds the entry the finding is about."""
    index: int | None
    request_hash: str | None
    detail: str

    def __str__(self) -> str:
        at = f"city {self.city}" + ("" if self.index is None else f" access[{self.index}]")
        return f"{self.check}: {at}: {self.detail}"


@dataclass
class ReconcileReport:
    home: Side
    partner: Side
    matched: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "home": self.home.summary(),
            "partner": self.partner.summary(),
            "matched": self.matched,
            "findings": [asdict(f) for f in self.findings],
        }


def fetch_side(
    http: httpx.Client,
    city: int,
    gateway: bytes,
    url: str,
    checkpoints: list[Checkpoint],
    sign: LogSigner,
    *,
    page: int = PAGE,
) -> Side:
    """Every entry of the gateway's access log, and whether they hash to every anchored
    checkpoint of it (``checkpoints``, read from the chain)."""
    side = Side(city, "0x" + gateway.hex(), url.rstrip("/"))
    base = side.url
    head = http.get(f"{base}/v1/logs/access/checkpoint")
    head.raise_for_status()
    size = int(response_json(head)["size"])
    anchored = checkpoints[-1].size if checkpoints else 0
    side.anchored_size = anchored
    tree = MemoryTree()
    for start in range(0, size, page):
        end = min(start + page, size)
        r = http.post(
            f"{base}/v1/logs/access/entries",
            json=sign("entries/access", start, end),
            headers={"accept": "application/jsonl"},
        )
        if r.status_code != 200:
            side.problem = f"the gateway could not serve entries [{start}, {end}) ({r.status_code})"
            return side
        got = _lines(r)
        if len(got) != end - start:
            side.problem = f"asked for entries [{start}, {end}), got {len(got)}"
            return side
        side.entries.extend(got)
        tree.extend(leaf_hash(e) for e in got)
    if size < anchored:
        side.problem = f"the gateway serves {size} entries, the chain anchors {anchored}"
        return side
    bad = [cp.size for cp in checkpoints if tree.root(cp.size) != cp.root]
    if bad:
        side.problem = f"the served entries do not hash to the root anchored at size {bad[0]}"
        return side
    side.proven = True
    return side


def _docs(side: Side) -> Iterable[tuple[int, dict[str, Any]]]:
    for i, raw in enumerate(side.entries):
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        if isinstance(doc, dict):
            yield i, doc


def _in_range(doc: dict[str, Any], start: int | None, end: int | None) -> bool:
    at = doc.get("decided_at")
    if not isinstance(at, int):
        return True
    return (start is None or at >= start) and (end is None or at < end)


def _direction(
    report: ReconcileReport,
    home: Side,
    partner: Side,
    in_range: Callable[[dict[str, Any]], bool],
) -> None:
    """Forwards from ``home`` to ``partner`` against ``partner``'s cross-city entries."""
    arrived: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, doc in _docs(partner):
        cc = doc.get("cross_city")
        if doc.get("kind") != "access" or not isinstance(cc, dict):
            continue
        from_home = cc.get("from_city") == home.city or doc.get("requester") == home.gateway
        if from_home and isinstance(cc.get("request_hash"), str):
            arrived.setdefault(cc["request_hash"], (i, doc))
    sent: set[str] = set()
    for i, doc in _docs(home):
        if doc.get("kind") != "forward" or doc.get("target_city") != partner.city:
            continue
        rhash = doc.get("request_hash")
        if not isinstance(rhash, str):
            continue
        sent.add(rhash)
        if not in_range(doc):
            continue
        there = arrived.get(rhash)
        receipt = doc.get("partner_receipt")
        if there is None:
            if doc.get("outcome") == "failed" and receipt is None:
                continue  # the partner never answered: nothing is owed there
            report.findings.append(
                Finding(
                    "missing-at-partner",
                    home.city,
                    i,
                    rhash,
                    f"forwarded to city {partner.city} ({doc.get('outcome')}), but city "
                    f"{partner.city}'s access log has no entry for this request",
                )
            )
            continue
        if isinstance(receipt, dict):
            index = receipt.get("index")
            ok = (
                isinstance(index, int)
                and 0 <= index < len(partner.entries)
                and leaf_hash(partner.entries[index]).hex() == receipt.get("leaf_hash")
            )
            if not ok:
                report.findings.append(
                    Finding(
                        "receipt-mismatch",
                        partner.city,
                        index if isinstance(index, int) else None,
                        rhash,
                        f"city {partner.city}'s receipt names access[{index}], which does not "
                        "hold that leaf",
                    )
                )
                continue
        report.matched += 1
    for rhash, (i, doc) in sorted(arrived.items(), key=lambda kv: kv[1][0]):
        if rhash not in sent and in_range(doc):
            report.findings.append(
                Finding(
                    "missing-at-home",
                    partner.city,
                    i,
                    rhash,
                    f"a read from city {home.city} ({doc.get('decision')}), but city "
                    f"{home.city}'s access log has no forward of this request",
                )
            )


def reconcile(
    home: Side, partner: Side, *, start: int | None = None, end: int | None = None
) -> ReconcileReport:
    """Both directions between two cities' access logs (``start``/``end``: decided_at
    bounds, Unix seconds, end exclusive)."""
    report = ReconcileReport(home, partner)
    for side in (home, partner):
        if not side.proven:
            report.findings.append(
                Finding(
                    "unproven",
                    side.city,
                    None,
                    None,
                    side.problem or "the served log is not the anchored one",
                )
            )

    def in_range(doc: dict[str, Any]) -> bool:
        return _in_range(doc, start, end)

    _direction(report, home, partner, in_range)
    _direction(report, partner, home, in_range)
    return report
