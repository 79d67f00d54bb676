"""Envelope encryption of credit records: the only module that touches AES-GCM.

Recipe (format version 1)
-------------------------
``seal`` draws a fresh 32-byte *data key* per record and encrypts the canonical record
with AES-256-GCM under a fresh 12-byte nonce. The additional authenticated data binds the
record id and the catalog category, length-prefixed so that no two distinct pairs share an
encoding::

    data_aad = lp(b"creditchain/envelope/v1/data") || lp(record_id) || lp(category_utf8)

where ``lp(x) = len(x).to_bytes(4, "big") || x``.

The data key is then *wrapped* with AES-256-GCM under a key-encryption key (KEK) named by
``kek_id``, with its own fresh 12-byte nonce and AAD::

    wrap_aad = lp(b"creditchain/envelope/v1/wrap") || lp(kek_id_ascii) || lp(record_id)

    wrapped_key = wrap_nonce (12) || AES-256-GCM(kek, wrap_nonce, data_key, wrap_aad) (32 + 16)

AES-GCM wrapping was chosen over RFC 3394 key wrap because it authenticates associated
data: a wrapped key cannot be transplanted to another record or relabelled with another
KEK id. Random 96-bit nonces bound each KEK to at most 2**32 wraps (NIST SP 800-38D
§8.3): rotate KEKs (:func:`rewrap`) well before that.

The category and record id are deliberately not stored in the envelope: the caller supplies
them from its own context, so a mismatch fails authentication.

Wire format (:meth:`Envelope.to_bytes`), big-endian, no optional parts::

    offset  size  field
    0       1     version = 0x01
    1       1     L = length of kek_id (1..64)
    2       L     kek_id, ASCII [A-Za-z0-9._:-]
    2+L     60    wrapped_key
    62+L    12    nonce
    74+L    >=16  ciphertext (includes the 16-byte GCM tag)

Failure policy: every failure to parse, unwrap or decrypt raises
``EnvelopeError("envelope could not be opened")`` with no chained cause, whatever went wrong.

Erasure: destroying every copy of an envelope's ``wrapped_key`` (or the KEK that wraps it,
for all records under it) makes its ciphertext unrecoverable; the record commitment
``SHA-256(salt || canonical)`` stays verifiable for those who hold salt and plaintext, and
unlinkable for everyone else once the salt is destroyed with the data.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.domain.errors import EnvelopeError

__all__ = [
    "DATA_KEY_BYTES",
    "ENVELOPE_VERSION",
    "KEK_BYTES",
    "NONCE_BYTES",
    "SALT_BYTES",
    "WRAPPED_KEY_BYTES",
    "Envelope",
    "Kek",
    "Keyring",
    "Rng",
    "new_salt",
    "open_",
    "record_commitment",
    "rewrap",
    "seal",
]

Rng = Callable[[int], bytes]
"""Source of cryptographically secure random bytes, e.g. ``os.urandom``."""

ENVELOPE_VERSION: Final = 1
DATA_KEY_BYTES: Final = 32
KEK_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
WRAPPED_KEY_BYTES: Final = NONCE_BYTES + DATA_KEY_BYTES + TAG_BYTES
SALT_BYTES: Final = 32
MAX_KEK_ID_BYTES: Final = 64

_KEK_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_DATA_LABEL: Final = b"creditchain/envelope/v1/data"
_WRAP_LABEL: Final = b"creditchain/envelope/v1/wrap"
_HEADER_BYTES: Final = 2


def _lp(part: bytes) -> bytes:
    return len(part).to_bytes(4, "big") + part


def _data_aad(record_id: bytes, category: str) -> bytes:
    return _lp(_DATA_LABEL) + _lp(record_id) + _lp(category.encode("utf-8"))


def _wrap_aad(kek_id: str, record_id: bytes) -> bytes:
    return _lp(_WRAP_LABEL) + _lp(kek_id.encode("ascii")) + _lp(record_id)


def _random(rng: Rng, size: int) -> bytes:
    value = rng(size)
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError(f"rng must return exactly {size} bytes")
    return value


def _check_kek_id(kek_id: str) -> None:
    if not isinstance(kek_id, str) or _KEK_ID.fullmatch(kek_id) is None:
        raise ValueError("kek_id must be 1-64 characters from [A-Za-z0-9._:-]")


def _check_context(record_id: bytes, category: str) -> None:
    if not isinstance(record_id, bytes) or not record_id:
        raise ValueError("record id must be non-empty bytes")
    if not isinstance(category, str) or not category:
        raise ValueError("category must be a non-empty str")


@dataclass(frozen=True, slots=True)
class Kek:
    """A 256-bit key-encryption key and its identifier. ``repr()`` never shows the key."""

    kek_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_kek_id(self.kek_id)
        if not isinstance(self.key, bytes) or len(self.key) != KEK_BYTES:
            raise ValueError(f"a KEK is exactly {KEK_BYTES} bytes")

    @classmethod
    def generate(cls, kek_id: str, rng: Rng) -> Kek:
        """Create a new KEK with key material from ``rng``."""
        return cls(kek_id, _random(rng, KEK_BYTES))


class Keyring(Mapping[str, Kek]):
    """Read-only mapping ``kek_id -> Kek`` of the KEKs able to open envelopes."""

    __slots__ = ("_keks",)

    def __init__(self, keks: Iterable[Kek] = ()) -> None:
        by_id: dict[str, Kek] = {}
        for kek in keks:
            if not isinstance(kek, Kek):
                raise TypeError("a Keyring holds Kek instances only")
            if kek.kek_id in by_id:
                raise ValueError(f"duplicate kek id {kek.kek_id!r}")
            by_id[kek.kek_id] = kek
        self._keks = by_id

    def __getitem__(self, kek_id: str) -> Kek:
        return self._keks[kek_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keks)

    def __len__(self) -> int:
        return len(self._keks)

    def __repr__(self) -> str:
        return f"Keyring({sorted(self._keks)!r})"


@dataclass(frozen=True, slots=True)
class Envelope:
    """A sealed record: see the module docstring for the recipe and wire format.

    Construction validates only the shape of the fields; authenticity is checked by
    :func:`open_` and :func:`rewrap`. Invalid shapes raise :class:`EnvelopeError`.
    """

    version: int
    kek_id: str
    wrapped_key: bytes = field(repr=False)
    nonce: bytes
    ciphertext: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not (
            self.version == ENVELOPE_VERSION
            and isinstance(self.kek_id, str)
            and _KEK_ID.fullmatch(self.kek_id) is not None
            and isinstance(self.wrapped_key, bytes)
            and len(self.wrapped_key) == WRAPPED_KEY_BYTES
            and isinstance(self.nonce, bytes)
            and len(self.nonce) == NONCE_BYTES
            and isinstance(self.ciphertext, bytes)
            and len(self.ciphertext) >= TAG_BYTES
        ):
            raise EnvelopeError()

    def to_bytes(self) -> bytes:
        """Serialize to the strict version-1 wire format."""
        kek_id = self.kek_id.encode("ascii")
        return (
            bytes([self.version, len(kek_id)])
            + kek_id
            + self.wrapped_key
            + self.nonce
            + self.ciphertext
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse the wire format; anything malformed raises :class:`EnvelopeError`."""
        envelope = _parse(data)
        if envelope is None:
            raise EnvelopeError()
        return envelope


