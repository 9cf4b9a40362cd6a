"""GraphQL object types, one module per concept: accounts, messages, conversations and
model controls."""

from chattree.api.types.controls import GenerationSettings, GenerationSettingsInput, TokenUsage
from chattree.api.types.conversations import (
    Conversation,
    ConversationConnection,
    ConversationEdge,
    PageInfo,
    PromptPayload,
)
from chattree.api.types.messages import Message, MessageEvent, message_in, messages, page_of
from chattree.api.types.users import AuthPayload, Model, User

__all__ = [
    "AuthPayload",
    "Conversation",
    "ConversationConnection",
    "ConversationEdge",
    "GenerationSettings",
    "GenerationSettingsInput",
    "Message",
    "MessageEvent",
    "Model",
    "PageInfo",
    "PromptPayload",
    "TokenUsage",
    "User",
    "message_in",
    "messages",
    "page_of",
]
