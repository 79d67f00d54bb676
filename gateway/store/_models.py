"""The gateway's tables (SQLModel, ``table=True``).

Column types are chosen to mean the same on SQLite and PostgreSQL: ``bytes`` columns are
:class:`~sqlalchemy.LargeBinary` (``BLOB`` / ``BYTEA``); indices, sizes and Unix times are
``BIGINT`` (no 2038 overflow, logs beyond 2**31 leaves); surrogate keys are ``BIGINT`` on
PostgreSQL and SQLite's ``INTEGER PRIMARY KEY`` (the 64-bit rowid) on SQLite. Every constraint and
index is named explicitly so that migrations can refer to it on both databases.

The schema is created and evolved only by the Alembic migrations in ``migrations/``
(:func:`gateway.store.upgrade`); a test holds the migrations and these models to the same schema.

The Merkle log (``log_head``, ``log_node``, ``log_entry``) is written only through
:class:`gateway.store.DbLog`; the ``*_TABLE`` constants are the Core tables it uses.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = [
    "ANCHOR_STATES",
    "LOG_ENTRY_TABLE",
    "LOG_HEAD_TABLE",
    "LOG_NODE_TABLE",
    "AccessDecision",
    "Anchor",
    "FreeText",
    "Kek",
    "LogEntry",
    "LogHead",
    "LogNode",
    "Objection",
    "Record",
    "Repair",
    "StatusChange",
    "Submission",
]

_BIGINT: Final = sa.BigInteger()
_ROWID: Final = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""Autoincrementing surrogate key: SQLite only aliases the rowid for exactly ``INTEGER``."""

ANCHOR_STATES: Final = ("prepared", "sent", "confirmed")
"""Lifecycle of an anchoring outbox row, in order."""


class LogHead(SQLModel, table=True):
    """One row per Merkle log; its row lock serializes appends (see :class:`DbLog`)."""

    __tablename__ = "log_head"

    log_name: str = Field(primary_key=True)
    size: int = Field(sa_type=_BIGINT, description="number of leaves")


class LogNode(SQLModel, table=True):
    """The hash of perfect subtree (level, idx): leaves ``[idx << level, (idx + 1) << level)``.

    Level 0 holds the leaf hashes; a node is written in the transaction that completes it.
    On SQLite this table and ``log_entry`` are ``WITHOUT ROWID``: rows clustered on the primary
    key, one B-tree instead of a table plus its key index.
    """

    __tablename__ = "log_node"
    __table_args__ = {"sqlite_with_rowid": False}

    log_name: str = Field(primary_key=True)
    level: int = Field(
        primary_key=True, sa_type=sa.Integer(), sa_column_kwargs={"autoincrement": False}
    )
    idx: int = Field(primary_key=True, sa_type=_BIGINT, sa_column_kwargs={"autoincrement": False})
    hash: bytes = Field(sa_type=sa.LargeBinary())


class LogEntry(SQLModel, table=True):
    """A leaf entry, byte for byte as hashed (canonical JSON)."""

    __tablename__ = "log_entry"
    __table_args__ = (
        sa.Index("ix_log_entry_leaf_hash", "log_name", "leaf_hash", unique=True),
        {"sqlite_with_rowid": False},
    )

    log_name: str = Field(primary_key=True)
    idx: int = Field(primary_key=True, sa_type=_BIGINT, sa_column_kwargs={"autoincrement": False})
    entry: bytes = Field(sa_type=sa.LargeBinary())
    leaf_hash: bytes = Field(sa_type=sa.LargeBinary())