def _parse(data: bytes) -> Envelope | None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    data = bytes(data)
    if len(data) < _HEADER_BYTES or data[0] != ENVELOPE_VERSION:
        return None
    id_len = data[1]
    if not 1 <= id_len <= MAX_KEK_ID_BYTES:
        return None
    pos = _HEADER_BYTES
    raw_id = data[pos : pos + id_len]
    pos += id_len
    wrapped = data[pos : pos + WRAPPED_KEY_BYTES]
    pos += WRAPPED_KEY_BYTES
    nonce = data[pos : pos + NONCE_BYTES]
    pos += NONCE_BYTES
    ciphertext = data[pos:]
    if len(raw_id) != id_len or len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
        return None
    try:
        kek_id = raw_id.decode("ascii")
    except UnicodeDecodeError:
        return None
    if _KEK_ID.fullmatch(kek_id) is None:
        return None
    return Envelope(ENVELOPE_VERSION, kek_id, wrapped, nonce, ciphertext)


def _wrap(data_key: bytes, *, kek: Kek, record_id: bytes, rng: Rng) -> bytes:
    wrap_nonce = _random(rng, NONCE_BYTES)
    sealed = AESGCM(kek.key).encrypt(wrap_nonce, data_key, _wrap_aad(kek.kek_id, record_id))
    return wrap_nonce + sealed


