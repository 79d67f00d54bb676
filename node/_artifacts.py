"""Compiled contract artifacts (ABI + bytecode), as committed by scripts/build_contracts.py."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from node.errors import ManifestError

CONTRACTS = ("Membership", "CheckpointLog", "Grants", "RecordStatus", "Directory")


def artifacts_dir() -> Path:
    """The packaged artifacts if installed from a wheel, else the repository's folder."""
    packaged = Path(__file__).resolve().parent / "_contract_artifacts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "contracts" / "artifacts"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    sha256: str
    compiler_version: str
    immutable_ranges: tuple[tuple[int, int], ...] = ()
    """(start, length) byte ranges of ``deployed_bytecode`` filled in by the constructor."""


@cache
def load_artifact(name: str) -> Artifact:
    path = artifacts_dir() / f"{name}.json"
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ManifestError(f"contract artifact {path} unreadable: {exc}") from exc
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        sha256=hashlib.sha256(raw).hexdigest(),
        compiler_version=data["compiler"]["version"],
        immutable_ranges=tuple((int(a), int(n)) for a, n in data.get("immutableRanges", ())),
    )


@cache
def error_table() -> dict[bytes, tuple[str, list[str]]]:
    """4-byte selector -> (error name, ABI input types), over every contract's errors."""
    from eth_utils.crypto import keccak  # here: loading an artifact needs no eth-utils

    table: dict[bytes, tuple[str, list[str]]] = {}
    for name in CONTRACTS:
        for item in load_artifact(name).abi:
            if item["type"] != "error":
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            sig = f"{item['name']}({','.join(types)})"
            table[keccak(text=sig)[:4]] = (item["name"], types)
    return table


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])
