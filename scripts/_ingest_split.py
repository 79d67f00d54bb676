"""Where a signed batch's time goes inside the gateway: µs per record by step, in-process.

Used by ``scripts/bench_ingest.py`` (and runnable alone:
``PYTHONPATH=. .venv/bin/python scripts/_ingest_split.py [--batches 6] [--size 1000]``).

A real gateway (embedded eth-tester chain, SQLite file, synchronous=FULL) ingests signed
batches through :meth:`Gateway.submit`; the steps are timed by wrapping the functions that
do them, in CPU time of the submitting thread (``thread_time``: on a shared machine, time
spent waiting for a core is not counted; a wrapper costs about 1 µs a call, and the per-record
steps are called once a record). ``store: SQL + commit`` is what ``_store`` spends outside the
wrapped steps: the submission row, the dedup lookup, the record rows' insert, the commit
(the wait for its fsync is not CPU time: see the wall figure). Without ``--json``, a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if not os.environ.get("PYTHONPATH"):  # else the checkout named there (e.g. a baseline)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# (label, owner, attribute): module-level functions looked up by gateway._service at call time,
# and methods on classes. Steps inside ``_store`` are subtracted from it.
_STEPS = (
    ("parse JSON body (strict)", "gateway._service", "parse_body"),
    ("parse + validate records", "gateway._service", "parse_submission"),
    ("replay lookup", "gateway._service:Gateway", "_known_submission"),
    ("signature + member + kinds", "gateway._service:Gateway", "_authorize"),
    ("subject commitments", "gateway._service", "subject_commitment"),
    ("leaf entries (one pass)", "gateway._service", "leaf_entries"),
    ("log append (entries+nodes)", "gateway.store._log:DbLog", "append"),
    ("receipts signed", "gateway._ingest:ReceiptSigner", "sign"),
    ("envelopes sealed", "gateway._service", "seal"),
    ("retention dates", "gateway._ingest:Retention", "until"),
)
_INSIDE_STORE = {
    "subject commitments",
    "leaf entries (one pass)",
    "log append (entries+nodes)",
    "receipts signed",
    "envelopes sealed",
    "retention dates",
}


def _owner(path: str) -> Any:
    import importlib

    module, _, cls = path.partition(":")
    obj: Any = importlib.import_module(module)
    return getattr(obj, cls) if cls else obj


@contextmanager
def _timed(spent: dict[str, float]) -> Iterator[None]:
    saved: list[tuple[Any, str, Any]] = []

    def wrap(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.thread_time() - t0

        return timed

    for label, owner_path, attr in (*_STEPS, ("_store", "gateway._service:Gateway", "_store")):
        try:
            owner = _owner(owner_path)
        except ImportError:  # an older checkout without this step
            continue
        if not hasattr(owner, attr):
            continue
        fn = getattr(owner, attr)
        saved.append((owner, attr, fn))
        setattr(owner, attr, wrap(label, fn))
    try:
        yield
    finally:
        for owner, attr, fn in reversed(saved):
            setattr(owner, attr, fn)


def measure_split(batches: int, size: int) -> dict[str, Any]:
    """Ingest ``batches`` signed batches of ``size`` records in-process; µs/record by step."""
    from gateway._config import AnchorPolicy, Settings
    from gateway.client import build_submission
    from gateway.domain.identifiers import make_uscc
    from gateway.domain.signing import fast_typed_signer
    from node import embedded
    from tests.integration.conftest import deployed_runtime
    from tests.samples import sample_fields

    with tempfile.TemporaryDirectory(prefix="ingest-split-") as tmp_name:
        tmp = Path(tmp_name)
        settings = Settings(
            data_dir=tmp / "gw",
            dev=True,
            database_url=f"sqlite:///{tmp / 'gateway.db'}",
            anchor=AnchorPolicy(max_merge_delay=60),
            max_body_bytes=16 * 1024 * 1024,
            max_batch=max(size, 1),
        )
        runtime = deployed_runtime(embedded(), settings, "bench").runtime
        try:
            gateway = runtime.gateway
            org = runtime.consortium["market"]
            org_id = bytes.fromhex(org.org_id[2:])
            sign = fast_typed_signer(org.account(), gateway.domain)
            serial = 0

            def body(n: int) -> bytes:
                nonlocal serial
                records = []
                for _ in range(n):
                    serial += 1
                    fields = sample_fields("admin_penalty")
                    fields["fine_amount_fen"] = serial
                    records.append(
                        {
                            "catalog": gateway.catalog.version,
                            "category": "admin_penalty",
                            "org": org.org_id,
                            "subject": {
                                "kind": "uscc",
                                "id": make_uscc(f"9161080{serial % 10}MA{serial:07d}"),
                            },
                            "fields": fields,
                        }
                    )
                doc = build_submission(
                    records,
                    [os.urandom(32) for _ in records],
                    org_id=org_id,
                    signed_at=int(gateway.clock()),
                    nonce=os.urandom(32),
                    sign=sign,
                )
                return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

            gateway.submit(body(min(size, 10)))  # warm: imports, org cache, compiled schemas
            bodies = [body(size) for _ in range(batches)]
            spent: dict[str, float] = {}
            with _timed(spent):
                t0, c0, own0 = time.perf_counter(), time.process_time(), time.thread_time()
                for b in bodies:
                    gateway.submit(b)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                own = time.thread_time() - own0
        finally:
            runtime.close()
    records = batches * size
    per = {label: spent.get(label, 0.0) / records * 1e6 for label, _, _ in _STEPS}
    inside = sum(per[k] for k in _INSIDE_STORE)
    per["store: SQL + commit"] = spent.get("_store", 0.0) / records * 1e6 - inside
    per["rest of submit"] = own / records * 1e6 - sum(per.values())
    return {
        "records": records,
        "batch": size,
        "records_per_s": records / wall,
        "wall_us_per_record": wall / records * 1e6,
        "cpu_us_per_record": cpu / records * 1e6,
        "thread_cpu_us_per_record": own / records * 1e6,
        "us_per_record": per,
    }


def print_split(split: dict[str, Any], label: str = "") -> None:
    print(
        f"  {label}{split['records']} records in batches of {split['batch']}:"
        f" {split['records_per_s']:.0f} records/s in-process, {split['wall_us_per_record']:.1f}"
        f" µs/record wall, {split['cpu_us_per_record']:.1f} µs/record CPU (process;"
        f" {split['thread_cpu_us_per_record']:.1f} in the submitting thread, split below)"
    )
    for step, us in split["us_per_record"].items():
        print(f"    {step:<30}{us:>8.1f} µs/record")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    split = measure_split(args.batches, args.size)
    if args.json:
        print(json.dumps(split, indent=2))
    else:
        print_split(split)


if __name__ == "__main__":
    main()
