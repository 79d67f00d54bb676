"""scripts/bench_federation.py keeps running (tiny sizes): a real two-city network comes up,
local and cross-city reads are all answered correctly, the JSON report is sane, and nothing
it started outlives it (no process, no data directory). Its figures are not checked here:
performance is shown by the benchmark's own runs, never by a timed test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_network import _processes_of

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_federation.py"


def test_bench_federation_runs_and_reports_sane_json(tmp_path: Path) -> None:
    tmp = tmp_path / "t"
    tmp.mkdir()
    args = ["--requesters", "3", "--reads", "6", "--subjects", "4", "--consent", "2"]
    args += ["--rounds", "2", "--profile", "3", "--json"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TMPDIR": str(tmp)},
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: the bar missed on a busy box
    report = json.loads(done.stdout)
    assert report["requesters"] == 3
    assert len(report["rounds"]) == 2
    for r in report["rounds"]:
        for kind in ("local", "cross"):
            assert r[kind]["ok"] == 6, r[kind]["failures"]  # every answer checked and right
            assert r[kind]["failed"] == 0
            assert 0 < r[kind]["p50_ms"] <= r[kind]["p99_ms"] <= r[kind]["max_ms"]
            assert r[kind]["reads_per_s"] > 0
        assert r["cross_p99_over_local_p99"] == round(
            r["cross"]["p99_ms"] / r["local"]["p99_ms"], 2
        )
    m = report["medians"]
    assert m["local"]["failed"] == m["cross"]["failed"] == 0
    assert report["bar"]["met"] == (m["cross_p99_over_local_p99"] <= 2.0)
    assert (done.returncode == 0) == report["bar"]["met"]
    p = report["profile_ms"]
    for figure in ("local_read_ms", "partner_forward_ms", "cross_city_ms"):
        assert p[figure] > 0
    for figure in ("hpke_seal_ms", "hpke_open_ms"):
        assert 0 < p[figure] < 50
    assert len(report["load_average"]) == 3
    # everything torn down: no process of the run, no data left behind
    assert list(tmp.iterdir()) == []
    assert _processes_of(tmp) == []
