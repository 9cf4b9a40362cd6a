"""The usage sums of conversations and users, kept by the writes that change them.

A reply's final write adds its counts to its conversation and to the conversation's
user in the same transaction; deleting a subtree or a conversation takes back what the
deleted rows held, read from the DELETE itself (RETURNING), so a reply that ends while
its subtree is being deleted is counted exactly once or not at all. Reading a sum is then
one row, however big the account.

Lock order on PostgreSQL: every writer of the sums locks the user's row first, as a
prompt's unit of work does (`counters.lock_user`), then messages, then the conversation.
A final write that took the conversation before the user would deadlock with a prompt
of the same user, which holds the user and then updates the conversation.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import CTE, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db.models import Conversation, Message, User

# The stored ratio of reported to estimated prompt tokens stays within these bounds, so
# one odd report (a server counting a cached prefix as 0, say) cannot unhinge fitting.
LOWEST_RATIO = 0.25
HIGHEST_RATIO = 4.0


def calibrated(prompt_tokens: int, estimated: int) -> float | None:
    """Reported tokens per estimated token of what was sent; None without a basis."""
    if prompt_tokens <= 0 or estimated <= 0:
        return None
    return min(max(prompt_tokens / estimated, LOWEST_RATIO), HIGHEST_RATIO)


async def add_reply_usage(
    session: AsyncSession,
    *,
    conversation_id: int,
    prompt_tokens: int,
    completion_tokens: int,
    ratio: float | None,
) -> None:
    """Adds one request's counts to the conversation and its user; with `ratio`, stores
    it as the conversation's calibration."""
    values: dict[str, object] = {
        "prompt_tokens": Conversation.prompt_tokens + prompt_tokens,
        "completion_tokens": Conversation.completion_tokens + completion_tokens,
    }
    if ratio is not None:
        values["token_ratio"] = ratio
    user_id = await session.scalar(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(values)
        .returning(Conversation.user_id)
    )
    if user_id is None:
        return
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            prompt_tokens=User.prompt_tokens + prompt_tokens,
            completion_tokens=User.completion_tokens + completion_tokens,
        )
    )


async def delete_messages(session: AsyncSession, *, ids: CTE, conversation_id: int) -> None:
    """Deletes the messages whose ids `ids` selects and takes their usage back from the
    conversation and its user."""
    deleted = await session.execute(
        delete(Message)
        .where(Message.id.in_(select(ids.c.id)))
        .returning(Message.prompt_tokens, Message.completion_tokens)
        .execution_options(synchronize_session=False)
    )
    prompt, completion = totals(deleted)
    if prompt or completion:
        await add_reply_usage(
            session,
            conversation_id=conversation_id,
            prompt_tokens=-prompt,
            completion_tokens=-completion,
            ratio=None,
        )


async def delete_conversation(session: AsyncSession, *, conversation_id: int) -> None:
    """Deletes the conversation (its messages go with it) and takes its sums back from
    its user."""
    deleted = await session.execute(
        delete(Conversation)
        .where(Conversation.id == conversation_id)
        .returning(Conversation.user_id, Conversation.prompt_tokens, Conversation.completion_tokens)
    )
    for user_id, prompt, completion in deleted.all():
        if prompt or completion:
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(
                    prompt_tokens=User.prompt_tokens - prompt,
                    completion_tokens=User.completion_tokens - completion,
                )
            )


def totals(rows: Iterable[tuple[int | None, int | None]]) -> tuple[int, int]:
    prompt = completion = 0
    for p, c in rows:
        prompt += p or 0
        completion += c or 0
    return prompt, completion
