"""Writes to the conversation tree: starting, prompting, regenerating, navigating."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select

from chattree.db import counters, tree, usage
from chattree.db.engine import Database
from chattree.db.estimate import estimate_tokens
from chattree.db.events import record_event
from chattree.db.models import Conversation, EventKind, Message, Role, Status, User
from chattree.db.types import utcnow
from chattree.errors import InvalidInput, NotFound
from chattree.llm import ModelClient
from chattree.services.conversations import controls, models, organise, pages
from chattree.services.conversations.models import ModelMissing, choose_model
from chattree.services.conversations.owned import (
    owned_conversation,
    owned_message,
    owned_turn,
    read_message,
)
from chattree.services.conversations.turns import Started, add_reply, add_turn, record_created
from chattree.services.generation import GenerationManager
from chattree.services.generation.context import check_prompt
from chattree.services.generation.settings import Change, check_change, sampling
from chattree.services.limits import GenerationLimits
from chattree.services.text import check_text
from chattree.services.titles import check_title, provisional_title, write_title
from chattree.settings import Settings

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer clearly and accurately, say so when you are not "
    "sure, and use Markdown when it makes an answer easier to read."
)


@dataclass(frozen=True, slots=True)
class PromptResult:
    conversation: Conversation
    user_message: Message
    assistant_message: Message


class Conversations:
    def __init__(
        self,
        *,
        db: Database,
        client: ModelClient,
        generations: GenerationManager,
        limits: GenerationLimits,
        settings: Settings,
    ) -> None:
        self.db = db
        self.client = client
        self.generations = generations
        self.limits = limits
        self.settings = settings
        self.windows = generations.windows

    async def create(
        self,
        *,
        user: User,
        content: str,
        model: str | None,
        title: str | None,
        system_prompt: str | None,
        wait: bool,
        settings: Change | None = None,
    ) -> PromptResult:
        self._check_content(content, argument="content")
        if title is not None:
            title = check_title(title)
        if system_prompt is not None:
            self._check_content(system_prompt, argument="systemPrompt", allow_empty=True)
        columns = check_change(settings or {})
        model = await self.resolve_model(model)
        root_text = system_prompt if system_prompt is not None else DEFAULT_SYSTEM_PROMPT
        if user.personality:
            root_text = f"{root_text}\n\n{user.personality}".strip()
        now = utcnow()
        conversation = Conversation(
            user_id=user.id,
            title=title or provisional_title(content),
            title_pending=title is None,
            model=model,
            created_at=now,
            updated_at=now,
        )
        controls.set_settings(conversation, columns)
        await self.windows.prime(model)
        self.windows.check(conversation)
        check_prompt(
            content,
            root_estimate=estimate_tokens(root_text),
            budget=self.windows.now(conversation).budget,
        )
        async with self.db.transaction() as session:
            await self.limits.admit(session, user_id=user.id)
            session.add(conversation)
            await session.flush()
            root = Message(
                conversation_id=conversation.id,
                role=Role.SYSTEM,
                content=root_text,
                status=Status.COMPLETE,
                depth=0,
                created_at=now,
            )
            session.add(root)
            await session.flush()
            user_message, reply = await add_turn(
                session, self.db, conversation, root, content, model
            )
            await record_created(session, user.id, user_message, reply, started=True)
        self.generations.begin(
            message_id=reply.id, parent_id=user_message.id, model=model, conversation=conversation
        )
        if title is None:
            self.generations.spawn(
                write_title(
                    db=self.db,
                    client=self.client,
                    conversation_id=conversation.id,
                    model=model,
                    first_message=content,
                    sampling=sampling(conversation, title=True),
                ),
                name=f"title-{conversation.id}",
            )
        return await self._result(conversation, user_message, reply, wait=wait)

    async def prompt(
        self,
        *,
        user_id: int,
        parent_id: int,
        content: str,
        wait: bool,
        model: str | None = None,
    ) -> PromptResult:
        """A user message under `parent_id` and a reply to it, by `model` when given."""
        self._check_content(content, argument="content")
        override = await self.resolve_override(model)
        started = await self._needing_model(
            functools.partial(
                self._add_turn,
                user_id=user_id,
                parent_id=parent_id,
                content=content,
                override=override,
            )
        )
        self._begin(started)
        return await self._result(started.conversation, started.prompt, started.reply, wait=wait)

    async def _add_turn(
        self,
        fallback: str | None,
        *,
        user_id: int,
        parent_id: int,
        content: str,
        override: str | None,
    ) -> Started:
        async with self.db.transaction() as session:
            await self.limits.admit(session, user_id=user_id)
            turn = await owned_turn(session, parent_id, user_id, argument="parentId")
            parent, conversation = turn.message, turn.conversation
            if parent.role is Role.USER:
                raise InvalidInput(
                    "parentId must be a system or assistant message; to answer a user "
                    "message again use regenerate",
                    argument="parentId",
                )
            model = choose_model(conversation, override, fallback)
            budget = self.windows.now(conversation, model=model).budget
            check_prompt(content, root_estimate=turn.root_estimate, budget=budget)
            user_message, reply = await add_turn(
                session, self.db, conversation, parent, content, model
            )
            await record_created(session, user_id, user_message, reply, moved=True)
        return Started(conversation, user_message, reply, model)

    async def regenerate(
        self, *, user_id: int, message_id: int, wait: bool, model: str | None = None
    ) -> Message:
        """Another reply to the same user message, by `model` when given: a sibling."""
        override = await self.resolve_override(model)
        started = await self._needing_model(
            functools.partial(
                self._add_sibling, user_id=user_id, message_id=message_id, override=override
            )
        )
        self._begin(started)
        if wait:
            await self.generations.wait(started.reply.id)
        return await read_message(self.db, started.reply.id)

    async def _add_sibling(
        self, fallback: str | None, *, user_id: int, message_id: int, override: str | None
    ) -> Started:
        async with self.db.transaction() as session:
            await self.limits.admit(session, user_id=user_id)
            message = await owned_message(session, message_id, user_id)
            if message.role is Role.SYSTEM:
                raise InvalidInput(
                    "messageId must be a user or assistant message", argument="messageId"
                )
            prompt = message if message.role is Role.USER else None
            if prompt is None:
                assert message.parent_id is not None
                prompt = await session.get_one(Message, message.parent_id)
            conversation = await session.get_one(Conversation, message.conversation_id)
            model = choose_model(conversation, override, fallback)
            reply = await add_reply(session, self.db, conversation, prompt, model)
            await record_created(session, user_id, reply, moved=True)
        return Started(conversation, prompt, reply, model)

    async def _needing_model(self, unit: Callable[[str | None], Awaitable[Started]]) -> Started:
        """Runs a unit of work that needs its conversation's model, and once more with the
        model the server offers when the conversation has none yet (ModelMissing)."""
        try:
            return await unit(None)
        except ModelMissing:
            return await unit(await self.resolve_model(None))

    def _begin(self, started: Started) -> None:
        self.generations.begin(
            message_id=started.reply.id,
            parent_id=started.prompt.id,
            model=started.model,
            conversation=started.conversation,
        )

    async def select_branch(self, *, user_id: int, message_id: int) -> Conversation:
        async with self.db.transaction() as session:
            await counters.lock_user(session, user_id=user_id)
            message = await owned_message(session, message_id, user_id)
            conversation = await session.get_one(Conversation, message.conversation_id)
            conversation.current_message_id = await tree.newest_id_below(
                session, message_id=message_id
            )
            await record_event(session, user_id, EventKind.CONVERSATION_UPDATED, conversation.id)
        return conversation

    async def rename(self, *, user_id: int, conversation_id: int, title: str) -> Conversation:
        return await self.update(user_id=user_id, conversation_id=conversation_id, title=title)

    async def update(
        self,
        *,
        user_id: int,
        conversation_id: int,
        title: str | None = None,
        archived: bool | None = None,
        pinned: bool | None = None,
    ) -> Conversation:
        return await organise.update(
            self.db,
            user_id=user_id,
            conversation_id=conversation_id,
            title=title,
            archived=archived,
            pinned=pinned,
        )

    async def delete(self, *, user_id: int, conversation_id: int) -> None:
        async with self.db.transaction() as session:
            conversation = await owned_conversation(session, conversation_id, user_id)
            # The user first, as every writer of the usage sums locks it (db/usage.py).
            await counters.lock_user(session, user_id=user_id)
            streaming = await session.scalars(
                select(Message.id).where(
                    Message.conversation_id == conversation.id,
                    Message.status == Status.STREAMING,
                )
            )
            running = list(streaming)
            await usage.delete_conversation(session, conversation_id=conversation.id)
            await record_event(session, user_id, EventKind.CONVERSATION_DELETED, conversation.id)
        self.generations.abandon(running)

    async def message(self, *, user_id: int, message_id: int) -> Message:
        """The user's message; NOT_FOUND when it is missing or someone else's."""
        async with self.db.reader() as session:
            return await owned_message(session, message_id, user_id)

    async def streaming_ids(self, *, user_id: int) -> list[int]:
        """The user's replies being generated, to stop before the account goes."""
        async with self.db.reader() as session:
            rows = await session.scalars(
                select(Message.id).where(tree.owned_by(user_id), Message.status == Status.STREAMING)
            )
            return list(rows)

    async def page(
        self, *, user_id: int, first: int, after: str | None, archived: bool = False
    ) -> pages.Page:
        return await pages.page(
            self.db, user_id=user_id, first=first, after=after, archived=archived
        )

    async def resolve_model(self, requested: str | None) -> str:
        return await models.resolve_model(self.client, self.settings, requested)

    async def resolve_override(self, requested: str | None) -> str | None:
        """None, or a model the server offers for one reply (else BAD_USER_INPUT)."""
        return None if requested is None else await self.resolve_model(requested)

    async def _result(
        self, conversation: Conversation, user_message: Message, reply: Message, *, wait: bool
    ) -> PromptResult:
        if not wait:
            # The rows as the unit of work stored them: reading them again would cost a
            # session and two round trips before the client may subscribe.
            return PromptResult(conversation, user_message, reply)
        await self.generations.wait(reply.id)
        # Read after the reply ended: the conversation may have been deleted since.
        async with self.db.reader() as session:
            stored = await session.get(Conversation, conversation.id)
            ended = await session.get(Message, reply.id)
        if stored is None or ended is None:
            raise NotFound(f"conversation {conversation.id} was deleted")
        return PromptResult(stored, user_message, ended)

    def _check_content(self, text: str, *, argument: str, allow_empty: bool = False) -> None:
        check_text(
            text,
            argument=argument,
            max_length=self.settings.max_message_length,
            allow_empty=allow_empty,
        )
