"""Key-encryption-key rotation: a new KEK becomes active, every data key is re-wrapped under
it, the old KEK is retired once nothing needs it. Ciphertexts are never touched.

The re-wrap runs in small batches, each its own transaction, over the records whose envelope
is not yet under the active KEK. A crash anywhere leaves every record readable (the keyring
holds old and new KEKs until retirement) and the job resumable: running it again continues
with what is left. Retiring refuses while any record still needs the old key.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway._kek_live import GRACE_SECONDS, kek_ids_leased
from gateway.domain.envelope import Envelope, Kek, Keyring, rewrap
from gateway.domain.errors import EnvelopeError
from gateway.errors import ConfigurationError, KekInUse
from gateway.store import Kek as KekRow
from gateway.store import session_scope

KEYRING_FILE = "kek.json"


def _read(keys_dir: Path) -> dict[str, object]:
    path = keys_dir / KEYRING_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"no keyring at {path}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict):
        raise ConfigurationError(f"{path} is not a key-encryption keyring")
    return doc


def _write(keys_dir: Path, doc: dict[str, object]) -> None:
    """Atomically replace the keyring file (write, fsync, rename, fsync the directory)."""
    path = keys_dir / KEYRING_FILE
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(doc, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(keys_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_keyring(keys_dir: Path) -> tuple[Keyring, Kek]:
    doc = _read(keys_dir)
    keys = doc["keys"]
    assert isinstance(keys, dict)
    keyring = Keyring(Kek(kid, base64.b64decode(k)) for kid, k in keys.items())
    return keyring, keyring[str(doc["active"])]


def rotate(
    keys_dir: Path,
    engine: Engine,
    *,
    now: datetime | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> Kek:
    """Add a new KEK to the keyring and make it the active one (old KEKs stay, for unwrap)."""
    doc = _read(keys_dir)
    when = now or datetime.now(UTC)
    kek = Kek.generate("kek-" + when.strftime("%Y%m%dT%H%M%S%fZ"), rng)
    keys = doc["keys"]
    assert isinstance(keys, dict)
    if kek.kek_id in keys:
        raise ConfigurationError(f"a key named {kek.kek_id} exists already")
    keys[kek.kek_id] = base64.b64encode(kek.key).decode()
    doc["active"] = kek.kek_id
    _write(keys_dir, doc)
    with session_scope(engine) as s:
        s.add(KekRow(kek_id=kek.kek_id, created_at=int(when.timestamp())))
    return kek


def pending(engine: Engine, active: Kek) -> int:
    """Records (and sealed lifecycle free texts) whose data key is not yet wrapped under the
    active KEK."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM record WHERE envelope IS NOT NULL AND kek_id != :k"),
                {"k": active.kek_id},
            ).scalar_one()
        ) + int(
            conn.execute(
                sa.text("SELECT count(*) FROM free_text WHERE kek_id != :k"),
                {"k": active.kek_id},
            ).scalar_one()
        )


def rewrap_all(
    engine: Engine,
    keyring: Keyring,
    active: Kek,
    *,
    batch: int = 500,
    rng: Callable[[int], bytes] = os.urandom,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Re-wrap every remaining data key under ``active`` — the records' envelopes, then the
    sealed lifecycle free texts (gateway/_freetext.py); returns how many were re-wrapped."""
    done = 0
    for select, update in _SEALED:
        while True:
            with session_scope(engine) as s:
                conn = s.connection()
                rows = conn.execute(sa.text(select), {"k": active.kek_id, "n": batch}).all()
                for key, rid, blob in rows:
                    new = rewrap(
                        Envelope.from_bytes(bytes(blob)),
                        record_id=bytes.fromhex(rid),
                        old_keyring=keyring,
                        new_kek=active,
                        rng=rng,
                    )
                    conn.execute(
                        sa.text(update), {"e": new.to_bytes(), "k": active.kek_id, "key": key}
                    )
            if not rows:
                break
            done += len(rows)
            if progress is not None:
                progress(len(rows))
    return done


_SEALED: Final = (
    (
        "SELECT record_id, record_id, envelope FROM record WHERE envelope IS NOT NULL "
        "AND kek_id != :k ORDER BY log_index LIMIT :n",
        "UPDATE record SET envelope = :e, kek_id = :k WHERE record_id = :key",
    ),
    (
        "SELECT id, record_id, envelope FROM free_text WHERE kek_id != :k ORDER BY id LIMIT :n",
        "UPDATE free_text SET envelope = :e, kek_id = :k WHERE id = :key",
    ),
)
"""Each sealed table: its rows still under another KEK (key, record id for the AAD, envelope),
a batch at a time, and how one is written back."""


def retire(keys_dir: Path, engine: Engine, *, now: datetime | None = None) -> list[str]:
    """Drop from the keyring every inactive KEK that no record needs any more and that no
    serving process may still seal with (its lease, :mod:`gateway._kek_live`); raises
    :class:`KekInUse` when a live process holds an inactive KEK, retiring nothing."""
    doc = _read(keys_dir)
    keys = doc["keys"]
    assert isinstance(keys, dict)
    leased = kek_ids_leased(keys_dir)
    held = {k: pids for k, pids in leased.items() if k in keys and k != doc["active"]}
    if held:
        raise KekInUse(
            "; ".join(
                f"{k} may still seal new records in process {', '.join(map(str, pids))}"
                for k, pids in sorted(held.items())
            )
            + f": retire again once those gateways use the active KEK {doc['active']} "
            f"(within {int(GRACE_SECONDS)} s of the rotation) or have stopped"
        )
    in_use = _kek_ids_in_envelopes(engine)
    gone = [k for k in keys if k != doc["active"] and k not in in_use]
    for k in gone:
        del keys[k]
    if gone:
        _write(keys_dir, doc)
        stamp = int((now or datetime.now(UTC)).timestamp())
        with session_scope(engine) as s:
            for k in gone:
                row = s.get(KekRow, k) or KekRow(kek_id=k, created_at=stamp)
                row.retired_at = stamp
                s.add(row)
    return gone


def _kek_ids_in_envelopes(engine: Engine) -> set[str]:
    """The KEK ids the stored envelopes' headers name (not the rows' ``kek_id`` columns, which
    an insider may edit: retiring on their word could drop a KEK an envelope still needs).
    An envelope whose header does not parse keeps every KEK (nothing is retired)."""
    in_use: set[str] = set()
    with engine.connect() as conn:
        for sql in (
            "SELECT kek_id, envelope FROM record WHERE envelope IS NOT NULL",
            "SELECT kek_id, envelope FROM free_text",
        ):
            for kek_id, blob in conn.execution_options(stream_results=True).execute(sa.text(sql)):
                in_use.add(str(kek_id))
                try:
                    in_use.add(Envelope.from_bytes(bytes(blob)).kek_id)
                except EnvelopeError as exc:
                    raise ConfigurationError(
                        f"an envelope does not parse ({exc}): run `creditchain check`"
                    ) from None
    return in_use
