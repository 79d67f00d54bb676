"""The gateway's secrets, kept under ``<data_dir>/keys`` (mode 0600), never in the database.

    gateway-signer.json    keystore: signs receipts (the gateway org's registered signer)
    anchor-operator.json   keystore: sends anchoring transactions (the logs' operator)
    kek.json               key-encryption keys {"active": id, "keys": {id: base64}}
    pepper                 the network pepper for subject commitments (hex, shared by members)

Keystore passwords come from ``CREDITCHAIN_KEYSTORE_PASSWORD``. A development gateway
(``--dev``) generates everything, with per-keystore password files, and marks what it generated
as development material; a gateway not in dev mode refuses to start with any of it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eth_account.signers.local import LocalAccount

from gateway._kek_live import LiveKeyring
from gateway.domain.envelope import Kek, Keyring
from gateway.errors import ConfigurationError
from node import create_keystore, load_keystore
from node._accounts import private_dir
from node._local import PASSWORD_ENV

PEPPER_BYTES = 32
_DEV_MARK = "creditchain-development-only"


@dataclass(frozen=True)
class GatewaySecrets:
    signer: LocalAccount
    operator: LocalAccount
    keks: LiveKeyring
    """The keyring file's current KEKs (re-read when it changes; :mod:`gateway._kek_live`)."""
    pepper: bytes
    dev: bool

    @property
    def keyring(self) -> Keyring:
        return self.keks.keyring

    @property
    def active_kek(self) -> Kek:
        """The KEK to seal with now: the file's active one (takes the process's lease)."""
        return self.keks.active()


def _write_private(path: Path, text: str) -> None:
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _password(keys: Path, name: str, *, dev: bool, create: bool) -> str:
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    pw_file = keys / f"{name}.password"
    if pw_file.exists():
        if not dev:
            raise ConfigurationError(
                f"{pw_file} is a development password file; outside --dev set {PASSWORD_ENV}"
            )
        return pw_file.read_text().strip()
    if not dev:
        raise ConfigurationError(f"set {PASSWORD_ENV} to unlock {keys / (name + '.json')}")
    if not create:
        raise ConfigurationError(f"no password for {keys / (name + '.json')}")
    password = secrets.token_urlsafe(24)
    _write_private(pw_file, password + "\n")
    return password


def _account(keys: Path, name: str, *, dev: bool) -> LocalAccount:
    path = keys / f"{name}.json"
    if path.exists():
        return load_keystore(path, _password(keys, name, dev=dev, create=False))
    if not dev:
        raise ConfigurationError(
            f"missing {path}: provision the gateway's keys (`creditchain keys init`) "
            "or run a development gateway with --dev"
        )
    # Development keystores use a lighter scrypt work factor: they sit next to their password.
    return create_keystore(path, _password(keys, name, dev=dev, create=True), scrypt_n=2**14)


def _kek_id(now: datetime) -> str:
    return "kek-" + now.strftime("%Y%m%dT%H%M%SZ")


def new_keyring_file(path: Path, *, dev: bool, rng: Callable[[int], bytes] = os.urandom) -> None:
    kek = Kek.generate(_kek_id(datetime.now(UTC)), rng)
    doc = {"active": kek.kek_id, "keys": {kek.kek_id: base64.b64encode(kek.key).decode()}}
    if dev:
        doc["mark"] = _DEV_MARK
    _write_private(path, json.dumps(doc, indent=2) + "\n")


def _keyring(keys: Path, *, dev: bool) -> tuple[Keyring, Kek]:
    path = keys / "kek.json"
    if not path.exists():
        if not dev:
            raise ConfigurationError(f"missing {path}: provision key-encryption keys first")
        new_keyring_file(path, dev=True)
    try:
        doc = json.loads(path.read_text())
        keks = [Kek(kid, base64.b64decode(k)) for kid, k in doc["keys"].items()]
        active = str(doc["active"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path} is not a key-encryption keyring: {exc}") from exc
    if doc.get("mark") == _DEV_MARK and not dev:
        raise ConfigurationError(f"{path} holds development keys; refusing to start without --dev")
    keyring = Keyring(keks)
    if active not in keyring:
        raise ConfigurationError(f"{path}: the active key {active!r} is not in the keyring")
    return keyring, keyring[active]


def _pepper(keys: Path, *, dev: bool) -> bytes:
    path = keys / "pepper"
    if not path.exists():
        if not dev:
            raise ConfigurationError(
                f"missing {path}: copy the network pepper from the consortium's credit office"
            )
        _write_private(path, f"{secrets.token_hex(PEPPER_BYTES)} {_DEV_MARK}\n")
    parts = path.read_text().split()
    if not parts:
        raise ConfigurationError(f"{path} is empty")
    if _DEV_MARK in parts[1:] and not dev:
        raise ConfigurationError(f"{path} is a development pepper; refusing without --dev")
    try:
        pepper = bytes.fromhex(parts[0])
    except ValueError:
        raise ConfigurationError(f"{path} must hold the pepper in hex") from None
    if len(pepper) < PEPPER_BYTES:
        raise ConfigurationError(f"{path}: the pepper needs at least {PEPPER_BYTES} bytes")
    return pepper


def load_secrets(keys: Path, *, dev: bool) -> GatewaySecrets:
    """Load the gateway's secrets; in dev mode, create whatever is missing."""
    keks = LiveKeyring(keys / "kek.json", lambda: _keyring(keys, dev=dev))
    return GatewaySecrets(
        signer=_account(keys, "gateway-signer", dev=dev),
        operator=_account(keys, "anchor-operator", dev=dev),
        keks=keks,
        pepper=_pepper(keys, dev=dev),
        dev=dev,
    )
