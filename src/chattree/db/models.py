"""The tables: users own conversations, conversations own a tree of messages.

The tree is an adjacency list (`parent_id`) with the depth stored, so appending a message
writes one row whatever the depth. Ids are allocated in insertion order and are the total
"newest" order of messages: two inserts in the same microsecond still differ by id.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chattree.db.estimate import estimate_of_inserted
from chattree.db.types import BigId, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    SYSTEM = "SYSTEM"
    USER = "USER"
    ASSISTANT = "ASSISTANT"


class Status(enum.StrEnum):
    COMPLETE = "COMPLETE"
    STREAMING = "STREAMING"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"


def enum_column(kind: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so adding a value never needs a PostgreSQL type.
    return Enum(kind, name=name, native_enum=False, create_constraint=True, length=16)


class UsageSums:
    """Token counts the model server reported, summed over every reply below: kept in
    the transaction of each reply's final write and of every delete, so reading them
    never scans."""

    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ServerSecret(Base):
    """Values generated once and shared by every process, e.g. the JWT secret."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class User(UsageSums, Base):
    __tablename__ = "users"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    # "<scheme>$<data>": argon2 hashes or plain text, so switching USE_HASH locks nobody out.
    password: Mapped[str] = mapped_column(Text)
    personality: Mapped[str | None] = mapped_column(Text)
    # Bumped on password change: tokens carry it, older ones stop working.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversation(UsageSums, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_user_updated", "user_id", "updated_at", "id"),
        # The listing: one user's archived or other conversations, pinned first, newest
        # first, read backwards along this index.
        Index("ix_conversations_listing", "user_id", "archived", "pinned", "updated_at", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # True while the model may still replace the provisional title.
    title_pending: Mapped[bool] = mapped_column(default=False, server_default=false())
    model: Mapped[str] = mapped_column(String(200))
    # The message the user is on. No foreign key: it would make the two tables reference
    # each other; a dangling value falls back to the newest message.
    current_message_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The message a fork copied its branch from. No foreign key, like current_message_id:
    # the source may be deleted, and the fork then simply has no origin.
    forked_from_id: Mapped[int | None] = mapped_column(BigId)
    archived: Mapped[bool] = mapped_column(default=False, server_default=false())
    pinned: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Generation settings; None: the model server's default (MODEL_CONTEXT_TOKENS, or
    # what the server reports, for the context window).
    temperature: Mapped[float | None] = mapped_column(Double)
    top_p: Mapped[float | None] = mapped_column(Double)
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    context_tokens: Mapped[int | None] = mapped_column(Integer)
    # Reported prompt tokens per estimated token of what was sent, from the last reply
    # with usage: fitting the context window scales its estimates by it.
    token_ratio: Mapped[float | None] = mapped_column(Double)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_parent", "parent_id", "id"),
        Index("ix_messages_streaming", "status", "heartbeat_at"),
        # One root per conversation, found by index: context fitting always sends it.
        Index(
            "ix_messages_root",
            "conversation_id",
            unique=True,
            sqlite_where=text("parent_id IS NULL"),
            postgresql_where=text("parent_id IS NULL"),
        ),
        CheckConstraint("depth >= 0", name="depth_not_negative"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(enum_column(Role, "message_role"))
    content: Mapped[str] = mapped_column(Text, default="")
    reasoning: Mapped[str | None] = mapped_column(Text)
    status: Mapped[Status] = mapped_column(enum_column(Status, "message_status"))
    error: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200))
    depth: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # While STREAMING: the number of the last live event whose text the row holds, and
    # when the generating process last proved it was alive.
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Estimated tokens of `content` (db/estimate.py), kept current with it.
    token_estimate: Mapped[int] = mapped_column(
        Integer, default=estimate_of_inserted, server_default="0"
    )
    # Assistant messages: how many messages of the branch the model was sent.
    context_message_count: Mapped[int | None] = mapped_column(Integer)
    # Assistant messages: the token counts the model server reported (summed over a
    # continued reply's requests; None when it reported none) and why it stopped.
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    # The owner's rating of a reply: 1 good, -1 bad.
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    feedback: Mapped[str | None] = mapped_column(Text)


class Share(Base):
    """A read-only link to the branch from the root to `message_id`. Only the token's
    SHA-256 is kept; revoking deletes the row, and deleting the message deletes it too."""

    __tablename__ = "shares"
    __table_args__ = (
        Index("ix_shares_conversation", "conversation_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateHit(Base):
    """One counted hit of a rate-limit key (a login attempt, a prompt), kept in the
    database so that every process counts the same hits. Rows past `expires_at` (Unix
    seconds) no longer count and are pruned."""

    __tablename__ = "rate_hits"
    __table_args__ = (
        Index("ix_rate_hits_key", "key", "expires_at"),
        Index("ix_rate_hits_expires", "expires_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[float] = mapped_column(Double)


class EventKind(enum.StrEnum):
    CONVERSATION_CREATED = "CONVERSATION_CREATED"
    CONVERSATION_UPDATED = "CONVERSATION_UPDATED"
    CONVERSATION_DELETED = "CONVERSATION_DELETED"
    MESSAGE_CREATED = "MESSAGE_CREATED"
    MESSAGE_UPDATED = "MESSAGE_UPDATED"
    MESSAGE_DELETED = "MESSAGE_DELETED"


class EventRow(Base):
    """One change to a user's conversations, written in the transaction of the change.
    Its id is the cursor of `conversationEvents`: a user's events are written one
    transaction at a time (see db/events.py), so their ids grow in commit order."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_user", "user_id", "id"),
        Index("ix_events_created", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    # No foreign keys: the event of a deletion outlives what it names.
    conversation_id: Mapped[int] = mapped_column(BigId)
    message_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
