"""Rate hits: the login attempts, registrations and prompts that rate limits count,
shared by every process.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rate_hits",
        sa.Column("id", Id, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_hits")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_rate_hits_key", "rate_hits", ["key", "expires_at"])
    op.create_index("ix_rate_hits_expires", "rate_hits", ["expires_at"])


def downgrade() -> None:
    op.drop_table("rate_hits")
