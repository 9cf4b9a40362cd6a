"""GraphQL documents and helpers shared by the tests of model controls."""

from __future__ import annotations

from typing import Any, Final

from tests.harness import Api

MESSAGE_FIELDS: Final = """
  id role content status error model finishReason rating feedback
  usage { promptTokens completionTokens totalTokens }
"""
CREATE: Final = f"""
mutation($c: String!, $model: String, $settings: GenerationSettingsInput, $wait: Boolean,
         $title: String) {{
  createConversation(content: $c, model: $model, settings: $settings, wait: $wait,
                     title: $title) {{
    conversation {{ id }}
    userMessage {{ id }}
    assistantMessage {{ {MESSAGE_FIELDS} }}
  }}
}}
"""
PROMPT: Final = f"""
mutation($parent: ID!, $c: String!, $model: String, $wait: Boolean) {{
  prompt(parentId: $parent, content: $c, model: $model, wait: $wait) {{
    userMessage {{ id }}
    assistantMessage {{ {MESSAGE_FIELDS} }}
  }}
}}
"""
REGENERATE: Final = f"""
mutation($id: ID!, $model: String, $wait: Boolean) {{
  regenerate(messageId: $id, model: $model, wait: $wait) {{ {MESSAGE_FIELDS} }}
}}
"""
CONTINUE: Final = f"""
mutation($id: ID!, $model: String, $wait: Boolean) {{
  continueGeneration(messageId: $id, model: $model, wait: $wait) {{ {MESSAGE_FIELDS} }}
}}
"""
CANCEL: Final = "mutation($id: ID!) { cancelGeneration(messageId: $id) { status content } }"
MESSAGE: Final = f"query($id: ID!) {{ message(id: $id) {{ {MESSAGE_FIELDS} }} }}"
SETTINGS: Final = "settings { temperature topP maxTokens contextTokens }"
USAGE: Final = "usage { promptTokens completionTokens totalTokens }"
CONVERSATION: Final = f"query($id: ID!) {{ conversation(id: $id) {{ id {SETTINGS} {USAGE} }} }}"
ME: Final = f"query {{ me {{ {USAGE} }} }}"
UPDATE_SETTINGS: Final = f"""
mutation($id: ID!, $s: GenerationSettingsInput!) {{
  updateConversationSettings(id: $id, settings: $s) {{ id {SETTINGS} }}
}}
"""


async def create(
    api: Api, token: str, content: str, *, wait: bool = True, **variables: Any
) -> dict[str, Any]:
    """createConversation's payload."""
    data = await api.ok(CREATE, {"c": content, "wait": wait, **variables}, token=token)
    payload: dict[str, Any] = data["createConversation"]
    return payload


async def message(api: Api, token: str, message_id: str) -> dict[str, Any]:
    row: dict[str, Any] = (await api.ok(MESSAGE, {"id": message_id}, token=token))["message"]
    return row


async def code_of(api: Api, document: str, variables: dict[str, Any], token: str) -> str:
    """The extensions.code of a request that must fail."""
    error = await api.fails(document, variables, token=token)
    return str(error["extensions"]["code"])
