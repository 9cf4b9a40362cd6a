"""Model controls: token usage and finish reason of each reply, its rating, generation
settings and usage sums of each conversation, usage sums of each user.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Count = sa.BigInteger()


def usage_sums() -> list[sa.Column[int]]:
    return [
        sa.Column("prompt_tokens", Count, server_default="0", nullable=False),
        sa.Column("completion_tokens", Count, server_default="0", nullable=False),
    ]


def upgrade() -> None:
    # Columns only, no constraint: on SQLite a constraint would make Alembic copy the
    # messages table, and dropping the old copy cascades into the new one through
    # parent_id. Ratings are checked where they are written.
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("prompt_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("completion_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("finish_reason", sa.String(32), nullable=True))
        batch.add_column(sa.Column("rating", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("feedback", sa.Text(), nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("temperature", sa.Double(), nullable=True))
        batch.add_column(sa.Column("top_p", sa.Double(), nullable=True))
        batch.add_column(sa.Column("max_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("context_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("token_ratio", sa.Double(), nullable=True))
        for column in usage_sums():
            batch.add_column(column)
    with op.batch_alter_table("users") as batch:
        for column in usage_sums():
            batch.add_column(column)


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), never a batch: a batch copies the table on SQLite,
    # and dropping the old users or conversations table would cascade to every message.
    for table, columns in (
        ("users", ("completion_tokens", "prompt_tokens")),
        (
            "conversations",
            (
                "completion_tokens",
                "prompt_tokens",
                "token_ratio",
                "context_tokens",
                "max_tokens",
                "top_p",
                "temperature",
            ),
        ),
        ("messages", ("feedback", "rating", "finish_reason", "completion_tokens", "prompt_tokens")),
    ):
        for name in columns:
            op.drop_column(table, name)
