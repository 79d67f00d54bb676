"""Crash test (DESIGN §2, guarantee 8 "Nothing lost"): SIGKILL the gateway again and again during
a 2,000-record ingest, restart it each time, then prove with means independent of the gateway
that every receipt handed out is in the log and anchored exactly once, and that no
unacknowledged record is half-present.

Everything is real: `creditchain serve --dev` processes (each with its own anvil child, which
the kernel SIGTERMs when serve dies, so it dumps its state), SQLite on disk, HTTP through
:class:`gateway.client.DepartmentClient`.

How the crashes are placed. A seeded schedule (``CREDITCHAIN_CRASH_SEED`` replays one; the seed
is printed) decides how each start of the gateway ends. Most are killed at a random moment once
the ingest has passed that start's milestone (milestones spread evenly over the 2,000 records,
jittered): requests are in flight, the anchoring worker prepares, sends or settles a
checkpoint. Some are killed the instant a submission commits (the test watches the SQLite file),
racing the gateway's answer. Some are killed during start-up, a random moment after their anvil
came up (the chain loading, the outbox being reconciled with the chain). The departments may
not run more than one batch past the next milestone, so the last record is acknowledged only by
the final, never-killed start: every kill lands during the ingest.

Two department threads submit in batches of 1-50. A request that fails in transport is
unacknowledged: its records are sent again later, with a new nonce and new salts, half the time
merged with the next batch — the gateway must answer the original receipt for a record it did
store (idempotency by content) and store the others. After each kill the database file is read
directly: records, log entries, leaves and log size must agree (nothing half-written).

At the end: every receipt's leaf is at its index in the log; the log holds exactly the 2,000
records; each submission row is all of its records; the chain's ``CheckpointAnchored`` events
anchor strictly increasing sizes (none twice) whose roots match the log; every receipt's proof
bundle verifies with :func:`gateway.verify.verify_bundle` against the chain alone; and
``creditchain check`` finds the store intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import subprocess
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway._devnet import load_consortium
from gateway.client import ClientError, DepartmentClient
from gateway.domain.identifiers import make_uscc
from gateway.domain.merkle import MemoryTree
from gateway.domain.records import log_id
from gateway.verify import (
    Anchor,
    NodeChainView,
    RecordLifecycle,
    trust_root_from,
    verify_bundle,
)
from node import Deployment, connect
from tests.e2e._gateway_proc import CLI, GatewayProcess, fixed_port
from tests.samples import sample_fields

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

RECORDS = 2000
KILLS = 20
"""Every one lands during the ingest (see :class:`Pacer`)."""
STARTUP_KILLS = 3
"""Of which this many kill a gateway that is still starting (never the first start)..."""
COMMIT_KILLS = 4
"""...and this many kill it the instant a submission commits, racing its answer."""
MAX_BATCH = 50
DEFAULT_SEED = 20260808
CATEGORY = {"tax": "tax_credit_rating", "market": "admin_penalty"}


# -- the records ---------------------------------------------------------------------------


def make_record(n: int, slug: str, org_id: str, rng: random.Random) -> dict[str, Any]:
    """Record number ``n``: distinct from every other by its subject and its fields."""
    category = CATEGORY[slug]
    fields = sample_fields(category)
    if category == "tax_credit_rating":
        fields["rating"] = rng.choice(["A", "B", "M", "C", "D"])
        fields["score"] = rng.randrange(0, 1001) / 10
        fields["evaluation_year"] = rng.randrange(2015, 2026)
    else:
        fields["decision_no"] = f"榆市监罚〔2026〕{n}号"
        fields["fine_amount_fen"] = rng.randrange(1, 10**9)
    return {
        "catalog": "2026.1",
        "category": category,
        "org": org_id,
        "subject": {"kind": "uscc", "id": make_uscc(f"91610800MA{n:07d}")},
        "fields": fields,
    }


# -- pacing: milestones spread the kills over the whole ingest -----------------------------


class Pacer:
    """Caps how many records may be acknowledged (or be on their way) before the next kill.

    Running kill ``i`` waits until ``milestone[i]`` records are acknowledged; until then the
    departments may reserve records up to ``milestone[i] + MAX_BATCH`` (always room for one more
    batch, so the milestone is reached). Every cap stays below the total, so the last record is
    acknowledged only by the final, never-killed start: every kill lands during the ingest, and
    the kills are spread over the whole of it."""

    def __init__(self) -> None:
        self.cap: int | None = 0
        self.reserved = 0
        self.acked = 0
        self.up = False
        self.stop = False
        self.cond = threading.Condition()

    def new_start(self, cap: int | None) -> None:
        with self.cond:
            self.cap, self.up = cap, True
            self.cond.notify_all()

    def down(self) -> None:
        with self.cond:
            self.up = False

    def halt(self) -> None:
        with self.cond:
            self.stop = True
            self.cond.notify_all()

    def take(self, n: int) -> bool:
        """Wait until the gateway is up and ``n`` more records fit under the cap. False when
        told to stop."""
        with self.cond:
            while not self.stop:
                if self.up and (self.cap is None or self.reserved + n <= self.cap):
                    self.reserved += n
                    return True
                self.cond.wait(0.5)
            return False

    def done(self, n: int, *, acknowledged: bool) -> None:
        with self.cond:
            if acknowledged:
                self.acked += n
            else:
                self.reserved -= n  # to be sent again
            self.cond.notify_all()

    def wait_acked(self, target: int, timeout: float) -> None:
        with self.cond:
            deadline = time.monotonic() + timeout
            while self.acked < target and not self.stop:
                assert time.monotonic() < deadline, f"stuck at {self.acked} < {target} records"
                self.cond.wait(0.5)

    def wait_up(self) -> bool:
        with self.cond:
            while not self.stop and not self.up:
                self.cond.wait(0.5)
            return not self.stop


# -- the departments ------------------------------------------------------------------------


@dataclass
class Attempt:
    slug: str
    nonce: str
    records: list[int]
    outcome: str = "pending"  # acknowledged | transport | server | refused
    status: int | None = None
    detail: str = ""


@dataclass
class Ledger:
    """What the departments saw, shared by their threads."""

    receipts: dict[int, dict[str, Any]] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    inflight: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)


class RecordingRng:
    """Seeded randomness for salts and nonces that remembers its last draw: ``build`` draws the
    nonce last, so after a submission :attr:`last` is that request's nonce."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self.last = b""

    def __call__(self, n: int) -> bytes:
        self.last = self._rng.randbytes(n)
        return self.last


