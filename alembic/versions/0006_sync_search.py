"""Live sync, search, archive and pin: the per-user event log, full-text indexes over
messages and titles (filled from the rows already there), and the archived and pinned
flags of conversations with the index that lists them.

SQLite: FTS5 tables with external content (the text stays in `messages` and
`conversations`; the index holds only tokens), kept current by triggers, tokenized with
`porter unicode61 remove_diacritics 2` (stems, case and accents folded).

PostgreSQL: a stored generated `tsvector` column with a GIN index on each table. The
configuration is `english` (Snowball stemming) over the text with its accents removed by
`normalize(..., NFD)` and a regexp, both built in and immutable. `unaccent` would do the
folding but is a contrib extension: not every host offers it, CREATE EXTENSION needs
rights the application role may lack, and its function is not immutable, so a generated
column could not call it directly. Nothing here needs an extension.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)

# Keep in step with chattree.db.search.FOLDED (the query side folds the same way).
POSTGRES_VECTOR = (
    "to_tsvector('english'::regconfig, "
    "regexp_replace(normalize({column}, NFD), '[\\u0300-\\u036f]', '', 'g'))"
)

SQLITE_INDEXES = {
    # FTS5 table: (content table, indexed column)
    "messages_fts": ("messages", "content"),
    "conversations_fts": ("conversations", "title"),
}


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        # No foreign keys: the event of a deletion outlives what it names.
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_user", "events", ["user_id", "id"])
    op.create_index("ix_events_created", "events", ["created_at"])

    # Plain ADD COLUMN, not a batch: a batch would copy `conversations` into a new table on
    # SQLite, and dropping the old one would cascade to every message.
    for flag in ("archived", "pinned"):
        op.add_column(
            "conversations",
            sa.Column(flag, sa.Boolean(), server_default=sa.false(), nullable=False),
        )
    op.create_index(
        "ix_conversations_listing",
        "conversations",
        ["user_id", "archived", "pinned", "updated_at", "id"],
    )

    if op.get_bind().dialect.name == "postgresql":
        for table, column in (("messages", "content"), ("conversations", "title")):
            # Adding a stored generated column computes it for every existing row.
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
                f"GENERATED ALWAYS AS ({POSTGRES_VECTOR.format(column=column)}) STORED"
            )
            op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_vector)")
    else:
        for fts, (table, column) in SQLITE_INDEXES.items():
            create_sqlite_index(fts, table, column)


def create_sqlite_index(fts: str, table: str, column: str) -> None:
    op.execute(
        f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', "
        "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column}); END"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column}); END"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {column} ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column}); "
        f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column}); END"
    )
    # Indexes the rows already there.
    op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("messages", "conversations"):
            op.execute(f"DROP INDEX ix_{table}_search")
            op.execute(f"ALTER TABLE {table} DROP COLUMN search_vector")
    else:
        for fts in SQLITE_INDEXES:
            for trigger in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {fts}_{trigger}")
            op.execute(f"DROP TABLE {fts}")
    op.drop_index("ix_conversations_listing", table_name="conversations")
    for flag in ("pinned", "archived"):
        op.drop_column("conversations", flag)
    op.drop_index("ix_events_created", table_name="events")
    op.drop_index("ix_events_user", table_name="events")
    op.drop_table("events")