def _unwrap(envelope: Envelope, *, record_id: bytes, keyring: Mapping[str, Kek]) -> bytes | None:
    """Return the data key, or None on any failure (never raises for bad input)."""
    try:
        kek = keyring.get(envelope.kek_id)
        if kek is None:
            return None
        wrap_nonce = envelope.wrapped_key[:NONCE_BYTES]
        sealed = envelope.wrapped_key[NONCE_BYTES:]
        data_key = AESGCM(kek.key).decrypt(
            wrap_nonce, sealed, _wrap_aad(envelope.kek_id, record_id)
        )
    except Exception:  # noqa: BLE001 - deliberately opaque: any failure is "cannot open"
        return None
    return data_key if len(data_key) == DATA_KEY_BYTES else None


def seal(
    plaintext: bytes,
    *,
    aad_record_id: bytes,
    category: str,
    kek: Kek,
    rng: Rng,
) -> Envelope:
    """Encrypt ``plaintext`` for record ``aad_record_id`` of ``category`` under ``kek``.

    Raises:
        ValueError: empty record id or category, or ``rng`` misbehaving.
    """
    _check_context(aad_record_id, category)
    data_key = _random(rng, DATA_KEY_BYTES)
    nonce = _random(rng, NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(
        nonce, bytes(plaintext), _data_aad(aad_record_id, category)
    )
    wrapped = _wrap(data_key, kek=kek, record_id=aad_record_id, rng=rng)
    return Envelope(ENVELOPE_VERSION, kek.kek_id, wrapped, nonce, ciphertext)


def open_(
    envelope: Envelope | bytes,
    *,
    aad_record_id: bytes,
    category: str,
    keyring: Mapping[str, Kek],
) -> bytes:
    """Decrypt an envelope (object or wire bytes) sealed for this record id and category.

    Raises:
        EnvelopeError: on any failure whatsoever, always with the same message.
    """
    plaintext = _open(envelope, record_id=aad_record_id, category=category, keyring=keyring)
    if plaintext is None:
        raise EnvelopeError()
    return plaintext


def _open(
    envelope: Envelope | bytes,
    *,
    record_id: bytes,
    category: str,
    keyring: Mapping[str, Kek],
) -> bytes | None:
    try:
        _check_context(record_id, category)
        parsed = envelope if isinstance(envelope, Envelope) else _parse(envelope)
        if parsed is None:
            return None
        data_key = _unwrap(parsed, record_id=record_id, keyring=keyring)
        if data_key is None:
            return None
        return AESGCM(data_key).decrypt(
            parsed.nonce, parsed.ciphertext, _data_aad(record_id, category)
        )
    except Exception:  # noqa: BLE001 - deliberately opaque: any failure is "cannot open"
        return None


def rewrap(
    envelope: Envelope,
    *,
    record_id: bytes,
    old_keyring: Mapping[str, Kek],
    new_kek: Kek,
    rng: Rng,
) -> Envelope:
    """Re-wrap the data key under ``new_kek`` (KEK rotation); ciphertext is unchanged.

    Only the wrapped key and ``kek_id`` change: nonce and ciphertext are copied byte for
    byte, so no plaintext is handled. The old wrapping must authenticate for
    ``record_id`` under a KEK in ``old_keyring``.

    Raises:
        EnvelopeError: the data key cannot be unwrapped (opaque, as for :func:`open_`).
    """
    data_key: bytes | None = None
    if isinstance(envelope, Envelope) and isinstance(record_id, bytes) and record_id:
        data_key = _unwrap(envelope, record_id=record_id, keyring=old_keyring)
    if data_key is None:
        raise EnvelopeError()
    wrapped = _wrap(data_key, kek=new_kek, record_id=record_id, rng=rng)
    return Envelope(ENVELOPE_VERSION, new_kek.kek_id, wrapped, envelope.nonce, envelope.ciphertext)


def new_salt(rng: Rng) -> bytes:
    """Draw a fresh 32-byte record salt for :func:`record_commitment`."""
    return _random(rng, SALT_BYTES)


def record_commitment(salt: bytes, canonical_record: bytes) -> bytes:
    """``SHA-256(salt || canonical_record)``, 32 bytes.

    ``salt`` is a random per-record 32-byte value stored (and erased) with the record, so
    that after erasure the commitment cannot be linked back to a guessed record.

    Raises:
        ValueError: ``salt`` is not exactly 32 bytes.
    """
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise ValueError(f"salt must be exactly {SALT_BYTES} bytes")
    return hashlib.sha256(salt + bytes(canonical_record)).digest()
