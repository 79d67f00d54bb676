"""Record lifecycle: status version and successor, legal hold, retention date, erasure time;
objections, credit-repair applications, and the outbox of on-chain status transitions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger()
_ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("record") as batch:
        batch.add_column(sa.Column("successor", sa.String(), nullable=True))
        batch.add_column(sa.Column("status_version", _BIGINT, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("retain_until", _BIGINT, nullable=True))
        batch.add_column(sa.Column("erased_at", _BIGINT, nullable=True))
    op.create_index("ix_record_retain_until", "record", ["retain_until"])
    op.create_table(
        "objection",
        sa.Column("id", _ROWID, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("subject_commitment", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("evidence_hash", sa.String(), nullable=False),
        sa.Column("filed_at", _BIGINT, nullable=False),
        sa.Column("deadline", _BIGINT, nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("resolved_at", _BIGINT, nullable=True),
        sa.Column("resolution", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["record_id"], ["record.record_id"], name="fk_objection_record"),
    )
    op.create_index("ix_objection_record", "objection", ["record_id"])
    op.create_index("ix_objection_state_deadline", "objection", ["state", "deadline"])
    op.create_table(
        "repair",
        sa.Column("id", _ROWID, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("subject_commitment", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("filed_at", _BIGINT, nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("decided_at", _BIGINT, nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decision_reason", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["record_id"], ["record.record_id"], name="fk_repair_record"),
    )
    op.create_index("ix_repair_record", "repair", ["record_id"])
    op.create_table(
        "status_change",
        sa.Column("id", _ROWID, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("version", _BIGINT, nullable=False),
        sa.Column("from_status", sa.String(), nullable=False),
        sa.Column("to_status", sa.String(), nullable=False),
        sa.Column("transition", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("log_index", _BIGINT, nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=True),
        sa.Column("created_at", _BIGINT, nullable=False),
        sa.Column("updated_at", _BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "version", name="uq_status_change_record_version"),
    )
    op.create_index("ix_status_change_state", "status_change", ["state"])


def downgrade() -> None:
    op.drop_table("status_change")
    op.drop_table("repair")
    op.drop_table("objection")
    op.drop_index("ix_record_retain_until", "record")
    with op.batch_alter_table("record") as batch:
        for column in ("erased_at", "retain_until", "legal_hold", "status_version", "successor"):
            batch.drop_column(column)