class Submission(SQLModel, table=True):
    """An accepted signed submission: replay protection and idempotent resubmission."""

    __tablename__ = "submission"
    __table_args__ = (sa.UniqueConstraint("org_id", "nonce", name="uq_submission_org_nonce"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROWID)
    org_id: str
    nonce: str
    request_digest: bytes = Field(
        sa_type=sa.LargeBinary(), description="SHA-256 of the signed request"
    )
    received_at: int = Field(sa_type=_BIGINT)


class Record(SQLModel, table=True):
    """A submitted credit record: its encrypted envelope and its place in the records log."""

    __tablename__ = "record"
    __table_args__ = (
        sa.UniqueConstraint("log_index", name="uq_record_log_index"),
        sa.UniqueConstraint("dedup_key", name="uq_record_dedup_key"),
        sa.Index("ix_record_subject_commitment", "subject_commitment"),
        sa.Index("ix_record_submission_id", "submission_id"),
        sa.Index("ix_record_retain_until", "retain_until"),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submission.id"], name="fk_record_submission_id"
        ),
    )

    record_id: str = Field(primary_key=True, description="hex leaf hash in the records log")
    log_index: int = Field(sa_type=_BIGINT)
    org_id: str
    category: str
    subject_commitment: str = Field(description="hex")
    commitment: str = Field(description="hex record commitment")
    dedup_key: bytes = Field(
        sa_type=sa.LargeBinary(), description="HMAC of the canonical record (idempotency)"
    )
    envelope: bytes | None = Field(
        default=None, sa_type=sa.LargeBinary(), description="null after erasure"
    )
    kek_id: str
    status: str = Field(default="active", sa_column_kwargs={"server_default": "active"})
    received_at: int = Field(sa_type=_BIGINT)
    receipt: str = Field(sa_type=sa.Text(), description="signed receipt, JSON text")
    submission_id: int = Field(sa_type=_BIGINT)
    successor: str | None = Field(default=None, description="hex record id of the correction")
    status_version: int = Field(
        default=0,
        sa_type=_BIGINT,
        sa_column_kwargs={"server_default": "0"},
        description="lifecycle transitions so far (RecordStatus version)",
    )
    legal_hold: bool = Field(
        default=False,
        sa_column_kwargs={"server_default": sa.false()},
        description="retention erasure paused",
    )
    retain_until: int | None = Field(
        default=None, sa_type=_BIGINT, description="Unix time the retention period ends"
    )
    erased_at: int | None = Field(default=None, sa_type=_BIGINT)


