"""Accounts: register, me, updateMe, changePassword, deleteMe, and how passwords are kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from chattree.db.models import Conversation, Message, User
from chattree.settings import Settings
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api, running_server

PASSWORD = "correct horse"
USER_FIELDS = "id username personality createdAt"
REGISTER = f"""
mutation($u: String!, $p: String!) {{
  register(username: $u, password: $p) {{ token user {{ {USER_FIELDS} }} }}
}}
"""
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }"
ME = f"{{ me {{ {USER_FIELDS} }} }}"
UPDATE_ME = f"""
mutation($u: String, $p: String) {{ updateMe(username: $u, personality: $p) {{ {USER_FIELDS} }} }}
"""
CHANGE_PASSWORD = """
mutation($old: String!, $new: String!) {
  changePassword(currentPassword: $old, newPassword: $new) { token user { id username } }
}
"""
DELETE_ME = "mutation($p: String!) { deleteMe(password: $p) }"
CREATE = """
mutation($c: String!, $w: Boolean) {
  createConversation(content: $c, wait: $w) {
    conversation { id }
    assistantMessage { id }
  }
}
"""
CONVERSATION = "query($id: ID!) { conversation(id: $id) { id } }"
CONVERSATIONS = "{ conversations { edges { node { id } } } }"


async def count(api: Api, model: type[Any], *where: ColumnElement[bool]) -> int:
    async with api.services.db.reader() as session:
        number = await session.scalar(select(func.count()).select_from(model).where(*where))
    return int(number or 0)


async def stored_password(api: Api, username: str) -> str:
    async with api.services.db.reader() as session:
        value = await session.scalar(select(User.password).where(User.username == username))
    assert value is not None
    return value


async def can_log_in(api: Api, username: str, password: str) -> bool:
    body = await api.post(LOGIN, {"u": username, "p": password})
    return not body.get("errors")


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    return parsed


# register and me


async def test_register_returns_a_token_and_the_new_user(api: Api) -> None:
    data = await api.ok(REGISTER, {"u": "alice", "p": PASSWORD})
    payload = data["register"]
    assert payload["user"]["username"] == "alice"
    assert payload["user"]["personality"] is None
    me = await api.ok(ME, token=payload["token"])
    assert me["me"] == payload["user"]


async def test_created_at_is_iso_8601_in_utc_with_its_offset(api: Api) -> None:
    before = datetime.now(UTC)
    data = await api.ok(REGISTER, {"u": "alice", "p": PASSWORD})
    registered = data["register"]["user"]["createdAt"]
    reloaded = (await api.ok(ME, token=data["register"]["token"]))["me"]["createdAt"]
    for value in (registered, reloaded):
        assert value.endswith("+00:00")
        assert parse_datetime(value) - before < timedelta(minutes=5)
        assert parse_datetime(value) >= before - timedelta(seconds=1)
    assert registered == reloaded


async def test_me_answers_each_caller_with_their_own_account(
    api: Api, alice: str, bob: str
) -> None:
    assert (await api.ok(ME, token=alice))["me"]["username"] == "alice"
    assert (await api.ok(ME, token=bob))["me"]["username"] == "bob"


@pytest.mark.parametrize("username", ["abc", "a" * 32, "a_1", "___", "007"])
async def test_usernames_of_3_to_32_lowercase_letters_digits_and_underscores_are_accepted(
    api: Api, username: str
) -> None:
    data = await api.ok(REGISTER, {"u": username, "p": PASSWORD})
    assert data["register"]["user"]["username"] == username


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 33,
        "",
        "Alice",
        "al ice",
        " alice",
        "alice\n",
        "ålice",
        "alicé",
        "al-ice",
        "al.ice",
        "\uff41\uff4c\uff49\uff43\uff45",
        "alice\x00",
    ],
)
async def test_a_bad_username_is_refused_and_nothing_is_stored(api: Api, username: str) -> None:
    error = await api.fails(REGISTER, {"u": username, "p": PASSWORD})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "username"}
    assert await count(api, User) == 0


CYRILLIC = "\u043f\u0430\u0440\u043e\u043b\u044c12"  # "parol12" in Cyrillic, 8 characters


@pytest.mark.parametrize("password", ["x" * 8, "x" * 1024, CYRILLIC, "🐴🔋📎🧷" * 2, " " * 8])
async def test_passwords_of_8_to_1024_characters_are_accepted(api: Api, password: str) -> None:
    await api.ok(REGISTER, {"u": "alice", "p": password})
    assert await can_log_in(api, "alice", password)


@pytest.mark.parametrize("password", ["", "x" * 7, "x" * 1025, "🐴" * 7])
async def test_a_password_of_the_wrong_length_is_refused(api: Api, password: str) -> None:
    error = await api.fails(REGISTER, {"u": "alice", "p": password})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "password"}
    assert await count(api, User) == 0


@pytest.mark.parametrize("password", ["\ud800" * 8, "correct\x00horse"])
async def test_a_password_that_cannot_be_stored_is_bad_input(api: Api, password: str) -> None:
    error = await api.fails(REGISTER, {"u": "alice", "p": password})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "password"}
    assert await count(api, User) == 0


async def test_a_taken_username_is_a_conflict(api: Api, alice: str) -> None:
    error = await api.fails(REGISTER, {"u": "alice", "p": "another password"})
    assert error["extensions"]["code"] == "CONFLICT"
    assert await count(api, User) == 1
    assert await can_log_in(api, "alice", PASSWORD)
    assert not await can_log_in(api, "alice", "another password")


# How passwords are stored


async def test_passwords_are_stored_as_argon2id_hashes(api: Api, alice: str) -> None:
    stored = await stored_password(api, "alice")
    assert stored.startswith("argon2$")
    assert "$argon2id$" in stored
    assert PASSWORD not in stored


async def test_the_same_password_hashes_differently_for_two_users(
    api: Api, alice: str, bob: str
) -> None:
    assert await stored_password(api, "alice") != await stored_password(api, "bob")


async def test_without_use_hash_new_passwords_are_stored_in_plain_text(
    server_env: dict[str, str],
) -> None:
    settings = Settings.from_env({**server_env, "USE_HASH": "false"})
    async with running_server(settings) as api:
        await api.register("alice")
        assert await stored_password(api, "alice") == f"plain${PASSWORD}"
        assert await can_log_in(api, "alice", PASSWORD)
        assert not await can_log_in(api, "alice", "wrong password")


async def test_switching_use_hash_either_way_never_locks_anyone_out(
    server_env: dict[str, str],
) -> None:
    hashed = Settings.from_env({**server_env, "USE_HASH": "true"})
    plain = Settings.from_env({**server_env, "USE_HASH": "false"})
    async with running_server(hashed) as api:
        await api.register("alice", "alice password")
    async with running_server(plain) as api:
        assert await can_log_in(api, "alice", "alice password")
        await api.register("bob", "bob password")
        assert (await stored_password(api, "bob")).startswith("plain$")
    async with running_server(hashed) as api:
        assert (await stored_password(api, "alice")).startswith("argon2$")
        assert await can_log_in(api, "alice", "alice password")
        assert await can_log_in(api, "bob", "bob password")
        assert not await can_log_in(api, "alice", "bob password")
        assert not await can_log_in(api, "bob", "alice password")


async def test_a_plain_text_account_can_change_to_a_hashed_password(
    server_env: dict[str, str],
) -> None:
    async with running_server(Settings.from_env({**server_env, "USE_HASH": "false"})) as api:
        token = await api.register("alice")
    async with running_server(Settings.from_env(server_env)) as api:
        await api.ok(CHANGE_PASSWORD, {"old": PASSWORD, "new": "battery staple"}, token=token)
        assert "$argon2id$" in await stored_password(api, "alice")
        assert await can_log_in(api, "alice", "battery staple")


# updateMe


async def test_update_me_changes_the_username_and_the_token_keeps_working(
    api: Api, alice: str
) -> None:
    data = await api.ok(UPDATE_ME, {"u": "alicia"}, token=alice)
    assert data["updateMe"]["username"] == "alicia"
    assert (await api.ok(ME, token=alice))["me"]["username"] == "alicia"
    assert await can_log_in(api, "alicia", PASSWORD)
    assert not await can_log_in(api, "alice", PASSWORD)


async def test_update_me_to_a_taken_username_is_a_conflict(api: Api, alice: str, bob: str) -> None:
    error = await api.fails(UPDATE_ME, {"u": "bob"}, token=alice)
    assert error["extensions"]["code"] == "CONFLICT"
    assert (await api.ok(ME, token=alice))["me"]["username"] == "alice"
    assert (await api.ok(ME, token=bob))["me"]["username"] == "bob"


async def test_update_me_to_ones_own_username_is_allowed(api: Api, alice: str) -> None:
    data = await api.ok(UPDATE_ME, {"u": "alice"}, token=alice)
    assert data["updateMe"]["username"] == "alice"


async def test_a_freed_username_can_be_taken_by_someone_else(
    api: Api, alice: str, bob: str
) -> None:
    await api.ok(UPDATE_ME, {"u": "alicia"}, token=alice)
    data = await api.ok(UPDATE_ME, {"u": "alice"}, token=bob)
    assert data["updateMe"]["username"] == "alice"


@pytest.mark.parametrize("username", ["ab", "a" * 33, "Alice", "al ice", "ålice", ""])
async def test_update_me_with_a_bad_username_is_refused(
    api: Api, alice: str, username: str
) -> None:
    error = await api.fails(UPDATE_ME, {"u": username}, token=alice)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "username"}
    assert (await api.ok(ME, token=alice))["me"]["username"] == "alice"


async def test_update_me_sets_and_clears_the_personality(api: Api, alice: str) -> None:
    data = await api.ok(UPDATE_ME, {"p": "Answer like a pirate."}, token=alice)
    assert data["updateMe"]["personality"] == "Answer like a pirate."
    assert (await api.ok(ME, token=alice))["me"]["personality"] == "Answer like a pirate."
    data = await api.ok(UPDATE_ME, {"p": ""}, token=alice)
    assert data["updateMe"]["personality"] is None


async def test_update_me_leaves_what_it_is_not_given(api: Api, alice: str) -> None:
    await api.ok(UPDATE_ME, {"p": "Be brief."}, token=alice)
    data = await api.ok(UPDATE_ME, {"u": "alicia"}, token=alice)
    assert data["updateMe"]["personality"] == "Be brief."
    data = await api.ok(UPDATE_ME, {"p": "Be verbose."}, token=alice)
    assert data["updateMe"]["username"] == "alicia"
    data = await api.ok("mutation { updateMe { username personality } }", token=alice)
    assert data["updateMe"] == {"username": "alicia", "personality": "Be verbose."}


async def test_update_me_changes_only_the_caller(api: Api, alice: str, bob: str) -> None:
    await api.ok(UPDATE_ME, {"p": "Alice's style"}, token=alice)
    assert (await api.ok(ME, token=bob))["me"]["personality"] is None


async def test_a_personality_over_the_limit_is_refused(api: Api, alice: str) -> None:
    error = await api.fails(UPDATE_ME, {"p": "x" * 100_000}, token=alice)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "personality"}
    assert (await api.ok(ME, token=alice))["me"]["personality"] is None


@pytest.mark.parametrize("personality", ["pirate\x00", "pirate\udc00"])
async def test_a_personality_that_cannot_be_stored_is_bad_input(
    api: Api, alice: str, personality: str
) -> None:
    error = await api.fails(UPDATE_ME, {"p": personality}, token=alice)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "personality"}


async def test_unicode_in_the_personality_round_trips(api: Api, alice: str) -> None:
    text = "Réponds en français 🇫🇷, 用中文也行"
    await api.ok(UPDATE_ME, {"p": text}, token=alice)
    assert (await api.ok(ME, token=alice))["me"]["personality"] == text


# changePassword


async def test_change_password_returns_a_fresh_token_and_only_the_new_password_works(
    api: Api, alice: str
) -> None:
    data = await api.ok(CHANGE_PASSWORD, {"old": PASSWORD, "new": "battery staple"}, token=alice)
    payload = data["changePassword"]
    assert payload["user"]["username"] == "alice"
    assert payload["token"] != alice
    assert (await api.ok(ME, token=payload["token"]))["me"]["username"] == "alice"
    assert not await can_log_in(api, "alice", PASSWORD)
    assert await can_log_in(api, "alice", "battery staple")


async def test_change_password_with_a_wrong_current_password_is_bad_input_and_changes_nothing(
    api: Api, alice: str
) -> None:
    error = await api.fails(
        CHANGE_PASSWORD, {"old": "not the password", "new": "battery staple"}, token=alice
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "currentPassword"}
    assert (await api.ok(ME, token=alice))["me"]["username"] == "alice"
    assert await can_log_in(api, "alice", PASSWORD)
    assert not await can_log_in(api, "alice", "battery staple")


async def test_change_password_refuses_a_current_password_with_extra_characters(
    api: Api,
) -> None:
    password = "p" * 1024
    token = await api.register("alice", password)
    error = await api.fails(
        CHANGE_PASSWORD, {"old": password + "x", "new": "battery staple"}, token=token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "currentPassword"}


@pytest.mark.parametrize("new", ["short", "x" * 1025, "\ud800" * 8])
async def test_change_password_to_an_invalid_password_is_refused(
    api: Api, alice: str, new: str
) -> None:
    error = await api.fails(CHANGE_PASSWORD, {"old": PASSWORD, "new": new}, token=alice)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "newPassword"}
    assert (await api.ok(ME, token=alice))["me"]["username"] == "alice"
    assert await can_log_in(api, "alice", PASSWORD)


async def test_change_password_does_not_touch_the_other_users(
    api: Api, alice: str, bob: str
) -> None:
    await api.ok(CHANGE_PASSWORD, {"old": PASSWORD, "new": "battery staple"}, token=alice)
    assert (await api.ok(ME, token=bob))["me"]["username"] == "bob"
    assert await can_log_in(api, "bob", PASSWORD)


# deleteMe


async def test_delete_me_removes_the_user_and_everything_they_own(
    api: Api, alice: str, bob: str
) -> None:
    alice_id = int((await api.ok(ME, token=alice))["me"]["id"])
    bob_id = int((await api.ok(ME, token=bob))["me"]["id"])
    conversation_ids = []
    for content in ("first", "second"):
        data = await api.ok(CREATE, {"c": content, "w": True}, token=alice)
        conversation_ids.append(int(data["createConversation"]["conversation"]["id"]))
    await api.ok(CREATE, {"c": "bob's", "w": True}, token=bob)
    alice_messages = Message.conversation_id.in_(conversation_ids)
    assert await count(api, Message, alice_messages) == 6

    assert (await api.ok(DELETE_ME, {"p": PASSWORD}, token=alice)) == {"deleteMe": True}

    assert await count(api, User, User.id == alice_id) == 0
    assert await count(api, Conversation, Conversation.user_id == alice_id) == 0
    assert await count(api, Message, alice_messages) == 0
    assert await count(api, User, User.id == bob_id) == 1
    assert await count(api, Conversation, Conversation.user_id == bob_id) == 1
    assert await count(api, Message) == 3
    assert not await can_log_in(api, "alice", PASSWORD)
    for conversation_id in conversation_ids:
        data = await api.ok(CONVERSATION, {"id": str(conversation_id)}, token=bob)
        assert data == {"conversation": None}


async def test_a_new_account_with_a_deleted_username_starts_empty(api: Api, alice: str) -> None:
    data = await api.ok(CREATE, {"c": "secret plans", "w": True}, token=alice)
    old_conversation = data["createConversation"]["conversation"]["id"]
    await api.ok(UPDATE_ME, {"p": "old personality"}, token=alice)
    await api.ok(DELETE_ME, {"p": PASSWORD}, token=alice)

    new_alice = await api.register("alice", "a new password")
    me = (await api.ok(ME, token=new_alice))["me"]
    assert me["personality"] is None
    assert (await api.ok(CONVERSATIONS, token=new_alice))["conversations"]["edges"] == []
    data = await api.ok(CONVERSATION, {"id": old_conversation}, token=new_alice)
    assert data == {"conversation": None}


async def test_delete_me_with_a_wrong_password_is_bad_input_and_deletes_nothing(
    api: Api, alice: str
) -> None:
    await api.ok(CREATE, {"c": "keep me", "w": True}, token=alice)
    for wrong in ("not the password", PASSWORD + "x", PASSWORD.upper()):
        error = await api.fails(DELETE_ME, {"p": wrong}, token=alice)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "password"}
    assert (await api.ok(ME, token=alice))["me"]["username"] == "alice"
    assert await count(api, Conversation) == 1
    assert await count(api, Message) == 3


async def test_delete_me_refuses_a_password_with_extra_characters(api: Api) -> None:
    password = "p" * 1024
    token = await api.register("alice", password)
    error = await api.fails(DELETE_ME, {"p": password + "x"}, token=token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "password"}
    assert await count(api, User) == 1


async def test_delete_me_while_a_reply_is_streaming_leaves_nothing_behind(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["keep talking"] = Reply(content="word " * 200, stall_after=2)
    data = await api.ok(CREATE, {"c": "keep talking"}, token=alice)
    assistant_id = int(data["createConversation"]["assistantMessage"]["id"])
    await fake_model.wait_for_stream()

    await api.ok(DELETE_ME, {"p": PASSWORD}, token=alice)

    generations = api.services.generations
    for _ in range(500):
        if assistant_id not in generations.replies:
            break
        await asyncio.sleep(0.01)
    assert assistant_id not in generations.replies
    assert await count(api, User) == 0
    assert await count(api, Conversation) == 0
    assert await count(api, Message) == 0
