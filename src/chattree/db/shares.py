"""Share links: rows found by the hash of their token, live until revoked or expired."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db.models import Conversation, Share


def live(now: datetime) -> ColumnElement[bool]:
    return or_(Share.expires_at.is_(None), Share.expires_at > now)


async def live_by_hash(session: AsyncSession, *, token_hash: str, now: datetime) -> Share | None:
    return await session.scalar(select(Share).where(Share.token_hash == token_hash, live(now)))


async def live_of(
    session: AsyncSession, conversation_ids: Sequence[int], *, user_id: int, now: datetime
) -> dict[int, list[Share]]:
    """For each of the user's conversations, its live shares, newest first."""
    rows = await session.scalars(
        select(Share)
        .join(Conversation, Conversation.id == Share.conversation_id)
        .where(
            Share.conversation_id.in_(conversation_ids), Conversation.user_id == user_id, live(now)
        )
        .order_by(Share.id.desc())
    )
    found: dict[int, list[Share]] = {conversation_id: [] for conversation_id in conversation_ids}
    for share in rows:
        found[share.conversation_id].append(share)
    return found


async def revoke(session: AsyncSession, *, share_id: int, user_id: int) -> bool:
    owned = select(Conversation.id).where(Conversation.user_id == user_id)
    result = await session.execute(
        delete(Share)
        .where(Share.id == share_id, Share.conversation_id.in_(owned))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