class Anchor(SQLModel, table=True):
    """Anchoring outbox: a checkpoint (size, root) of a log on its way on chain."""

    __tablename__ = "anchor"
    __table_args__ = (
        sa.UniqueConstraint("log_name", "size", name="uq_anchor_log_size"),
        sa.CheckConstraint("state IN ('prepared', 'sent', 'confirmed')", name="ck_anchor_state"),
        sa.Index("ix_anchor_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROWID)
    log_name: str
    size: int = Field(sa_type=_BIGINT)
    root: bytes = Field(sa_type=sa.LargeBinary())
    from_size: int = Field(sa_type=_BIGINT)
    state: str = Field(description="prepared | sent | confirmed")
    tx_hash: str | None = None
    block_number: int | None = Field(default=None, sa_type=_BIGINT)
    block_hash: str | None = None
    created_at: int = Field(sa_type=_BIGINT)
    updated_at: int = Field(sa_type=_BIGINT)


class AccessDecision(SQLModel, table=True):
    """One access decision about one record (or about a query that matched none), pointing at
    its leaf in the access log: the index for subjects' and auditors' traces."""

    __tablename__ = "access_decision"
    __table_args__ = (
        sa.Index("ix_access_decision_subject", "subject_commitment", "decided_at"),
        sa.Index("ix_access_decision_requester", "requester", "decided_at"),
        sa.Index("ix_access_decision_record", "record_id"),
        sa.Index("ix_access_decision_log_index", "log_index"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROWID)
    log_index: int = Field(sa_type=_BIGINT, description="index of the entry in the access log")
    requester: str = Field(description="0x org id")
    subject_commitment: str = Field(description="hex")
    record_id: str | None = Field(default=None, description="hex; null: no record matched")
    purpose: str
    decision: str = Field(description="allow | deny")
    reason: str
    basis: str | None = None
    grant_id: str | None = None
    decided_at: int = Field(sa_type=_BIGINT)


class Objection(SQLModel, table=True):
    """A subject's objection to a record (异议), open until the department resolves it."""

    __tablename__ = "objection"
    __table_args__ = (
        sa.Index("ix_objection_record", "record_id"),
        sa.Index("ix_objection_state_deadline", "state", "deadline"),
        sa.ForeignKeyConstraint(["record_id"], ["record.record_id"], name="fk_objection_record"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROWID)
    record_id: str
    subject_commitment: str
    reason: str
    evidence_hash: str
    filed_at: int = Field(sa_type=_BIGINT)
    deadline: int = Field(sa_type=_BIGINT)
    state: str = Field(description="open | rejected | corrected | withdrawn | erased")
    resolved_at: int | None = Field(default=None, sa_type=_BIGINT)
    resolution: str | None = None


class Repair(SQLModel, table=True):
    """A subject's credit-repair application (信用修复) on a record."""

    __tablename__ = "repair"
    __table_args__ = (
        sa.Index("ix_repair_record", "record_id"),
        sa.ForeignKeyConstraint(["record_id"], ["record.record_id"], name="fk_repair_record"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROWID)
    record_id: str
    subject_commitment: str
    reason: str
    filed_at: int = Field(sa_type=_BIGINT)
    state: str = Field(description="pending | approved | rejected")
    decided_at: int | None = Field(default=None, sa_type=_BIGINT)
    decided_by: str | None = None
    decision_reason: str | None = None


class StatusChange(SQLModel, table=True):
    """A lifecycle transition: its records-log leaf, and the outbox of its on-chain relay."""

    __tablename__ = "status_change"
    __table_args__ = (
        sa.UniqueConstraint("record_id", "version", name="uq_status_change_record_version"),
        sa.Index("ix_status_change_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROWID)
    record_id: str
    version: int = Field(sa_type=_BIGINT)
    from_status: str
    to_status: str
    transition: str = Field(sa_type=sa.Text(), description="the signed Transition, JSON text")
    signature: str
    actor: str
    log_index: int = Field(sa_type=_BIGINT)
    state: str = Field(
        description="pending | confirmed | failed (dead letter: the contract refused it)"
    )
    tx_hash: str | None = None
    created_at: int = Field(sa_type=_BIGINT)
    updated_at: int = Field(sa_type=_BIGINT)
    attempts: int = Field(
        default=0,
        sa_type=_BIGINT,
        sa_column_kwargs={"server_default": "0"},
        description="relay attempts the contract refused",
    )
    failure: str | None = Field(default=None, description="the last revert reason")


class FreeText(SQLModel, table=True):
    """A free text of the lifecycle (a transition's reason or note, an objection's or a repair
    application's reason, an office's decision reason), sealed: logs and other rows hold only
    its salted commitment. ``purpose`` names what the text is (``status:<version>:reason``,
    ``objection:<id>``, …) and is bound with the record id into the envelope's AAD; an
    erasure deletes the record's texts."""

    __tablename__ = "free_text"
    __table_args__ = (
        sa.UniqueConstraint("record_id", "purpose", name="uq_free_text_record_purpose"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROWID)
    record_id: str
    purpose: str
    kek_id: str
    envelope: bytes = Field(sa_type=sa.LargeBinary(), description="sealed {text, salt}")


class Kek(SQLModel, table=True):
    """Key-encryption key metadata; the key material itself is never stored in the database."""

    __tablename__ = "kek"

    kek_id: str = Field(primary_key=True)
    created_at: int = Field(sa_type=_BIGINT)
    retired_at: int | None = Field(default=None, sa_type=_BIGINT)


LOG_HEAD_TABLE: Final[sa.Table] = LogHead.__table__  # type: ignore[attr-defined]
LOG_NODE_TABLE: Final[sa.Table] = LogNode.__table__  # type: ignore[attr-defined]
LOG_ENTRY_TABLE: Final[sa.Table] = LogEntry.__table__  # type: ignore[attr-defined]
