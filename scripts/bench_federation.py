#!/usr/bin/env python3
"""Cross-city read latency and throughput over loopback against a real two-city network
(`creditchain network up`: one anvil, one `serve --dev` gateway per city), with a local read
at the partner city measured in the same run, interleaved, as the baseline.

    python scripts/bench_federation.py [--requesters 20] [--reads 1000] [--subjects 100]
                                       [--consent 10] [--rounds 3] [--profile 40] [--json]

The partner city B (Yulin) holds one tax-credit record for each of ``--subjects`` companies;
its credit office grants the home city A's (Lanzhou's) bank and its own bank a statutory
grant for every subject, and a consent grant for each of the first ``--consent`` subjects
(reads of those subjects name the consent grant). Each round, ``--requesters`` threads (each
with its own keep-alive connections) share one queue of ``2 × --reads`` pre-signed requests
that alternates (a) a local read at B by B's bank (``POST /v1/reads`` at B) and (b) a
cross-city read A → B by A's bank (``POST /v1/federation/reads`` at A, forwarded to B, the
answer sealed by B to the bank's X25519 key). Every answer is checked after its latency is
taken: the record's fields are the subject's own, a cross-city answer opens with the bank's
key and carries B's access receipt and A's forward receipt; an answer that fails is counted
and reported, never timed. The figures per kind (p50, p99, and reads/s: the kind's correct
answers over the round's wall time, both kinds running together) are medians over the
rounds; the bar (issue 10): cross-city p99 <= 2 x local p99. Exits 1 when the bar is missed
or an answer failed.

``--profile N`` then splits one cross-city read's time, sequentially (one requester, medians
of N): the local read at B; the partner's part alone (B's ``/v1/federation/forward``, signed
here with A's development gateway key); the whole cross-city read; HPKE seal and open of the
same payload in this process; and one chain look-up through web3 (the forward path makes
uncached Membership/Directory calls on both gateways). Everything started is stopped, and
the network's directory removed, even on error.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway._devnet import DevOrg, load_consortium
from gateway._federation import FORWARD_TYPE, request_hash
from gateway._keys import _account
from gateway._network import down, parse_cities, up
from gateway.client import DepartmentClient, ReaderClient
from gateway.domain.canonical import canonicalize, parse_json
from gateway.domain.catalog import load_catalog
from gateway.domain.identifiers import make_uscc, parse_subject_id, subject_commitment
from gateway.domain.records import hex0x
from gateway.domain.sealed import open_sealed, seal_to
from gateway.domain.signing import fast_typed_signer, signing_domain
from gateway.federated_client import CrossCityReader, open_answer
from node import ChainPaths, Deployment, GrantBasis, GrantParams, connect, free_port, purpose_id
from tests.samples import sample_fields

_ROOT = Path(__file__).resolve().parent.parent
HOME, PARTNER = "lanzhou", "yulin"
CATS = ["tax_credit_rating"]
PURPOSE = "loan_approval"
BAR = 2.0  # cross-city p99 / local p99
DAY = 86_400
_JSON = {"content-type": "application/json"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _org(org: DevOrg) -> bytes:
    return bytes.fromhex(org.org_id[2:])


def _score(i: int) -> float:
    """Each subject's own score, to check an answer is that subject's record."""
    return round(50 + (i % 500) / 10, 1)


class Net:
    """The running two-city network and everything a requester needs."""

    def __init__(self, root: Path, args: argparse.Namespace) -> None:
        self.root = root
        t0 = time.perf_counter()
        state = up(
            root,
            parse_cities([HOME, PARTNER]),
            port_base=free_port(),
            chain_port=free_port(),
            max_merge_delay=args.max_merge_delay,
        )
        self.up_s = time.perf_counter() - t0
        self.urls = {s: c.url for s, c in state.cities.items()}
        self.codes = {s: c.code for s, c in state.cities.items()}
        self.gateways = {s: c.gateway_org for s, c in state.cities.items()}
        self.deployment = Deployment.load(ChainPaths(root).manifest)
        self.chain = connect(state.chain_url)
        self.orgs = {c: load_consortium(root / c) for c in (HOME, PARTNER)}
        self.pepper = bytes.fromhex((root / PARTNER / "keys" / "pepper").read_text().split()[0])
        self.catalog = load_catalog()
        self.mask = self.catalog.category_mask(CATS)
        self.common: dict[str, Any] = {
            "chain_id": self.deployment.chain_id,
            "membership": self.deployment.address("Membership"),
        }
        self.x25519 = bytes.fromhex(
            (root / HOME / "keys" / "orgs" / "bank.x25519").read_text().strip()
        )

    def populate(self, n: int, consent: int) -> None:
        """B's records for ``n`` subjects; statutory grants to both banks, consent grants to
        both for the first ``consent`` subjects."""
        t0 = time.perf_counter()
        tax = self.orgs[PARTNER]["tax"]
        self.subjects = [{"kind": "uscc", "id": make_uscc(f"91610800MA{i:07d}")} for i in range(n)]
        records = []
        for i, s in enumerate(self.subjects):
            fields = sample_fields("tax_credit_rating")
            fields["score"] = _score(i)
            records.append(
                {
                    "catalog": self.catalog.version,
                    "category": "tax_credit_rating",
                    "org": tax.org_id,
                    "subject": s,
                    "fields": fields,
                }
            )
        with DepartmentClient(self.urls[PARTNER], tax.account(), _org(tax), **self.common) as d:
            for start in range(0, n, 100):
                d.submit(records[start : start + 100])
        grants = self.deployment.grants(self.chain)
        office = self.orgs[PARTNER]["credit-office"].account()
        now = int(self.chain.w3.eth.get_block("latest")["timestamp"])

        def grant(grantee: DevOrg, subject: bytes, basis: GrantBasis) -> bytes:
            params = GrantParams(
                subject=subject,
                grantee=_org(grantee),
                purpose=purpose_id(PURPOSE),
                categories=self.mask,
                valid_from=now - DAY,
                valid_until=now + 30 * DAY,
                basis=basis,
                evidence_hash=os.urandom(32),
            )
            nonce = os.urandom(32)
            grants.create_grant(office, params, nonce)
            return params.grant_id(nonce)

        # per requester kind: the grant each subject's read names
        self.grant_ids: dict[str, list[bytes]] = {}
        for kind, bank in (
            ("local", self.orgs[PARTNER]["bank"]),
            ("cross", self.orgs[HOME]["bank"]),
        ):
            statute = grant(bank, b"\x00" * 32, GrantBasis.STATUTORY)
            ids = [statute] * n
            for i in range(min(consent, n)):
                sid = parse_subject_id(self.subjects[i]["id"], kind="uscc")
                ids[i] = grant(bank, subject_commitment(self.pepper, sid), GrantBasis.CONSENT)
            self.grant_ids[kind] = ids
        time.sleep(1.0)
        self.populate_s = time.perf_counter() - t0

    def local_reader(self) -> ReaderClient:
        bank = self.orgs[PARTNER]["bank"]
        return ReaderClient(self.urls[PARTNER], bank.account(), _org(bank), **self.common)

    def cross_reader(self) -> CrossCityReader:
        bank = self.orgs[HOME]["bank"]
        return CrossCityReader(
            self.urls[HOME], bank.account(), _org(bank), self.x25519, **self.common
        )


class Job:
    __slots__ = ("body", "doc", "kind", "subject")

    def __init__(self, kind: str, doc: dict[str, Any], subject: int) -> None:
        self.kind, self.doc, self.subject = kind, doc, subject
        self.body = json.dumps(doc).encode()


def build_jobs(net: Net, reads: int, offset: int) -> list[Job]:
    """``reads`` local and ``reads`` cross-city signed requests, alternating."""
    local, cross = net.local_reader(), net.cross_reader()
    n = len(net.subjects)
    jobs: list[Job] = []
    for k in range(reads):
        i = (offset + k) % n
        common = {
            "purpose": PURPOSE,
            "categories": CATS,
            "category_mask": net.mask,
            "subject": net.subjects[i],
        }
        jobs.append(Job("local", local.build(**common, grant_id=net.grant_ids["local"][i]), i))
        jobs.append(
            Job(
                "cross",
                cross.build(
                    **common, target_city=net.codes[PARTNER], grant_id=net.grant_ids["cross"][i]
                ),
                i,
            )
        )
    local.close()
    cross.close()
    return jobs


def check(net: Net, job: Job, status: int, raw: bytes) -> str | None:
    """None if the answer is a correct allow for the job's subject; else what is wrong."""
    if status != 200:
        try:
            return f"{status} {parse_json(raw).get('reason') or parse_json(raw).get('type')}"
        except Exception:  # noqa: BLE001 - any body: the status says it
            return f"{status}"
    answer = parse_json(raw)
    if not isinstance(answer, dict):
        return "not an object"
    if job.kind == "cross":
        try:
            records = open_answer(answer, job.doc, net.x25519)
        except Exception as exc:  # noqa: BLE001 - counted as a failed answer
            return f"cannot open: {type(exc).__name__}"
        if (answer.get("access_receipt") or {}).get("gateway") != net.gateways[PARTNER]:
            return "access receipt not the partner's"
        if (answer.get("forward_receipt") or {}).get("gateway") != net.gateways[HOME]:
            return "forward receipt not the home gateway's"
    else:
        records = answer.get("records")
        if not isinstance(answer.get("access_receipt"), dict):
            return "no access receipt"
    if not isinstance(records, list) or len(records) != 1:
        return f"{len(records) if isinstance(records, list) else 'no'} records"
    record = records[0]
    if record.get("category") != "tax_credit_rating":
        return "wrong category"
    if (record.get("fields") or {}).get("score") != _score(job.subject):
        return "another subject's record"
    return None


