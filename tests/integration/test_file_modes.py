"""The gateway's files are private to its user: the data dir and key dirs 0700, the database,
its WAL and shared-memory files, the writers' lock file and every key file 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.integration.conftest import Env


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_database_and_keys_are_private(sqlite_env: Env) -> None:
    env = sqlite_env
    env.client("tax").submit([env.record("tax")])  # seals (KEK lease), signs (receipts' mark)
    data = env.runtime.settings.data_dir
    db = Path(env.runtime.settings.db_url.removeprefix("sqlite:///"))
    assert db.with_name(db.name + "-wal").exists()
    dirs = [data, *(p for p in data.rglob("*") if p.is_dir())]
    assert {data / "keys", data / "keys" / "orgs", data / "keys" / "leases"} <= set(dirs)
    assert data / "state" / "receipts-hwm" in dirs
    assert {str(d): oct(_mode(d)) for d in dirs} == {str(d): "0o700" for d in dirs}
    files = [db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-writers"))]
    files += [p for d in ("keys", "state") for p in (data / d).rglob("*") if p.is_file()]
    assert {str(f): oct(_mode(f)) for f in files} == {str(f): "0o600" for f in files}
