#!/usr/bin/env python3
"""Compile contracts/src with the pinned solcjs and write contracts/artifacts.

    python scripts/build_contracts.py          # (re)write the artifacts
    python scripts/build_contracts.py --check  # exit 1 if the committed artifacts are stale

The compiler is the npm package `solc` pinned in package.json, driven through the
`scripts/solc` shim with standard-json input, so it works offline (no native solc download).
Source unit names are repository-relative, so the output does not depend on where the
repository is checked out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "contracts" / "src"
OUT = ROOT / "contracts" / "artifacts"
SHIM = ROOT / "scripts" / "solc"
PINNED_VERSION = "0.8.28"
DEPLOYABLE = ("Membership", "CheckpointLog", "Grants", "RecordStatus", "Directory")

SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 1000},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "evm.deployedBytecode.immutableReferences",
                "metadata",
            ]
        }
    },
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _compiler_version() -> str:
    out = subprocess.run([str(SHIM), "--version"], capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("Version:"))
    version = line.split(":", 1)[1].strip()
    if not version.startswith(PINNED_VERSION + "+"):
        raise SystemExit(f"solc {version} found, {PINNED_VERSION} pinned: run `npm ci`")
    return version


def compile_all() -> dict[str, bytes]:
    """Compile and return {file name: artifact bytes} for everything in contracts/artifacts."""
    version = _compiler_version()
    sources = {
        p.relative_to(ROOT).as_posix(): {"content": p.read_text(encoding="utf-8")}
        for p in sorted(SRC.rglob("*.sol"))
    }
    std_input = {"language": "Solidity", "sources": sources, "settings": SETTINGS}
    proc = subprocess.run(
        [
            str(SHIM),
            "--standard-json",
            "--base-path",
            str(ROOT),
            "--include-path",
            str(ROOT / "node_modules"),
        ],
        input=json.dumps(std_input),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"solc failed: {proc.stderr.strip()}")
    output = json.loads(proc.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SystemExit("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    warnings = [e for e in output.get("errors", []) if e.get("severity") == "warning"]
    for w in warnings:
        print(w.get("formattedMessage", w["message"]), file=sys.stderr)

    # Every source the compiler read, imports included, hashed from its own metadata.
    all_sources: dict[str, str] = {}
    artifacts: dict[str, bytes] = {}
    for source_name, contracts in sorted(output["contracts"].items()):
        for name, c in sorted(contracts.items()):
            meta = json.loads(c["metadata"])
            for src_name, src in meta["sources"].items():
                all_sources[src_name] = src["keccak256"]
            if name not in DEPLOYABLE:
                continue
            artifact = {
                "contractName": name,
                "sourceName": source_name,
                "compiler": {"name": "solcjs", "version": version},
                "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
                "sourceSha256": _sha256(sources[source_name]["content"].encode()),
                "abi": c["abi"],
                "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
                # Byte ranges of deployedBytecode that the constructor fills in (immutables).
                "immutableRanges": sorted(
                    [r["start"], r["length"]]
                    for refs in c["evm"]["deployedBytecode"].get("immutableReferences", {}).values()
                    for r in refs
                ),
            }
            artifacts[f"{name}.json"] = _dump(artifact)
    missing = set(DEPLOYABLE) - {n.removesuffix(".json") for n in artifacts}
    if missing:
        raise SystemExit(f"contracts not produced by the compiler: {sorted(missing)}")
    index = {
        "compiler": {"name": "solcjs", "version": version},
        "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
        "sources": dict(sorted(all_sources.items())),
        "artifacts": {n: _sha256(b) for n, b in sorted(artifacts.items())},
    }
    artifacts["build-info.json"] = _dump(index)
    return artifacts


def _dump(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if artifacts are stale")
    args = parser.parse_args(argv)
    fresh = compile_all()
    if args.check:
        existing = {p.name for p in OUT.glob("*.json")} if OUT.exists() else set()
        stale = sorted(
            n
            for n, data in fresh.items()
            if not (OUT / n).exists() or (OUT / n).read_bytes() != data
        )
        extra = sorted(existing - set(fresh))
        if stale or extra:
            for n in stale:
                print(f"stale: contracts/artifacts/{n}", file=sys.stderr)
            for n in extra:
                print(f"not produced by the build: contracts/artifacts/{n}", file=sys.stderr)
            print("run: python scripts/build_contracts.py", file=sys.stderr)
            return 1
        print(f"contracts/artifacts fresh ({len(fresh)} files, solc {PINNED_VERSION})")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for n in {p.name for p in OUT.glob("*.json")} - set(fresh):
        (OUT / n).unlink()
    for n, data in fresh.items():
        (OUT / n).write_bytes(data)
    print(f"wrote {len(fresh)} files to contracts/artifacts (solc {PINNED_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
