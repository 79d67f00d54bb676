"""KEK rotation re-wraps data keys without touching ciphertexts and survives a crash midway."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from gateway import _kek
from gateway.domain.envelope import Envelope, open_
from tests.integration.conftest import Env


class Crash(Exception):
    pass


def _envelopes(env: Env) -> dict[str, Envelope]:
    with env.runtime.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT record_id, envelope FROM record")).all()
    return {rid: Envelope.from_bytes(bytes(blob)) for rid, blob in rows}


def test_rotation_with_a_crash_midway(env: Env) -> None:
    tax = env.client("tax")
    tax.submit([env.record("tax") for _ in range(25)])
    env.anchor()
    keys_dir = env.runtime.settings.keys_dir
    before = _envelopes(env)
    old_kek = env.runtime.secrets.active_kek

    env.runtime.secrets.keks.grace = 0  # no submission races this test's retire
    new = _kek.rotate(keys_dir, env.runtime.engine)
    assert env.runtime.secrets.active_kek == new  # the serving gateway seals with it now
    keyring, active = _kek.load_keyring(keys_dir)
    assert active == new
    assert set(keyring) == {old_kek.kek_id, new.kek_id}
    assert _kek.pending(env.runtime.engine, active) == 25

    calls = []

    def crash_after_first_batch(n: int) -> None:
        calls.append(n)
        raise Crash

    with pytest.raises(Crash):
        _kek.rewrap_all(
            env.runtime.engine, keyring, active, batch=10, progress=crash_after_first_batch
        )
    assert calls == [10]
    midway = _envelopes(env)
    assert sum(e.kek_id == new.kek_id for e in midway.values()) == 10
    # half-rotated: every record still opens with the keyring (old and new keys)
    with env.runtime.engine.connect() as conn:
        cats = dict(conn.execute(sa.text("SELECT record_id, category FROM record")).all())
    for rid, e in midway.items():
        open_(e, aad_record_id=bytes.fromhex(rid), category=cats[rid], keyring=keyring)

    # retiring the old key now would lose data: refused (nothing retired)
    assert _kek.retire(keys_dir, env.runtime.engine) == []

    assert _kek.rewrap_all(env.runtime.engine, keyring, active, batch=10) == 15
    after = _envelopes(env)
    assert {e.kek_id for e in after.values()} == {new.kek_id}
    for rid, e in after.items():  # only the wrapping changed
        assert e.ciphertext == before[rid].ciphertext
        assert e.nonce == before[rid].nonce
        assert e.wrapped_key != before[rid].wrapped_key

    assert _kek.retire(keys_dir, env.runtime.engine) == [old_kek.kek_id]
    doc = json.loads((keys_dir / "kek.json").read_text())
    assert set(doc["keys"]) == {new.kek_id}
    keyring2, _ = _kek.load_keyring(keys_dir)
    for rid, e in after.items():
        open_(e, aad_record_id=bytes.fromhex(rid), category=cats[rid], keyring=keyring2)
    with env.runtime.engine.connect() as conn:
        retired = conn.execute(
            sa.text("SELECT retired_at FROM kek WHERE kek_id = :k"), {"k": old_kek.kek_id}
        ).scalar_one()
    assert retired is not None
