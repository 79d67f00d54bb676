"""The lifecycle's free texts, sealed (issue 9, finding 8b).

A transition's reason and note, an objection's and a repair application's reason and an
office's decision reason are personal and free-form: the records log, the ``RecordStatus``
contract and the other rows carry only their salted commitment
(:func:`gateway.domain.lifecycle.text_commitment`); the text and its salt are sealed here with
the one envelope recipe (:func:`gateway.domain.envelope.seal`, the KEK keyring), the AAD
binding the record id and the text's purpose, for the views entitled to show them. An erasure
deletes the record's texts with its envelope.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from gateway._requests_log import shown_objections
from gateway._service import Gateway
from gateway.domain.envelope import open_, seal
from gateway.domain.lifecycle import text_commitment
from gateway.store import FreeText, Objection, session_scope

__all__ = ["commit_text", "open_text", "shred_texts", "subject_objections"]


def _category(purpose: str) -> str:
    return f"free-text/{purpose}"


def commit_text(
    gw: Gateway, s: Any, record_id: str, purpose: str, text: str, salt: bytes | None = None
) -> str:
    """Seal ``text`` (with ``salt``, drawn when None) for ``record_id`` and ``purpose`` in
    session ``s``; its commitment."""
    salt = gw.rng(32) if salt is None else salt
    commitment = text_commitment(salt, text)
    kek = gw.secrets.active_kek
    plain = json.dumps({"text": text, "salt": salt.hex()}, sort_keys=True).encode("utf-8")
    envelope = seal(
        plain,
        aad_record_id=bytes.fromhex(record_id),
        category=_category(purpose),
        kek=kek,
        rng=gw.rng,
    )
    s.add(
        FreeText(
            record_id=record_id, purpose=purpose, kek_id=kek.kek_id, envelope=envelope.to_bytes()
        )
    )
    return commitment


def open_text(gw: Gateway, s: Any, record_id: str, purpose: str) -> str | None:
    """The text sealed for ``record_id`` and ``purpose`` (None: none, or erased)."""
    row = s.exec(
        select(FreeText).where(FreeText.record_id == record_id, FreeText.purpose == purpose)
    ).first()
    if row is None:
        return None
    plain = open_(
        row.envelope,
        aad_record_id=bytes.fromhex(record_id),
        category=_category(purpose),
        keyring=gw.secrets.keyring,
    )
    return str(json.loads(plain)["text"])


def shred_texts(s: Any, record_id: str) -> None:
    """Delete every text of ``record_id`` (in the erasure's transaction)."""
    s.execute(sa.delete(FreeText).where(col(FreeText.record_id) == record_id))


def subject_objections(gw: Gateway, commitment: str) -> list[dict[str, Any]]:
    """The subject's own objections (``commitment``: its subject commitment, hex), with their
    reasons opened: for the subject's view of its file."""
    with session_scope(gw.engine, read_only=True) as s:
        rows = s.exec(
            select(Objection)
            .where(Objection.subject_commitment == commitment)
            .order_by(col(Objection.id))
        ).all()
        return [
            {
                "objection": o.id,
                "record_id": o.record_id,
                "reason": reason,
                "state": o.state,
                "filed_at": o.filed_at,
                "deadline": o.deadline,
            }
            for o, reason in shown_objections(gw, s, rows)
        ]
