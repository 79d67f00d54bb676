#!/usr/bin/env python3
"""Build the web UI (ui/) with the pinned Vite and TypeScript into gateway/ui/static.

    python scripts/build_ui.py          # type-check and (re)write gateway/ui/static
    python scripts/build_ui.py --check  # exit 1 if the committed assets are stale

The toolchain is the npm packages pinned in package.json/package-lock.json (`npm ci`). The build
is byte-reproducible (content-hashed names, no timestamps, no source maps), so the built assets
are committed: a fresh clone (and the wheel) serves the UI with no build step, and `--check`
rebuilds into a temporary directory and compares it file by file with the committed tree.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UI = ROOT / "ui"
ARTIFACTS = ROOT / "contracts" / "artifacts"
CODES = UI / "src" / "contracts.generated.json"
CHECKED = ("Membership", "CheckpointLog", "RecordStatus", "Grants", "Directory")
OUT = ROOT / "gateway" / "ui" / "static"
BIN = ROOT / "node_modules" / ".bin"
PINNED = {"vite": "8.4.0", "typescript": "7.0.2"}


def _pinned() -> None:
    for name, version in PINNED.items():
        package = ROOT / "node_modules" / name / "package.json"
        try:
            found = json.loads(package.read_text())["version"]
        except (OSError, ValueError, KeyError):
            found = None
        if found != version:
            raise SystemExit(f"{name} {found} found, {version} pinned: run `npm ci`")


def _codes() -> str:
    """What the pages compare a manifest's contracts with (as ``Deployment.check`` does): per
    contract, its runtime code's length, the immutable ranges, and the SHA-256 of the code with
    those ranges zeroed — from contracts/artifacts, so a contract change makes the UI stale."""
    out = {}
    for name in CHECKED:
        artifact = json.loads((ARTIFACTS / f"{name}.json").read_text())
        code = bytearray(bytes.fromhex(artifact["deployedBytecode"].removeprefix("0x")))
        ranges = [[int(a), int(n)] for a, n in artifact.get("immutableRanges", [])]
        for start, length in ranges:
            code[start : start + length] = bytes(length)
        out[name] = {
            "length": len(code),
            "immutables": ranges,
            "sha256": hashlib.sha256(bytes(code)).hexdigest(),
        }
    return json.dumps(out, indent=1, sort_keys=True) + "\n"


def _build(out: Path) -> None:
    subprocess.run([str(BIN / "tsc"), "-p", str(UI / "tsconfig.json")], check=True, cwd=ROOT)
    env = {
        **os.environ,
        "CREDITCHAIN_UI_OUT": str(out),
        "VITE_CONFIG_NATIVE_IGNORE_WARNING": "true",
    }
    subprocess.run(
        [str(BIN / "vite"), "build", "--logLevel", "warn", str(UI)], check=True, cwd=ROOT, env=env
    )


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _stale(built: Path, committed: Path) -> list[str]:
    a, b = _tree(built), _tree(committed)
    changed = {f for f in a & b if not filecmp.cmp(built / f, committed / f, shallow=False)}
    return sorted((a ^ b) | changed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="fail if gateway/ui/static is stale")
    args = parser.parse_args(argv)
    _pinned()
    codes = _codes()
    if not args.check:
        CODES.write_text(codes)
        _build(OUT)
        print(f"built {len(_tree(OUT))} files into {OUT.relative_to(ROOT)}")
        return 0
    if not CODES.is_file() or CODES.read_text() != codes:
        print(
            f"{CODES.relative_to(ROOT)} is stale (contracts changed): run "
            "`python scripts/build_ui.py`",
            file=sys.stderr,
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="creditchain-ui-") as tmp:
        _build(Path(tmp) / "static")
        stale = _stale(Path(tmp) / "static", OUT)
    if stale:
        print(
            "UI assets are stale (run `python scripts/build_ui.py`): " + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    print("UI assets are fresh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
