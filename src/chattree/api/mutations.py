"""Mutation: accounts and the conversation tree."""

from __future__ import annotations

import strawberry

from chattree.api.context import Info
from chattree.api.ids import require_id
from chattree.api.model_controls import ControlMutations
from chattree.api.portability import ImportResult, import_conversations
from chattree.api.shares import Share
from chattree.api.types import (
    AuthPayload,
    Conversation,
    GenerationSettingsInput,
    Message,
    PromptPayload,
    User,
)
from chattree.services.conversations import PromptResult


def prompt_payload(result: PromptResult) -> PromptPayload:
    return PromptPayload(
        conversation=Conversation.from_row(result.conversation),
        user_message=Message.from_row(result.user_message),
        assistant_message=Message.from_row(result.assistant_message),
    )


@strawberry.type
class Mutation(ControlMutations):
    @strawberry.mutation(description="Username: 3-32 of a-z 0-9 _. Password: 8-1024 characters.")
    async def register(self, info: Info, username: str, password: str) -> AuthPayload:
        accounts = info.context.services.accounts
        user = await accounts.register(
            username=username, password=password, client=info.context.client_address
        )
        return AuthPayload(token=accounts.token_for(user), user=User.from_row(user))

    @strawberry.mutation
    async def login(self, info: Info, username: str, password: str) -> AuthPayload:
        accounts = info.context.services.accounts
        user = await accounts.login(
            username=username, password=password, client=info.context.client_address
        )
        return AuthPayload(token=accounts.token_for(user), user=User.from_row(user))

    @strawberry.mutation
    async def update_me(
        self, info: Info, username: str | None = None, personality: str | None = None
    ) -> User:
        caller = await info.context.user()
        user = await info.context.services.accounts.update(
            user_id=caller.id, username=username, personality=personality
        )
        return User.from_row(user)

    @strawberry.mutation(description="Revokes every token issued before; returns a fresh one.")
    async def change_password(
        self, info: Info, current_password: str, new_password: str
    ) -> AuthPayload:
        caller = await info.context.user()
        accounts = info.context.services.accounts
        user = await accounts.change_password(
            user_id=caller.id, current=current_password, new=new_password
        )
        return AuthPayload(token=accounts.token_for(user), user=User.from_row(user))

    @strawberry.mutation(description="Deletes the caller and everything the caller owns.")
    async def delete_me(self, info: Info, password: str) -> bool:
        caller = await info.context.user()
        services = info.context.services
        running = await services.conversations.streaming_ids(user_id=caller.id)
        await services.accounts.delete(user_id=caller.id, password=password)
        services.generations.abandon(running)
        return True

    @strawberry.mutation(
        description=(
            "Starts a conversation: a system message (root), the user's message under it, and "
            "the model's reply under that. `model` defaults to the server's default model. The "
            "root holds `systemPrompt`, or the server's default prompt, with the user's "
            "personality appended to either. Unless `title` is given, the title starts as the "
            "beginning of the first message and is replaced by a short title the "
            "conversation's model writes in the background. `settings`: its generation "
            "settings (see updateConversationSettings)."
        )
    )
    async def create_conversation(
        self,
        info: Info,
        content: str,
        model: str | None = None,
        title: str | None = None,
        system_prompt: str | None = None,
        wait: bool | None = False,
        settings: GenerationSettingsInput | None = None,
    ) -> PromptPayload:
        caller = await info.context.user()
        result = await info.context.services.conversations.create(
            user=caller,
            content=content,
            model=model,
            title=title,
            system_prompt=system_prompt,
            wait=bool(wait),
            settings=settings.change() if settings is not None else None,
        )
        return prompt_payload(result)

    @strawberry.mutation(
        description=(
            "Adds a user message under `parentId` (a system or assistant message) and starts "
            "the model's reply under it. Prompting under a parent that already has children "
            "creates a new branch: this is how a user message is edited. With wait: true the "
            "call returns once the reply is final. `model`: another model the server offers "
            "writes this reply (the conversation keeps its own)."
        )
    )
    async def prompt(
        self,
        info: Info,
        parent_id: strawberry.ID,
        content: str,
        wait: bool | None = False,
        model: str | None = None,
    ) -> PromptPayload:
        caller = await info.context.user()
        result = await info.context.services.conversations.prompt(
            user_id=caller.id,
            parent_id=require_id(parent_id, what="message"),
            content=content,
            model=model,
            wait=bool(wait),
        )
        return prompt_payload(result)

    @strawberry.mutation(
        description=(
            "A new reply to the same user message: a sibling of `messageId` when it is an "
            "assistant message; when it is a user message, one more reply under it. `model`: "
            "another model the server offers writes it, which is how models are compared: "
            "their answers are siblings."
        )
    )
    async def regenerate(
        self,
        info: Info,
        message_id: strawberry.ID,
        wait: bool | None = False,
        model: str | None = None,
    ) -> Message:
        caller = await info.context.user()
        row = await info.context.services.conversations.regenerate(
            user_id=caller.id,
            message_id=require_id(message_id, what="message"),
            model=model,
            wait=bool(wait),
        )
        return Message.from_row(row)

    @strawberry.mutation(
        description=(
            "Stops a STREAMING message, from any process: it is returned CANCELLED with the "
            "text generated so far. A message that is already final: BAD_USER_INPUT."
        )
    )
    async def cancel_generation(self, info: Info, message_id: strawberry.ID) -> Message:
        caller = await info.context.user()
        row = await info.context.services.generations.cancel(
            message_id=require_id(message_id, what="message"), user_id=caller.id
        )
        return Message.from_row(row)

    @strawberry.mutation(
        description=(
            'Sibling navigation ("2 / 3"): makes the newest message among `messageId` and its '
            "descendants the conversation's current message, and returns the conversation."
        )
    )
    async def select_branch(self, info: Info, message_id: strawberry.ID) -> Conversation:
        caller = await info.context.user()
        row = await info.context.services.conversations.select_branch(
            user_id=caller.id, message_id=require_id(message_id, what="message")
        )
        return Conversation.from_row(row)

    @strawberry.mutation
    async def rename_conversation(self, info: Info, id: strawberry.ID, title: str) -> Conversation:
        caller = await info.context.user()
        row = await info.context.services.conversations.rename(
            user_id=caller.id, conversation_id=require_id(id, what="conversation"), title=title
        )
        return Conversation.from_row(row)

    @strawberry.mutation
    async def delete_conversation(self, info: Info, id: strawberry.ID) -> bool:
        caller = await info.context.user()
        await info.context.services.conversations.delete(
            user_id=caller.id, conversation_id=require_id(id, what="conversation")
        )
        return True

    import_conversations: ImportResult = strawberry.mutation(
        resolver=import_conversations,
        description=(
            "Imports a file sent as the GraphQL multipart request spec describes: a ChatGPT "
            "data export (the downloaded .zip, its conversations.json, or one "
            "conversations-NNN.json part of the newer split exports), a ChatTree export, or "
            "a JSON array of either. Every branch is kept; each conversation is stored in one "
            "transaction; entries that cannot be read are listed in `skipped` and the rest "
            "are stored. The same file imported twice gives two copies."
        ),
    )

    @strawberry.mutation(
        description=(
            "A new conversation holding a copy of the branch from the root to `messageId` "
            "(which must not be STREAMING); its currentMessageId is the copy of messageId and "
            "forkedFrom is messageId."
        )
    )
    async def fork_conversation(
        self, info: Info, message_id: strawberry.ID, title: str | None = None
    ) -> Conversation:
        caller = await info.context.user()
        row = await info.context.services.branches.fork(
            user_id=caller.id, message_id=require_id(message_id, what="message"), title=title
        )
        return Conversation.from_row(row)

    @strawberry.mutation(
        description=(
            "Deletes a message and its whole subtree. Not the root (BAD_USER_INPUT); a "
            "STREAMING message in the subtree is stopped first. The current message moves to "
            "the newest remaining message of the branch it was on. Returns the conversation."
        )
    )
    async def delete_message(self, info: Info, id: strawberry.ID) -> Conversation:
        caller = await info.context.user()
        row = await info.context.services.branches.delete_message(
            user_id=caller.id, message_id=require_id(id, what="message")
        )
        return Conversation.from_row(row)

    @strawberry.mutation(
        description=(
            "A read-only share link of the branch from the root to `messageId` (must be "
            "final). expiresInSeconds: 60 or more; null: until revoked. The answer is the only "
            "place the token is shown."
        )
    )
    async def create_share(
        self, info: Info, message_id: strawberry.ID, expires_in_seconds: int | None = None
    ) -> Share:
        caller = await info.context.user()
        row, token = await info.context.services.shares.create(
            user_id=caller.id,
            message_id=require_id(message_id, what="message"),
            expires_in_seconds=expires_in_seconds,
        )
        return Share.from_row(row, token=token)

    @strawberry.mutation(
        description=(
            "Revokes one of the caller's share links at once (sharedBranch then answers null)."
        )
    )
    async def revoke_share(self, info: Info, id: strawberry.ID) -> bool:
        caller = await info.context.user()
        await info.context.services.shares.revoke(
            user_id=caller.id, share_id=require_id(id, what="share")
        )
        return True