def run_round(net: Net, jobs: list[Job], requesters: int) -> dict[str, Any]:
    """``requesters`` threads share ``jobs`` (closed loop)."""
    queue = list(reversed(jobs))
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {"local": [], "cross": []}
    failures: dict[str, dict[str, int]] = {"local": {}, "cross": {}}
    ports = {
        "local": int(net.urls[PARTNER].rsplit(":", 1)[1]),
        "cross": int(net.urls[HOME].rsplit(":", 1)[1]),
    }
    paths = {"local": "/v1/reads", "cross": "/v1/federation/reads"}
    errors: list[BaseException] = []
    resent = {"local": 0, "cross": 0}

    def requester() -> None:
        conns = {
            k: http.client.HTTPConnection("127.0.0.1", p, timeout=60) for k, p in ports.items()
        }
        try:
            while True:
                with lock:
                    if not queue:
                        break
                    job = queue.pop()
                conn = conns[job.kind]
                t = time.perf_counter()
                for attempt in (1, 2):
                    try:
                        conn.request("POST", paths[job.kind], body=job.body, headers=_JSON)
                        response = conn.getresponse()
                        raw = response.read()
                        status = response.status
                        break
                    except (OSError, http.client.HTTPException) as exc:
                        # the server closes a keep-alive connection idle for 5 s (uvicorn):
                        # send once more on a new one, as any HTTP client would; timed
                        conn.close()
                        status, raw = 0, type(exc).__name__.encode()
                        with lock:
                            resent[job.kind] += attempt == 1
                elapsed = time.perf_counter() - t
                wrong = check(net, job, status, raw) if status else raw.decode()
                with lock:
                    if wrong is None:
                        latencies[job.kind].append(elapsed)
                    else:
                        failures[job.kind][wrong] = failures[job.kind].get(wrong, 0) + 1
        except BaseException as exc:  # noqa: BLE001 - reported by the round
            errors.append(exc)
        finally:
            for c in conns.values():
                c.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=requester) for _ in range(requesters)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    out: dict[str, Any] = {"wall_s": round(wall, 2)}
    for kind, values in latencies.items():
        out[kind] = {
            "ok": len(values),
            "failed": sum(failures[kind].values()),
            "failures": failures[kind],
            "p50_ms": round(pct(values, 0.5) * 1000, 2) if values else None,
            "p99_ms": round(pct(values, 0.99) * 1000, 2) if values else None,
            "max_ms": round(max(values) * 1000, 2) if values else None,
            "reads_per_s": round(len(values) / wall, 1),
            "resent_on_new_connection": resent[kind],
        }
    lp, cp = out["local"]["p99_ms"], out["cross"]["p99_ms"]
    out["cross_p99_over_local_p99"] = round(cp / lp, 2) if lp and cp else None
    return out


