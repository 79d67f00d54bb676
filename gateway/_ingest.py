"""Batch-native ingest helpers: the per-record work of a submission done in one pass.

:class:`ReceiptSigner` signs the receipts of a batch (docs/formats.md §6) with libsecp256k1
directly: the EIP-712 ``Receipt`` digest is assembled from the words that are the same for
every receipt of the batch (type hash, log id, times) and the two that differ (index, leaf
hash), one RFC 6979 signature each, byte for byte what :func:`gateway.domain.records.
make_receipt` with :func:`gateway.domain.signing.fast_typed_signer` gives (tested), without the
per-receipt objects and strict message checks (every value here is built by the gateway).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import coincurve

from gateway.domain.canonical import MAX_SAFE_INTEGER
from gateway.domain.catalog import DISCLOSURE_END, Catalog
from gateway.domain.lifecycle import retain_until
from gateway.domain.records import hex0x
from gateway.domain.signing import (
    _TYPE_HASHES,
    SigningDomain,
    SigningKey,
    _digest_prefix,
    _keccak_fast,
    _private_key_bytes,
    check_signature_encoding,
)

_MAX = MAX_SAFE_INTEGER  # a receipt's integers: uint64 on chain, within JSON's safe range


class ReceiptSigner:
    """Signs receipts for one log of one gateway in one signing domain."""

    def __init__(self, key: SigningKey, domain: SigningDomain, *, log_id: bytes, gateway: bytes):
        if len(log_id) != 32 or len(gateway) != 32:
            raise ValueError("log id and gateway org id are 32 bytes")
        self._private = coincurve.PrivateKey(_private_key_bytes(key))
        self._prefix = _digest_prefix(domain)
        self._head = _TYPE_HASHES["Receipt"] + log_id
        self._log_id = hex0x(log_id)
        self._gateway = hex0x(gateway)

    def sign(
        self, items: list[tuple[int, bytes]], *, received_at: int, anchor_by: int
    ) -> list[tuple[dict[str, Any], str]]:
        """The signed receipt of each ``(index, leaf hash)``: as a JSON object and as the
        stored text (``json.dumps(receipt, sort_keys=True)``, the form ``record.receipt``
        has always held)."""
        if not 0 <= received_at <= anchor_by <= _MAX:
            raise ValueError("need 0 <= received_at <= anchor_by <= 2**53 - 1")
        times = received_at.to_bytes(32, "big") + anchor_by.to_bytes(32, "big")
        head, prefix, keccak = self._head, self._prefix, _keccak_fast
        sign = self._private.sign_recoverable
        log_id, gateway = self._log_id, self._gateway
        text_head = f'{{"anchor_by": {anchor_by}, "gateway": "{gateway}", "index": '
        out: list[tuple[dict[str, Any], str]] = []
        for index, leaf in items:
            if not 0 <= index <= _MAX or len(leaf) != 32:
                raise ValueError("receipt index out of range or leaf hash not 32 bytes")
            struct = keccak(head + index.to_bytes(32, "big") + leaf + times)
            raw = sign(keccak(prefix + struct), hasher=None)  # r (32) || s (32) || recid
            signature = raw[:64] + bytes((raw[64] + 27,))
            check_signature_encoding(signature)  # libsecp256k1 signs low-s; keep the promise
            leaf_hex, sig_hex = leaf.hex(), "0x" + signature.hex()
            receipt = {
                "log_id": log_id,
                "index": index,
                "leaf_hash": leaf_hex,
                "received_at": received_at,
                "anchor_by": anchor_by,
                "gateway": gateway,
                "signature": sig_hex,
            }
            text = (
                f'{text_head}{index}, "leaf_hash": "{leaf_hex}", "log_id": "{log_id}", '
                f'"received_at": {received_at}, "signature": "{sig_hex}"}}'
            )
            out.append((receipt, text))
        return out


RECORD_COLUMNS: Final = (
    "record_id",
    "log_index",
    "org_id",
    "category",
    "subject_commitment",
    "commitment",
    "dedup_key",
    "envelope",
    "kek_id",
    "status",
    "received_at",
    "receipt",
    "submission_id",
    "retain_until",
    "successor",
    "status_version",
    "legal_hold",
    "erased_at",
)
"""Every column of a ``record`` row, in the order ``_store`` builds its tuples."""


class Retention:
    """``retain_until`` of a batch's records, each distinct (category, anchor date) computed
    once. A category's retention counts from one date field (its retention rule's anchor, or
    its disclosure rule's anchor when retention runs from the end of disclosure); that field
    alone decides (:func:`gateway.domain.lifecycle.retention_end`)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._memo: dict[tuple[str, object], int] = {}

    def until(self, category_code: str, fields: Mapping[str, Any]) -> int:
        category = self._catalog.category(category_code)
        rule = category.retention_period
        anchor = category.disclosure_period.anchor if rule.anchor == DISCLOSURE_END else rule.anchor
        value = fields.get(anchor)
        if not isinstance(value, str):  # no date: as retain_until decides for the record
            return retain_until(category, fields)
        key = (category_code, value)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = retain_until(category, {anchor: value})
        return found


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False
_gc_collected_at = 0.0
GC_MAX_PAUSE = 2.0
"""Seconds the collector may stay off while batches keep overlapping: past that, the batch
that ends runs one collection itself (cyclic garbage stays bounded under constant load)."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a batch is handled (reference counting still
    frees everything a batch drops; the collector's passes over the batch's thousands of live
    objects are what it saves). Counted across threads: the collector comes back on when
    the last batch in flight ends, and only if it was on before the first began; while batches
    keep overlapping, one collection runs every :data:`GC_MAX_PAUSE` seconds."""
    global _gc_holders, _gc_was_enabled, _gc_collected_at
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            _gc_collected_at = time.monotonic()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        collect = False
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0:
                if _gc_was_enabled:
                    gc.enable()
            elif _gc_was_enabled and time.monotonic() - _gc_collected_at > GC_MAX_PAUSE:
                _gc_collected_at = time.monotonic()
                collect = True
        if collect:
            gc.collect()
