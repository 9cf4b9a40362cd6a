from __future__ import annotations

from tests.harness import Api

CREATE = """
mutation($c: String!) {
  createConversation(content: $c, wait: true) {
    conversation { id title model messageCount currentMessageId }
    userMessage { id content role depth }
    assistantMessage { id content status role depth model error }
  }
}
"""


async def test_a_conversation_gets_a_reply(api: Api, alice: str) -> None:
    data = await api.ok(CREATE, {"c": "Hi"}, token=alice)
    payload = data["createConversation"]
    assert payload["assistantMessage"]["content"] == "Echo: Hi"
    assert payload["assistantMessage"]["status"] == "COMPLETE"
    assert payload["conversation"]["messageCount"] == 3