def _median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 3)


def profile(net: Net, n: int) -> dict[str, Any]:
    """Where one cross-city read's time goes: sequential medians of ``n`` (ms)."""
    jobs = build_jobs(net, n, 0)
    local = [j for j in jobs if j.kind == "local"]
    cross = [j for j in jobs if j.kind == "cross"]
    forwards = [j for j in build_jobs(net, n, 1) if j.kind == "cross"]
    home_signer = _account(net.root / HOME / "keys", "gateway-signer", dev=True)
    domain = signing_domain(net.deployment.chain_id, net.deployment.address("Membership"))
    sign = fast_typed_signer(home_signer.key, domain)

    def forward_body(job: Job) -> bytes:
        rhash = request_hash(job.doc)
        now, nonce = int(time.time()), os.urandom(32)
        message = {
            "fromGateway": bytes.fromhex(net.gateways[HOME][2:]),
            "toCity": net.codes[PARTNER],
            "requestHash": rhash,
            "forwardedAt": now,
            "nonce": nonce,
        }
        return json.dumps(
            {
                "request": job.doc,
                "from_gateway": net.gateways[HOME],
                "to_city": net.codes[PARTNER],
                "request_hash": hex0x(rhash),
                "forwarded_at": now,
                "nonce": hex0x(nonce),
                "signature": hex0x(sign(FORWARD_TYPE, message)),
            }
        ).encode()

    def timed(port: int, path: str, bodies: list[bytes]) -> tuple[list[float], list[bytes]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        times, answers = [], []
        for body in bodies:
            t = time.perf_counter()
            conn.request("POST", path, body=body, headers=_JSON)
            response = conn.getresponse()
            raw = response.read()
            times.append(time.perf_counter() - t)
            if response.status != 200:
                raise SystemExit(f"profile: {path} answered {response.status}: {raw[:300]!r}")
            answers.append(raw)
        conn.close()
        return times, answers

    port_a = int(net.urls[HOME].rsplit(":", 1)[1])
    port_b = int(net.urls[PARTNER].rsplit(":", 1)[1])
    t_local, _ = timed(port_b, "/v1/reads", [j.body for j in local])
    t_fwd, _ = timed(port_b, "/v1/federation/forward", [forward_body(j) for j in forwards])
    t_cross, answers = timed(port_a, "/v1/federation/reads", [j.body for j in cross])
    # HPKE on the same payload, in this process
    answer = parse_json(answers[0])
    rhash = request_hash(cross[0].doc)
    plaintext = open_sealed(net.x25519, answer["sealed"], rhash)
    public = bytes.fromhex(net.orgs[HOME]["bank"].x25519_public.removeprefix("0x"))
    sealed = seal_to(public, plaintext, rhash)
    membership = net.deployment.membership(net.chain)
    directory = net.deployment.directory(net.chain)
    requester = _org(net.orgs[HOME]["bank"])
    med = lambda xs: round(statistics.median(xs) * 1000, 3)  # noqa: E731
    local_ms, fwd_ms, cross_ms = med(t_local), med(t_fwd), med(t_cross)
    return {
        "reads": n,
        "local_read_ms": local_ms,
        "partner_forward_ms": fwd_ms,
        "cross_city_ms": cross_ms,
        "home_part_ms": round(cross_ms - fwd_ms, 3),
        "partner_over_local_ms": round(fwd_ms - local_ms, 3),
        "hpke_seal_ms": _median_ms(lambda: seal_to(public, plaintext, rhash), 200),
        "hpke_open_ms": _median_ms(lambda: open_sealed(net.x25519, sealed, rhash), 200),
        "sealed_payload_bytes": len(canonicalize(answer["sealed"])),
        "chain_membership_org_ms": _median_ms(lambda: membership.org(requester), 50),
        "chain_gateway_of_city_ms": _median_ms(
            lambda: directory.gateway_of_city(net.codes[PARTNER]), 50
        ),
    }


def _kill_leftovers(root: Path) -> None:
    """Any process this run started that `network down` did not end (found by the run's own
    directory in its command line)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if str(root).encode() in cmd:
            with contextlib.suppress(OSError):
                os.kill(int(entry), 9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requesters", type=int, default=20)
    parser.add_argument("--reads", type=int, default=1000, help="reads of each kind per round")
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--consent", type=int, default=10, help="subjects read under consent")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=40, help="sequential reads (0: none)")
    parser.add_argument("--max-merge-delay", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the network's directory")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # the gateways `network up` starts run this checkout's code too
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_ROOT), os.environ.get("PYTHONPATH")) if p
    )
    root = Path(tempfile.mkdtemp(prefix="bench-federation-"))
    result: dict[str, Any] = {
        "cities": {"home": HOME, "partner": PARTNER},
        "requesters": args.requesters,
        "reads_per_kind_per_round": args.reads,
        "subjects": args.subjects,
        "consent_subjects": min(args.consent, args.subjects),
    }
    try:
        net = Net(root / "net", args)
        net.populate(args.subjects, args.consent)
        result["setup_s"] = {"network_up": round(net.up_s, 1), "populate": round(net.populate_s, 1)}
        run_round(net, build_jobs(net, 20, 0), min(4, args.requesters))  # warm up
        rounds = []
        for r in range(args.rounds):
            jobs = build_jobs(net, args.reads, r * args.reads)
            rounds.append(run_round(net, jobs, args.requesters))
            print(f"round {r + 1}/{args.rounds}: {json.dumps(rounds[-1])}", file=sys.stderr)
        result["rounds"] = rounds
        medians: dict[str, Any] = {}
        for kind in ("local", "cross"):
            medians[kind] = {
                fig: statistics.median(x[kind][fig] for x in rounds if x[kind][fig] is not None)
                for fig in ("p50_ms", "p99_ms", "reads_per_s")
                if any(x[kind][fig] is not None for x in rounds)
            }
            medians[kind]["failed"] = sum(x[kind]["failed"] for x in rounds)
        ratios = [x["cross_p99_over_local_p99"] for x in rounds if x["cross_p99_over_local_p99"]]
        medians["cross_p99_over_local_p99"] = statistics.median(ratios) if ratios else None
        result["medians"] = medians
        if args.profile:
            result["profile_ms"] = profile(net, args.profile)
        net.chain.close()
    finally:
        with contextlib.suppress(Exception):
            down(root / "net")
        _kill_leftovers(root)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    ratio = result["medians"]["cross_p99_over_local_p99"]
    failed = result["medians"]["local"]["failed"] + result["medians"]["cross"]["failed"]
    result["bar"] = {"cross_p99_over_local_p99_max": BAR, "met": bool(ratio and ratio <= BAR)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        m = result["medians"]
        print(
            f"cross-city reads {HOME} -> {PARTNER} vs local reads at {PARTNER}, interleaved; "
            f"{args.requesters} requesters, {args.reads} reads of each kind per round, "
            f"{args.rounds} rounds (medians); load average {result['load_average'][0]:.1f}"
        )
        for kind in ("local", "cross"):
            print(
                f"  {kind:6s} p50 {m[kind].get('p50_ms', '-'):>8} ms  p99 "
                f"{m[kind].get('p99_ms', '-'):>8} ms  {m[kind].get('reads_per_s', '-'):>7} reads/s"
                f"  failed {m[kind]['failed']}"
            )
        print(f"  cross p99 / local p99: {ratio}x (bar <= {BAR}x)")
        for key, value in result.get("profile_ms", {}).items():
            print(f"    {key:28s} {value}")
    return 0 if result["bar"]["met"] and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
