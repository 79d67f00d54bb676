"""Client side of cross-city reads (docs/formats.md §13): build and sign a
``RemoteReadRequest``, send it to the requester's **home** gateway, and open the partner
city's sealed answer locally with the requester's X25519 key — the home gateway relays
ciphertext it cannot open.

    reader = CrossCityReader(home_url, account, org_id, x25519_private,
                             chain_id=..., membership=...)
    answer = reader.read(target_city=610800, purpose=..., categories=[...],
                         category_mask=..., subject={...}, grant_id=...)
    answer["records"]          # opened here, never in clear on the wire
    answer["access_receipt"]   # the partner's signed receipt (its access log)
    answer["forward_receipt"]  # the home gateway's receipt of the forward (its access log)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from gateway.client import NONCE_BYTES, ClientError, DepartmentClient, _subject_digest
from gateway.domain.canonical import canonicalize, parse_json
from gateway.domain.envelope import SALT_BYTES
from gateway.domain.records import hex0x
from gateway.domain.sealed import open_sealed
from gateway.receipts import ReceiptStore

__all__ = ["CrossCityReader", "open_answer"]


def open_answer(answer: Mapping[str, Any], body: Mapping[str, Any], private_key: bytes) -> Any:
    """The released records of a partner's ``answer`` to the signed ``body``: the answer
    must name this request's hash, and its ``sealed`` payload open with ``private_key``
    (SealedOpenFailed otherwise)."""
    rhash = hashlib.sha256(canonicalize(dict(body))).digest()
    if answer.get("request_hash") != hex0x(rhash):
        raise ValueError("the answer is for another request")
    opened = parse_json(open_sealed(private_key, answer.get("sealed"), rhash))
    if not isinstance(opened, dict) or not isinstance(opened.get("records"), list):
        raise ValueError("the sealed payload is not a list of records")
    return opened["records"]


class CrossCityReader:
    """Read another city's records through one's home gateway."""

    def __init__(
        self,
        home_url: str,
        account: LocalAccount,
        org_id: bytes,
        x25519_private: bytes,
        *,
        chain_id: int,
        membership: str,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
        receipt_store: ReceiptStore | None = None,
    ) -> None:
        self._client = DepartmentClient(
            home_url,
            account,
            org_id,
            chain_id=chain_id,
            membership=membership,
            http=http,
            clock=clock,
            rng=rng,
            receipt_store=receipt_store,
        )
        self._private = x25519_private
        self.encryption_key = (
            X25519PrivateKey.from_private_bytes(x25519_private)
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    def close(self) -> None:
        self._client.close()

    def build(
        self,
        *,
        target_city: int,
        purpose: str,
        categories: Sequence[str],
        category_mask: int,
        subject: Mapping[str, str] | None = None,
        record_id: str | None = None,
        grant_id: bytes | None = None,
    ) -> dict[str, Any]:
        """The signed body of a cross-city read (``category_mask``: the catalog bits)."""
        c = self._client
        salt = c._random(SALT_BYTES) if subject is not None else None
        digest = _subject_digest(salt, subject) if subject and salt else b"\x00" * 32
        signed_at, nonce = int(c._clock()), c._random(NONCE_BYTES)
        value = c._sign(
            "RemoteReadRequest",
            {
                "requester": c.org_id,
                "targetCity": target_city,
                "subjectDigest": digest,
                "recordId": bytes.fromhex(record_id) if record_id else b"\x00" * 32,
                "purpose": keccak(text=purpose),
                "categories": category_mask,
                "grantId": grant_id or b"\x00" * 32,
                "encryptionKey": self.encryption_key,
                "signedAt": signed_at,
                "nonce": nonce,
            },
        )
        return {
            "requester": hex0x(c.org_id),
            "target_city": target_city,
            "subject": dict(subject) if subject else None,
            "subject_salt": salt.hex() if salt else None,
            "record_id": record_id,
            "purpose": purpose,
            "categories": list(categories),
            "grant_id": hex0x(grant_id) if grant_id else None,
            "encryption_key": hex0x(self.encryption_key),
            "signed_at": signed_at,
            "nonce": hex0x(nonce),
            "signature": hex0x(value),
        }

    def send(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a built body to the home gateway; the answer with ``records`` opened. A
        denial raises ClientError (its problem carries both receipts)."""
        c = self._client
        url = f"{c.base_url}/v1/federation/reads"
        try:
            answer = c._answer(c._http.post(url, json=dict(body)), ok=(200,))
        except ClientError as exc:
            self._keep(exc.problem)
            raise
        self._keep(answer)
        return {**answer, "records": open_answer(answer, body, self._private)}

    def _keep(self, doc: Mapping[str, Any]) -> None:
        """Keep both receipts, each with the gateway that proves it: the partner's access
        receipt with the partner's Directory URL, the forward receipt with the home's."""
        store, c = self._client.receipt_store, self._client
        if store is None:
            return
        partner = doc.get("partner_url")
        if isinstance(doc.get("access_receipt"), dict):
            url = partner.rstrip("/") if isinstance(partner, str) and partner else c.base_url
            store.add(url, [doc["access_receipt"]])
        if isinstance(doc.get("forward_receipt"), dict):
            store.add(c.base_url, [doc["forward_receipt"]])

    def read(self, **kwargs: Any) -> dict[str, Any]:
        return self.send(self.build(**kwargs))
