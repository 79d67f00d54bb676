"""Access decisions: the index of the access log for subjects' and auditors' traces.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger()
_ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "access_decision",
        sa.Column("id", _ROWID, autoincrement=True, nullable=False),
        sa.Column("log_index", _BIGINT, nullable=False),
        sa.Column("requester", sa.String(), nullable=False),
        sa.Column("subject_commitment", sa.String(), nullable=False),
        sa.Column("record_id", sa.String(), nullable=True),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("basis", sa.String(), nullable=True),
        sa.Column("grant_id", sa.String(), nullable=True),
        sa.Column("decided_at", _BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_access_decision_subject", "access_decision", ["subject_commitment", "decided_at"]
    )
    op.create_index("ix_access_decision_requester", "access_decision", ["requester", "decided_at"])
    op.create_index("ix_access_decision_record", "access_decision", ["record_id"])
    op.create_index("ix_access_decision_log_index", "access_decision", ["log_index"])


def downgrade() -> None:
    op.drop_table("access_decision")