def department(
    slug: str,
    client: DepartmentClient,
    rng_bytes: RecordingRng,
    records: dict[int, dict[str, Any]],
    numbers: list[int],
    rng: random.Random,
    pacer: Pacer,
    ledger: Ledger,
) -> None:
    batches: deque[list[int]] = deque()
    i = 0
    while i < len(numbers):
        size = rng.randint(1, MAX_BATCH)
        batches.append(numbers[i : i + size])
        i += size
    while batches:
        batch = batches.popleft()
        if not pacer.take(len(batch)):
            return
        time.sleep(rng.uniform(0, 0.05))
        with ledger.lock:
            ledger.inflight.add(slug)
        try:
            receipts = client.submit([records[n] for n in batch])
        except (httpx.TransportError, ClientError) as exc:
            attempt = Attempt(slug, "0x" + rng_bytes.last.hex(), batch)
            if isinstance(exc, ClientError) and exc.status < 500:
                attempt.outcome, attempt.status, attempt.detail = "refused", exc.status, str(exc)
                with ledger.lock:
                    ledger.attempts.append(attempt)
                    ledger.failures.append(f"{slug}: refused: {exc}")
                    ledger.inflight.discard(slug)
                pacer.halt()
                return
            pacer.done(len(batch), acknowledged=False)
            attempt.outcome = "transport" if isinstance(exc, httpx.TransportError) else "server"
            attempt.status = getattr(exc, "status", None)
            attempt.detail = f"{type(exc).__name__}: {exc}"[:300]
            with ledger.lock:
                ledger.attempts.append(attempt)
                ledger.inflight.discard(slug)
            # Unacknowledged: send these records again, with a new nonce and new salts; half
            # the time together with the next batch (a mix of maybe-stored and new records).
            if batches and rng.random() < 0.5:
                batch = batch + batches.popleft()
            batches.appendleft(batch)
            if attempt.outcome == "server":
                time.sleep(0.2)
            pacer.wait_up()
            continue
        pacer.done(len(batch), acknowledged=True)
        attempt = Attempt(slug, "0x" + rng_bytes.last.hex(), batch, "acknowledged", 200)
        with ledger.lock:
            ledger.attempts.append(attempt)
            ledger.inflight.discard(slug)
            for n, receipt in zip(batch, receipts, strict=True):
                if n in ledger.receipts and ledger.receipts[n] != receipt:
                    ledger.failures.append(f"record {n}: two different receipts")
                ledger.receipts[n] = receipt


