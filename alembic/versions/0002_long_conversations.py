"""Long conversations: a token estimate per message, the size of each reply's context, and
an index that finds a conversation's root.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As chattree.db.estimate computes it for new rows, on characters rather than bytes:
# SQL has no portable UTF-8 byte length, and this only seeds rows written before.
BACKFILL = "UPDATE messages SET token_estimate = (length(content) + 3) / 4 + 4"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("token_estimate", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("context_message_count", sa.Integer(), nullable=True))
    op.execute(BACKFILL)
    op.create_index(
        "ix_messages_root",
        "messages",
        ["conversation_id"],
        unique=True,
        sqlite_where=sa.text("parent_id IS NULL"),
        postgresql_where=sa.text("parent_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_root", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("context_message_count")
        batch.drop_column("token_estimate")
