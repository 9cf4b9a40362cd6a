"""Fitting a branch into the model's context window.

The model is sent the root (the system prompt) always, then the newest messages of the
branch whose estimated tokens fit what is left of the window once the reply's room is
kept free. The walk that finds them reads only what it sends (`tree.context_window`), so
a prompt at depth 10,000 costs what one at depth 10 does.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db import tree
from chattree.db.estimate import estimate_tokens
from chattree.db.models import Message, Role
from chattree.errors import InvalidInput, NotFound


async def fit_context(session: AsyncSession, *, prompt_id: int, budget: int) -> list[Message]:
    """The messages to send for a reply to `prompt_id`, root first."""
    window = await tree.context_window(session, message_id=prompt_id, budget=budget)
    if not window:
        raise NotFound(f"message {prompt_id} was deleted")
    root, *turns = window
    check_fits(turns[-1].token_estimate, root.token_estimate, budget)
    # Cut short, the window may begin with a reply whose question fell out of it; chat
    # templates expect the first message after the system prompt to be the user's.
    if turns[0].depth > 1 and turns[0].role is Role.ASSISTANT:
        turns = turns[1:]
    return [root, *turns]


def check_prompt(content: str, *, root_estimate: int, budget: int) -> None:
    """BAD_USER_INPUT for a message that could never be sent to the model."""
    check_fits(estimate_tokens(content), root_estimate, budget)


def check_fits(prompt_estimate: int, root_estimate: int, budget: int) -> None:
    if prompt_estimate + root_estimate > budget:
        raise InvalidInput(
            f"the message is too long for the model's context window: about "
            f"{prompt_estimate} tokens, and {max(budget - root_estimate, 0)} fit beside the "
            "system prompt (the conversation's contextTokens less the room kept for the "
            "reply, maxTokens or MODEL_REPLY_TOKENS)",
            argument="content",
        )