# -- inspection without the gateway ---------------------------------------------------------


def db_connect(data_dir: Path) -> contextlib.closing[sqlite3.Connection]:
    """The gateway's SQLite file, read-only, closed when the block ends."""
    return contextlib.closing(
        sqlite3.connect(f"file:{data_dir / 'gateway.db'}?mode=ro", uri=True, timeout=30)
    )


def db_state(data_dir: Path) -> dict[str, Any]:
    """The database right after a kill, read directly: the records log and the record rows
    must agree exactly (a submission is one transaction: all of it or none of it), and the
    anchoring outbox rows not yet confirmed, by state."""
    with db_connect(data_dir) as db:

        def one(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0])

        state = {
            "records": one("SELECT count(*) FROM record"),
            "entries": one("SELECT count(*) FROM log_entry WHERE log_name = 'records'"),
            "max_index": one(
                "SELECT coalesce(max(idx), -1) FROM log_entry WHERE log_name = 'records'"
            ),
            "head": one("SELECT coalesce(max(size), 0) FROM log_head WHERE log_name = 'records'"),
            "leaves": one("SELECT count(*) FROM log_node WHERE log_name = 'records' AND level = 0"),
            "linked": one(
                "SELECT count(*) FROM record r JOIN log_entry e ON e.log_name = 'records'"
                " AND e.idx = r.log_index AND lower(hex(e.leaf_hash)) = r.record_id"
                " JOIN submission s ON s.id = r.submission_id"
            ),
        }
        outbox = Counter(
            r[0]
            for r in db.execute(
                "SELECT state FROM anchor WHERE log_name = 'records' AND state != 'confirmed'"
            )
        )
    n = state["records"]
    assert state == {
        "records": n,
        "entries": n,
        "max_index": n - 1,
        "head": n,
        "leaves": n,
        "linked": n,
    }, f"half-present after a kill: {state}"
    return {"log": n, "outbox": dict(outbox)}


def wait_for_commit(data_dir: Path, timeout: float) -> bool:
    """Return as soon as a new submission is committed (polling the database file directly),
    or False after ``timeout``: a kill right then races the gateway's answer."""
    with db_connect(data_dir) as db:
        (base,) = db.execute("SELECT coalesce(max(id), 0) FROM submission").fetchone()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            (now,) = db.execute("SELECT coalesce(max(id), 0) FROM submission").fetchone()
            if now > base:
                return True
            time.sleep(0.0005)
        return False


