"""The README's "Yellow River network" walk-through, run as written with bash — on two cities
and this test's own ports and directory instead of all six and the defaults."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.e2e._gateway_proc import fixed_port, pid_running

REPO = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Yellow River network", 1)[1].split("\n## ", 1)[0]
    script = section.split("A walk-through", 1)[1]
    (block,) = re.findall(r"```sh\n(.*?)```", script, re.S)[:1]
    return str(block)


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    script = walkthrough()
    base, rpc = fixed_port(), fixed_port()
    net = tmp_path / "yellow-river"
    assert 'NET="$PWD/yellow-river"' in script
    assert 'creditchain network up --data-dir "$NET"' in script
    script = script.replace('NET="$PWD/yellow-river"', f'NET="{net}"')
    script = script.replace(
        'creditchain network up --data-dir "$NET"',
        f'creditchain network up --data-dir "$NET" --cities yulin,lanzhou --port-base {base} '
        f"--chain-port {rpc}",
    )
    script = script.replace("http://127.0.0.1:8701", f"http://127.0.0.1:{base}")
    script = script.replace("http://127.0.0.1:8702", f"http://127.0.0.1:{base + 1}")
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=900,
            env={k: v for k, v in os.environ.items() if k != "CREDITCHAIN_URL"},
            check=False,
        )
        out = done.stdout
        assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
        assert "allowed under grant" in out
        assert "ok: included at index" in out  # the access receipt proven on chain
        # the cross-city read: Yulin's receipt and Lanzhou's forward receipt, both proven
        assert re.search(r"^access receipt \(city 610800's access log.*— ok: ", out, re.M)
        assert re.search(r"^forward receipt \(your home gateway's .*— ok: ", out, re.M)
        assert "denied: no-grant" in out
        assert "denied, as it should be" in out
        # both sides audited: the cross-city read logged in Lanzhou's and Yulin's access logs
        assert re.search(r"^OK cities 620100 and 610800: 1 cross-city accesses", out, re.M), out
        assert re.search(r"^lanzhou +stopped$", out, re.M)
        assert re.search(r"^chain +stopped$", out, re.M)
    finally:
        subprocess.run(
            [
                str(REPO / ".venv" / "bin" / "creditchain"),
                "network",
                "down",
                "--data-dir",
                str(net),
            ],
            capture_output=True,
            check=False,
            timeout=120,
        )
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            assert not (str(net).encode() in cmd and pid_running(int(entry))), cmd
