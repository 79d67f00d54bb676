"""Accounts as encrypted JSON keystores (eth-account, scrypt)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.errors import KeystoreError

# eth-account's scrypt default (n = 2**18). Tests may pass a smaller work factor.
DEFAULT_SCRYPT_N = 2**18


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable only by its owner (mode 0700); an
    existing directory is narrowed to 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def create_keystore(
    path: Path,
    password: str,
    *,
    private_key: bytes | None = None,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> LocalAccount:
    """Create a new account (or import ``private_key``) and write its keystore at ``path``.

    The file is written atomically with mode 0600; an existing file is never overwritten.
    """
    if len(password) < 8:
        raise KeystoreError("a keystore password needs at least 8 characters")
    if path.exists():
        raise KeystoreError(f"keystore {path} exists already; refusing to overwrite it")
    account: LocalAccount = Account.from_key(private_key) if private_key else Account.create()
    data = Account.encrypt(account.key, password, kdf="scrypt", iterations=scrypt_n)
    private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return account


def load_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt the keystore at ``path``."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise KeystoreError(f"keystore {path} is not JSON") from exc
    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:
        raise KeystoreError(f"cannot decrypt keystore {path}: wrong password?") from exc
    except (KeyError, TypeError) as exc:
        raise KeystoreError(f"keystore {path} is not an Ethereum V3 keystore") from exc
    account: LocalAccount = Account.from_key(key)
    return account


def keystore_address(path: Path) -> str:
    """The address recorded in a keystore, without decrypting it."""
    try:
        return "0x" + str(json.loads(path.read_text())["address"]).removeprefix("0x")
    except (OSError, ValueError, KeyError) as exc:
        raise KeystoreError(f"cannot read keystore {path}") from exc
