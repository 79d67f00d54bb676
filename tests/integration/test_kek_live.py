"""Rotating and retiring key-encryption keys while the gateway serves: it seals new records
under the file's active KEK at once, and `retire` refuses while a serving process may still
seal with the old one; no acknowledged record is ever left without its key."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway import _kek
from gateway._kek_live import kek_ids_leased
from gateway.domain.envelope import Envelope, open_
from gateway.errors import KekInUse
from tests.integration.conftest import Env


def _rows(env: Env) -> dict[str, tuple[str, str, Envelope]]:
    with env.runtime.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT record_id, kek_id, category, envelope FROM record"))
        return {r: (k, c, Envelope.from_bytes(bytes(e))) for r, k, c, e in rows}


def _open_all_from_the_file(env: Env) -> None:
    """Every record opens with the keyring *file* (what a restarted gateway would have)."""
    keyring, _ = _kek.load_keyring(env.runtime.settings.keys_dir)
    for rid, (_, category, envelope) in _rows(env).items():
        open_(envelope, aad_record_id=bytes.fromhex(rid), category=category, keyring=keyring)


def test_rotate_rewrap_retire_while_serving_loses_nothing(sqlite_env: Env) -> None:
    env = sqlite_env
    keys_dir = env.runtime.settings.keys_dir
    env.runtime.secrets.keks.grace = 0.5
    tax = env.client("tax")
    tax.submit([env.record("tax") for _ in range(3)])
    old = env.runtime.secrets.active_kek

    new = _kek.rotate(keys_dir, env.runtime.engine)
    keyring, active = _kek.load_keyring(keys_dir)
    _kek.rewrap_all(env.runtime.engine, keyring, active)
    # the serving process may have sealed with the old KEK a moment ago: refused for now
    with pytest.raises(KekInUse, match=old.kek_id):
        _kek.retire(keys_dir, env.runtime.engine)
    time.sleep(2.5)  # past the grace; the lease thread has moved on
    assert old.kek_id not in kek_ids_leased(keys_dir)
    assert _kek.retire(keys_dir, env.runtime.engine) == [old.kek_id]

    receipts = tax.submit([env.record("tax") for _ in range(2)])
    rows = _rows(env)
    for r in receipts:
        assert rows[r["leaf_hash"].removeprefix("0x")][0] == new.kek_id
    _open_all_from_the_file(env)


def test_retire_refuses_a_kek_a_live_process_seals_with(tmp_path: Path) -> None:
    from gateway._keys import new_keyring_file

    keys = tmp_path / "keys"
    keys.mkdir()
    new_keyring_file(keys / "kek.json", dev=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from gateway import _kek; from gateway._kek_live import LiveKeyring; "
            "k = Path(sys.argv[1]); "
            "LiveKeyring(k / 'kek.json', lambda: _kek.load_keyring(k)).active(); "
            "print('ready', flush=True); time.sleep(60)",
            str(keys),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        first = json.loads((keys / "kek.json").read_text())["active"]
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
        from gateway.store import upgrade

        upgrade(engine)
        _kek.rotate(keys, engine)
        # the other process seals with the new KEK from now on, but may have sealed with the
        # first one until a moment ago (grace): retiring it is refused, naming the process
        with pytest.raises(KekInUse, match=str(holder.pid)):
            _kek.retire(keys, engine)
        cli = subprocess.run(
            [
                str(Path(sys.executable).parent / "creditchain"),
                "keys",
                "retire",
                "--data-dir",
                str(tmp_path),
                "--database-url",
                f"sqlite:///{tmp_path / 'db.sqlite'}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert cli.returncode == 1, cli.stdout
        assert cli.stderr.startswith(f"error: {first} may still seal new records in process")
        assert len(cli.stderr.strip().splitlines()) == 1
        assert first in kek_ids_leased(keys)
    finally:
        holder.kill()
        holder.wait()
    # a dead process's lease does not hold anything back
    assert kek_ids_leased(keys) == {}
    assert _kek.retire(keys, engine) == [first]
