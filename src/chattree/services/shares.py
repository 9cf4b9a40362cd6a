"""Share links: read-only views of one branch for anyone holding the token.

The token is 256 random bits and only its SHA-256 is stored, so the database alone
cannot open a share. It is shown once, when the share is made."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from chattree.db import shares, tree
from chattree.db.engine import Database
from chattree.db.models import Conversation, Message, Role, Share
from chattree.db.types import utcnow
from chattree.errors import InvalidInput, NotFound
from chattree.services.conversations.owned import owned_final_message
from chattree.services.ratelimit import Limiter

MIN_EXPIRY = 60
MAX_TOKEN = 100  # characters; tokens this server issues have 43


@dataclass(frozen=True, slots=True)
class SharedBranch:
    title: str
    shared_at: datetime
    messages: list[Message]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Shares:
    def __init__(self, *, db: Database, read_limiter: Limiter) -> None:
        self.db = db
        self.read_limiter = read_limiter

    async def create(
        self, *, user_id: int, message_id: int, expires_in_seconds: int | None
    ) -> tuple[Share, str]:
        """The new share and its token (which is not stored)."""
        # GraphQL's Int stops at 2**31 - 1 seconds (68 years): every expiry is a valid date.
        if expires_in_seconds is not None and expires_in_seconds < MIN_EXPIRY:
            raise InvalidInput(
                f"expiresInSeconds must be {MIN_EXPIRY} or more, or null for no expiry",
                argument="expiresInSeconds",
            )
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.transaction() as session:
            message = await owned_final_message(session, message_id, user_id, argument="messageId")
            share = Share(
                conversation_id=message.conversation_id,
                message_id=message.id,
                token_hash=token_hash(token),
                created_at=now,
                expires_at=(
                    None
                    if expires_in_seconds is None
                    else now + timedelta(seconds=expires_in_seconds)
                ),
            )
            session.add(share)
        return share, token

    async def revoke(self, *, user_id: int, share_id: int) -> None:
        async with self.db.transaction() as session:
            if not await shares.revoke(session, share_id=share_id, user_id=user_id):
                raise NotFound(f"no share with id {share_id}")

    async def read(self, *, token: str, client: str) -> SharedBranch | None:
        """The shared branch without its root; None for any token that opens nothing."""
        await self.read_limiter.hit(client)
        if not token or len(token) > MAX_TOKEN:
            return None
        async with self.db.reader() as session:
            share = await shares.live_by_hash(session, token_hash=token_hash(token), now=utcnow())
            if share is None:
                return None
            conversation = await session.get_one(Conversation, share.conversation_id)
            path = await tree.path(session, message_id=share.message_id)
        return SharedBranch(
            title=conversation.title,
            shared_at=share.created_at,
            messages=[message for message in path if message.role is not Role.SYSTEM],
        )
