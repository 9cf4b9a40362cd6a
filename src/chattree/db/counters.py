"""The SQL of the limits every process shares: the hits a rate limit counts, and what
one user is generating right now."""

from __future__ import annotations

import hashlib
from typing import Final

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db import tree
from chattree.db.models import Message, RateHit, Status, User

MAX_KEY = 200  # characters, as the column holds
# The first half of the two-part advisory lock keys of rate-limit keys; two-part keys
# never meet the one-part key of migrations.
LOCK_SPACE = 7_401


async def recent_hits(
    session: AsyncSession, *, key: str, now: float, lock: bool = True
) -> list[float]:
    """When each hit of `key` that still counts stops counting, soonest first. On
    PostgreSQL the key is locked until the transaction ends first (unless `lock` is
    False: the caller makes its counters take turns), so that two processes counting
    the same key take turns between counting and adding."""
    key = stored_key(key)
    if lock and session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
            {"space": LOCK_SPACE, "key": key},
        )
    expiries = await session.scalars(
        select(RateHit.expires_at)
        .where(RateHit.key == key, RateHit.expires_at > now)
        .order_by(RateHit.expires_at)
    )
    return list(expiries)


async def add_hit(session: AsyncSession, *, key: str, expires_at: float) -> None:
    session.add(RateHit(key=stored_key(key), expires_at=expires_at))


def stored_key(key: str) -> str:
    """`key` as a column can hold it: keys carry what clients sent (a username tried at
    login may hold NUL or a lone surrogate), so they are escaped to ASCII, and a long one
    becomes its digest (cutting it short could merge two keys)."""
    escaped = key.encode("unicode_escape").decode("ascii")
    if len(escaped) <= MAX_KEY:
        return escaped
    return "sha256:" + hashlib.sha256(escaped.encode()).hexdigest()


async def prune(session: AsyncSession, *, now: float, most: int = 10_000) -> None:
    """Drops up to `most` hits that no longer count. Rows another transaction is
    pruning are skipped, not waited for: two processes pruning at once could otherwise
    lock the same rows in different orders and deadlock."""
    expired = (
        select(RateHit.id)
        .where(RateHit.expires_at <= now)
        .limit(most)
        .with_for_update(skip_locked=True)
    )
    await session.execute(delete(RateHit).where(RateHit.id.in_(expired)))


async def lock_user(session: AsyncSession, *, user_id: int) -> None:
    """Holds the user's row until the transaction ends, so two transactions of one user
    that count and then write take turns, across processes. FOR NO KEY UPDATE does not
    block the foreign-key checks of inserts that reference the user. (SQLite renders no
    locking clause: its write transactions already take turns.)"""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
    locked_users(session).add(user_id)


# session.info key of the users whose rows this transaction holds.
LOCKED: Final = "chattree.locked_users"


def locked_users(session: AsyncSession) -> set[int]:
    """The users whose rows the session's transaction locked (`lock_user`)."""
    found: set[int] = session.info.setdefault(LOCKED, set())
    return found


async def streaming_count(session: AsyncSession, *, user_id: int) -> int:
    """The user's replies being generated. ix_messages_streaming finds the STREAMING
    rows, few by nature, before their conversations are checked."""
    count = await session.scalar(
        select(func.count(Message.id)).where(
            Message.status == Status.STREAMING, tree.owned_by(user_id)
        )
    )
    return count or 0
