"""One reply's request to the model: what it is sent, and how it ended.

A new reply is sent the branch up to the user message it answers, fitted into the
conversation's context window. A continued reply is sent the same, then its own text so
far as the last, assistant, message (see `chattree.llm.body` for which servers continue
it), and what the model writes is appended to that text.
"""

from __future__ import annotations

from dataclasses import dataclass

from chattree.db.engine import Database
from chattree.db.estimate import estimate_tokens
from chattree.db.models import Conversation, Message, Role
from chattree.errors import InvalidInput, NotFound
from chattree.llm import ChatMessage, Sampling
from chattree.services.generation.context import fit_context
from chattree.services.generation.settings import Windows, sampling

UPSTREAM_ROLES = {Role.SYSTEM: "system", Role.USER: "user", Role.ASSISTANT: "assistant"}


@dataclass(frozen=True, slots=True)
class Job:
    message_id: int
    parent_id: int  # the user message the reply answers
    model: str
    prefix: str | None = None  # a continued reply: its text so far
    # Its conversation as the unit of work that stored the reply committed it.
    conversation: Conversation | None = None


@dataclass(frozen=True, slots=True)
class Request:
    messages: list[ChatMessage]
    sampling: Sampling
    estimate: int  # estimated tokens of `messages`, to calibrate against the report


async def prepare(db: Database, windows: Windows, job: Job) -> Request:
    """The request for `job`: the branch fitted to the conversation's context window."""
    conversation = job.conversation or await conversation_of(db, job.message_id)
    # Outside the session: the model server may take a moment to say its window.
    budget = (await windows.of(conversation, model=job.model)).budget
    prefix = None
    if job.prefix is not None:
        prefix = ChatMessage("assistant", job.prefix)
        budget -= estimate_tokens(job.prefix)
        if budget <= 0:
            raise InvalidInput(
                "the reply is already as long as the context window allows; it cannot be continued"
            )
    async with db.reader() as session:
        fitted = await fit_context(session, prompt_id=job.parent_id, budget=budget)
    messages = [ChatMessage(UPSTREAM_ROLES[row.role], row.content) for row in fitted]
    estimate = sum(row.token_estimate for row in fitted)
    if prefix is not None:
        messages.append(prefix)
        estimate += estimate_tokens(prefix.content)
    return Request(messages, sampling(conversation), estimate)


async def conversation_of(db: Database, message_id: int) -> Conversation:
    async with db.reader() as session:
        reply = await session.get(Message, message_id)
        if reply is None:
            raise NotFound(f"message {message_id} was deleted")
        return await session.get_one(Conversation, reply.conversation_id)
