"""The gateway's settings: where its data lives, which chain, and its operating policies."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    env = os.environ.get("CREDITCHAIN_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "creditchain"


@dataclass(frozen=True)
class AnchorPolicy:
    """When the anchoring worker anchors a log (the CT-style maximum merge delay)."""

    max_merge_delay: int = 60
    """Seconds within which an acknowledged entry is covered by an anchored checkpoint."""
    size_threshold: int = 1000
    """Anchor as soon as this many entries are waiting, without waiting for the delay."""
    confirmations: int = 0
    """Blocks on top of an anchor's block before it counts (0 on a local dev chain)."""
    interval: float = 0.5
    """Seconds between the worker's passes."""
    recheck_every: float = 5.0
    """Seconds between the worker's checks that the newest confirmed checkpoint is still on
    chain (a reorg that drops it is noticed within this time; forced passes always check)."""

    @property
    def anchor_after(self) -> int:
        """Anchor entries once they are this old, leaving half the delay for the chain."""
        return max(1, self.max_merge_delay // 2)


@dataclass(frozen=True)
class Settings:
    """Everything `creditchain serve` needs to know."""

    data_dir: Path = field(default_factory=default_data_dir)
    dev: bool = False
    database_url: str | None = None
    """SQLAlchemy URL; default: SQLite at <data_dir>/gateway.db."""
    rpc_url: str | None = None
    """A chain's JSON-RPC URL; default: the data dir's local anvil chain (started if needed)."""
    manifest: Path | None = None
    """Deployment manifest; default: <data_dir>/chain/deployment.json."""
    host: str = "127.0.0.1"
    port: int = 8080
    chain_port: int = 8545
    anchor: AnchorPolicy = field(default_factory=AnchorPolicy)
    replay_window: int = 300
    """Seconds a signed request's timestamp may differ from the gateway's clock."""
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch: int = 1000
    org_cache_seconds: float = 5.0
    """How long membership answers (keys, standing) are reused before asking the chain again."""

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'gateway.db'}"

    @property
    def manifest_path(self) -> Path:
        return self.manifest or self.data_dir / "chain" / "deployment.json"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"