class CachedChainView:
    """:class:`NodeChainView` with its answers memoised: what the chain says about a key epoch
    or an anchored size does not change, and 2,000 bundles share a few hundred of them."""

    def __init__(self, view: NodeChainView) -> None:
        self.view = view
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _memo(self, key: tuple[Any, ...], fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def keys_at(self, org_id: bytes, timestamp: int) -> str | None:
        return self._memo(("k", org_id, timestamp), lambda: self.view.keys_at(org_id, timestamp))  # type: ignore[no-any-return]

    def checkpoint_root(self, log: bytes, size: int) -> bytes | None:
        return self._memo(("c", log, size), lambda: self.view.checkpoint_root(log, size))  # type: ignore[no-any-return]

    def anchor(self, log: bytes, size: int) -> Anchor | None:
        return self._memo(("a", log, size), lambda: self.view.anchor(log, size))  # type: ignore[no-any-return]

    def record_status(self, record_id: bytes) -> RecordLifecycle:
        return self.view.record_status(record_id)


def seed() -> int:
    return int(os.environ.get("CREDITCHAIN_CRASH_SEED", DEFAULT_SEED))


# -- the test -------------------------------------------------------------------------------


def test_sigkill_during_ingest_loses_nothing(tmp_path: Path) -> None:
    the_seed = seed()
    rng = random.Random(the_seed)
    print(f"\ncrash test seed {the_seed} (replay with CREDITCHAIN_CRASH_SEED={the_seed})")
    t_start = time.monotonic()

    # The schedule: how each start of the gateway ends. Start 0 deploys and bootstraps the
    # chain (not killed during start-up); start KILLS is the final one, never killed.
    startup = set(rng.sample(range(1, KILLS), STARTUP_KILLS))
    commit = set(rng.sample(sorted(set(range(KILLS)) - startup), COMMIT_KILLS))
    step = RECORDS / (KILLS - STARTUP_KILLS + 1)
    plan: list[tuple[str, float, int]] = []  # (kind, delay, milestone)
    for j in range(KILLS):
        if j in startup:
            plan.append(("startup", rng.uniform(0.0, 3.0), 0))
            continue
        i = sum(1 for kind, _, _ in plan if kind != "startup") + 1
        milestone = round(i * step + rng.uniform(-0.25, 0.25) * step)
        plan.append(("commit" if j in commit else "running", rng.uniform(0.0, 0.4), milestone))
    caps = [m + MAX_BATCH if kind != "startup" else 0 for kind, _, m in plan]
    assert max(caps) < RECORDS
    pacer = Pacer()

    data = tmp_path / "data"
    port = fixed_port()
    chain_port = next(p for p in iter(fixed_port, None) if p != port)
    gw = GatewayProcess(
        data,
        port,
        chain_port,
        ("--max-merge-delay", "4", "--anchor-every", "100"),
        log_path=tmp_path / "serve.log",
    )
    ledger = Ledger()
    kills: list[dict[str, Any]] = []
    threads: list[threading.Thread] = []
    https: list[httpx.Client] = []
    try:
        gw.spawn()
        gw.wait_healthy(timeout=180)

        orgs = load_consortium(data)
        deployment = Deployment.load(data / "chain" / "deployment.json")
        records: dict[int, dict[str, Any]] = {}
        numbers: dict[str, list[int]] = {"tax": [], "market": []}
        for n in range(RECORDS):
            slug = "tax" if n % 2 == 0 else "market"
            records[n] = make_record(n, slug, orgs[slug].org_id, rng)
            numbers[slug].append(n)
        for k, slug in enumerate(("tax", "market")):
            rb = RecordingRng(rng.getrandbits(64))
            http_client = httpx.Client(timeout=60.0)
            https.append(http_client)
            client = DepartmentClient(
                gw.url,
                orgs[slug].account(),
                bytes.fromhex(orgs[slug].org_id[2:]),
                chain_id=deployment.chain_id,
                membership=deployment.address("Membership"),
                http=http_client,
                rng=rb,
            )
            t = threading.Thread(
                target=department,
                args=(
                    slug,
                    client,
                    rb,
                    records,
                    numbers[slug],
                    random.Random(the_seed + k),
                    pacer,
                    ledger,
                ),
                name=f"dept-{slug}",
                daemon=True,
            )
            threads.append(t)

        pacer.new_start(caps[0])
        for t in threads:
            t.start()

        for j, (kind, delay, milestone) in enumerate(plan):
            info: dict[str, Any] = {"start": j, "kind": kind, "delay": round(delay, 2)}
            if kind == "running":  # a random moment after the milestone
                pacer.wait_acked(milestone, timeout=120)
                time.sleep(delay)
            elif kind == "commit":  # the instant a submission commits, near the milestone
                pacer.wait_acked(milestone - MAX_BATCH, timeout=120)
                info["after_commit"] = wait_for_commit(data, timeout=3.0)
            else:  # the gateway is starting: kill it once its anvil is up, plus the delay
                deadline = time.monotonic() + 120
                while not gw.track_anvil() and time.monotonic() < deadline:
                    assert gw.proc is not None
                    assert gw.proc.poll() is None, gw.log_tail()
                    time.sleep(0.01)
                time.sleep(delay)
            pacer.down()
            with ledger.lock:
                info["inflight"] = len(ledger.inflight)
                info["acked"] = len(ledger.receipts)
            assert gw.proc is not None
            assert gw.proc.poll() is None, f"gateway died on its own: {gw.log_tail()}"
            info.update(gw.kill())
            info.update(db_state(data))
            kills.append(info)
            assert info["acked"] < RECORDS, "the ingest finished before every kill"
            gw.spawn()
            if j + 1 < KILLS and plan[j + 1][0] == "startup":
                continue
            info["restart_s"] = round(gw.wait_healthy(timeout=180), 2)
            pacer.new_start(caps[j + 1] if j + 1 < KILLS else None)

        for t in threads:
            t.join(timeout=180)
        assert not any(t.is_alive() for t in threads), "the departments did not finish"
        assert not ledger.failures, ledger.failures
        server_errors = [a for a in ledger.attempts if a.outcome == "server"]
        assert not server_errors, [(a.status, a.detail) for a in server_errors]
        t_ingest = time.monotonic() - t_start
        assert sorted(ledger.receipts) == list(range(RECORDS))

        # ---- everything acknowledged: wait for the anchor covering the whole log ----------
        http = httpx.Client(base_url=gw.url, timeout=60.0)
        https.append(http)
        deadline = time.monotonic() + 120
        while True:
            cp = http.get("/v1/logs/records/checkpoint").json()
            if cp["anchored"] is not None and cp["anchored"]["size"] == cp["size"]:
                break
            assert time.monotonic() < deadline, f"not anchored: {cp}; {gw.log_tail()}"
            time.sleep(0.25)
        size = cp["size"]

        # ---- 1. every receipt's leaf is at its index in the log ----------------------------
        leaves: list[str] = []
        for start in range(0, size, 1000):
            page = http.get(
                "/v1/logs/records/leaves", params={"start": start, "end": min(size, start + 1000)}
            )
            assert page.status_code == 200, page.text
            leaves += page.json()["leaves"]
        assert len(leaves) == size
        by_leaf = {receipt["leaf_hash"]: n for n, receipt in ledger.receipts.items()}
        assert len(by_leaf) == RECORDS, "two records share a receipt"
        for n, receipt in ledger.receipts.items():
            assert leaves[receipt["index"]] == receipt["leaf_hash"], (n, receipt)
        # ---- 2. the log holds exactly the acknowledged records, nothing else ----------------
        assert size == RECORDS == len(set(leaves)), (size, len(set(leaves)))

        # ---- 3. anchored exactly once: the chain's CheckpointAnchored events --------------
        gateway_org = bytes.fromhex(json.loads((data / "gateway.json").read_text())["org_id"][2:])
        records_log = log_id(gateway_org, "records")
        chain = connect(json.loads((data / "chain" / "node.json").read_text())["url"])
        deployment.check(chain)
        contract = deployment.checkpoint_log(chain)
        events = [
            ev
            for ev in contract.contract.events.CheckpointAnchored().get_logs(
                from_block=deployment.deploy_block
            )
            if bytes(ev["args"]["logId"]) == records_log
        ]
        events.sort(key=lambda ev: (ev["blockNumber"], ev["logIndex"]))
        sizes = [int(ev["args"]["size"]) for ev in events]
        assert sizes == sorted(set(sizes)), f"a size anchored twice or out of order: {sizes}"
        assert sizes[-1] == size
        tree = MemoryTree(bytes.fromhex(h) for h in leaves)
        for ev in events:
            assert bytes(ev["args"]["root"]) == tree.root(int(ev["args"]["size"]))
        on_chain = contract.checkpoints(records_log)
        assert [c.size for c in on_chain] == sizes

        # ---- 4. the database, opened directly ---------------------------------------------
        with db_connect(data) as db:
            (n_records,) = db.execute("SELECT count(*) FROM record").fetchone()
            (n_entries,) = db.execute(
                "SELECT count(*) FROM log_entry WHERE log_name = 'records'"
            ).fetchone()
            (head,) = db.execute("SELECT size FROM log_head WHERE log_name = 'records'").fetchone()
            rows = db.execute(
                "SELECT record_id, log_index, submission_id, receipt FROM record"
            ).fetchall()
            subs = db.execute("SELECT id, org_id, nonce FROM submission").fetchall()
            anchors = db.execute(
                "SELECT size, state, tx_hash, block_number FROM anchor WHERE log_name = 'records'"
                " ORDER BY size"
            ).fetchall()
        assert n_records == n_entries == head == size == len(by_leaf)
        stored = {rid: (idx, sub, json.loads(receipt)) for rid, idx, sub, receipt in rows}
        for n, receipt in ledger.receipts.items():
            idx, _, kept = stored[receipt["leaf_hash"]]
            assert idx == receipt["index"], n
            assert kept == receipt, n
        # Each submission is all or nothing: a submission row means all its records are
        # there, and each record belongs to the first submission that carried it.
        attempts = {(a.slug, a.nonce.lower()): a for a in ledger.attempts}
        org_slug = {orgs[s].org_id.lower(): s for s in CATEGORY}
        sub_attempt: dict[int, Attempt] = {}
        for sid, org, nonce in subs:
            attempt = attempts.get((org_slug[org.lower()], nonce.lower()))
            assert attempt is not None, f"submission {sid} ({nonce}) was never sent"
            sub_attempt[sid] = attempt
        first_carrier: dict[int, int] = {}
        for sid in sorted(sub_attempt):
            for n in sub_attempt[sid].records:
                first_carrier.setdefault(n, sid)
        for n, receipt in ledger.receipts.items():
            assert stored[receipt["leaf_hash"]][1] == first_carrier[n], n
        acked = [a for a in ledger.attempts if a.outcome == "acknowledged"]
        stored_nonces = {(a.slug, a.nonce.lower()) for a in sub_attempt.values()}
        assert all((a.slug, a.nonce.lower()) in stored_nonces for a in acked)
        lost_answers = [
            a
            for a in ledger.attempts
            if a.outcome != "acknowledged" and (a.slug, a.nonce.lower()) in stored_nonces
        ]
        assert [a for a in anchors if a[1] != "confirmed"] == []
        tx_of = {
            int(ev["args"]["size"]): "0x" + bytes(ev["transactionHash"]).hex() for ev in events
        }
        assert [(a[0], a[2]) for a in anchors] == sorted(tx_of.items())

        # ---- 5. every receipt's proof bundle verifies offline, without the gateway ---------
        view = CachedChainView(NodeChainView(chain, deployment))
        trusted = trust_root_from(deployment)
        t_verify = time.monotonic()

        def fetch(n: int) -> httpx.Response:
            return http.get(f"/v1/records/{ledger.receipts[n]['leaf_hash']}/proof")

        with ThreadPoolExecutor(4) as pool:  # fetching overlaps verifying
            fetched = pool.map(fetch, range(RECORDS))
            for n, r in zip(range(RECORDS), fetched, strict=True):
                receipt = ledger.receipts[n]
                assert r.status_code == 200, (n, r.status_code, r.text[:300])
                bundle = r.json()
                assert bundle["receipt"] == receipt
                assert bundle["log"]["index"] == receipt["index"]
                verify_bundle(bundle, view, trusted=trusted)
        t_verify = time.monotonic() - t_verify

        # ---- 6. the integrity scan --------------------------------------------------------
        check = subprocess.run(
            [CLI, "check", "--data-dir", str(data), "--dev", "--json"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert json.loads(check.stdout)["intact"] is True

        serve_log = (tmp_path / "serve.log").read_text(errors="replace")
        outcomes = Counter(a.outcome for a in ledger.attempts)
        print("kills:")
        for info in kills:
            print("  ", info)
        print(
            f"crash test seed {the_seed}: kills {len(kills)} "
            f"(during start-up {sum(k['kind'] == 'startup' for k in kills)}, "
            f"just after a commit {sum(bool(k.get('after_commit')) for k in kills)}, "
            f"with a request in flight {sum(k['inflight'] > 0 for k in kills)}, "
            f"with an unconfirmed anchor {sum(bool(k['outbox']) for k in kills)}: "
            f"prepared {sum('prepared' in k['outbox'] for k in kills)}, "
            f"sent {sum('sent' in k['outbox'] for k in kills)}), "
            f"restarts {gw.starts - 1}, receipts {len(ledger.receipts)}, "
            f"requests {len(ledger.attempts)} ({dict(outcomes)}; committed but unanswered "
            f"{len(lost_answers)}), anchors {len(sizes)}, "
            f"re-anchored {serve_log.count('is not on chain any more')}, "
            f"resent {serve_log.count('was dropped; sending again')}, "
            f"anvils ended by hand {sum(k['anvil_by_hand'] for k in kills)}, "
            f"ingest {t_ingest:.0f}s, verify {t_verify:.0f}s, "
            f"elapsed {time.monotonic() - t_start:.0f}s"
        )
    finally:
        pacer.halt()
        gw.close()
        for t in threads:
            t.join(timeout=10)
        for h in https:
            h.close()
