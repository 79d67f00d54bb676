"""The status-transition outbox's dead letter: a transition the ``RecordStatus`` contract
keeps refusing moves to state ``failed`` with its revert reason and the number of attempts,
instead of holding back every later transition. And ``free_text``: the lifecycle's free
texts, sealed (logs and rows keep their salted commitments only).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("status_change") as batch:
        batch.add_column(sa.Column("attempts", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failure", sa.String(), nullable=True))
    op.create_table(
        "free_text",
        sa.Column("id", _ROWID, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("kek_id", sa.String(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "purpose", name="uq_free_text_record_purpose"),
    )


def downgrade() -> None:
    op.drop_table("free_text")
    with op.batch_alter_table("status_change") as batch:
        batch.drop_column("failure")
        batch.drop_column("attempts")
