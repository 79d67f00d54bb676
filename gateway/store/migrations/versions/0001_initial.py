"""Initial schema: Merkle logs, records, submissions, anchoring outbox, KEK metadata.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger()
_ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WITHOUT_ROWID = {"sqlite_with_rowid": False}


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "log_head",
        sa.Column("log_name", sa.String(), nullable=False),
        sa.Column("size", _BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("log_name"),
    )
    op.create_table(
        "log_node",
        sa.Column("log_name", sa.String(), nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", _BIGINT, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("log_name", "level", "idx"),
        **_WITHOUT_ROWID,
    )
    op.create_table(
        "log_entry",
        sa.Column("log_name", sa.String(), nullable=False),
        sa.Column("idx", _BIGINT, autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("log_name", "idx"),
        **_WITHOUT_ROWID,
    )
    op.create_index("ix_log_entry_leaf_hash", "log_entry", ["log_name", "leaf_hash"], unique=True)
    op.create_table(
        "submission",
        sa.Column("id", _ROWID, autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(), nullable=False),
        sa.Column("nonce", sa.String(), nullable=False),
        sa.Column("request_digest", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", _BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "nonce", name="uq_submission_org_nonce"),
    )
    op.create_table(
        "record",
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("log_index", _BIGINT, nullable=False),
        sa.Column("org_id", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("subject_commitment", sa.String(), nullable=False),
        sa.Column("commitment", sa.String(), nullable=False),
        sa.Column("dedup_key", sa.LargeBinary(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), server_default="active", nullable=False),
        sa.Column("received_at", _BIGINT, nullable=False),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("submission_id", _BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
        sa.UniqueConstraint("log_index", name="uq_record_log_index"),
        sa.UniqueConstraint("dedup_key", name="uq_record_dedup_key"),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submission.id"], name="fk_record_submission_id"
        ),
    )
    op.create_index("ix_record_subject_commitment", "record", ["subject_commitment"])
    op.create_index("ix_record_submission_id", "record", ["submission_id"])
    op.create_table(
        "anchor",
        sa.Column("id", _ROWID, autoincrement=True, nullable=False),
        sa.Column("log_name", sa.String(), nullable=False),
        sa.Column("size", _BIGINT, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("from_size", _BIGINT, nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=True),
        sa.Column("block_number", _BIGINT, nullable=True),
        sa.Column("block_hash", sa.String(), nullable=True),
        sa.Column("created_at", _BIGINT, nullable=False),
        sa.Column("updated_at", _BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("log_name", "size", name="uq_anchor_log_size"),
        sa.CheckConstraint("state IN ('prepared', 'sent', 'confirmed')", name="ck_anchor_state"),
    )
    op.create_index("ix_anchor_state", "anchor", ["state"])
    op.create_table(
        "kek",
        sa.Column("kek_id", sa.String(), nullable=False),
        sa.Column("created_at", _BIGINT, nullable=False),
        sa.Column("retired_at", _BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("kek_id"),
    )


def downgrade() -> None:
    """Drop every table (destroys all data)."""
    op.drop_table("kek")
    op.drop_index("ix_anchor_state", table_name="anchor")
    op.drop_table("anchor")
    op.drop_index("ix_record_submission_id", table_name="record")
    op.drop_index("ix_record_subject_commitment", table_name="record")
    op.drop_table("record")
    op.drop_table("submission")
    op.drop_index("ix_log_entry_leaf_hash", table_name="log_entry")
    op.drop_table("log_entry")
    op.drop_table("log_node")
    op.drop_table("log_head")
