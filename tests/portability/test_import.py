"""importConversations: ChatGPT exports (zip, split zip, bare JSON) land as whole trees;
broken entries are listed and cost nothing else."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from chattree.services.conversations import DEFAULT_SYSTEM_PROMPT
from tests.harness import Api
from tests.portability import chatgpt_export as gpt
from tests.portability.client import at, post_upload, tree, upload

T0 = gpt.T0
REASONING = "Museums\nGulbenkian and MAAT are the obvious picks.\n\nTiming\nBoth close on Tuesdays."


def message(
    role: str,
    content: str,
    time: float,
    model: str | None = None,
    reasoning: str | None = None,
) -> dict[str, Any]:
    return {
        "role": role,
        "content": content,
        "reasoning": reasoning,
        "status": "COMPLETE",
        "error": None,
        "model": model,
        "createdAt": at(time),
    }


def user(content: str, time: float, *children: Any) -> Any:
    return (message("USER", content, time), list(children))


def assistant(content: str, time: float, model: str, *children: Any, **extra: Any) -> Any:
    return (message("ASSISTANT", content, time, model, **extra), list(children))


TRIP = {
    "title": "Trip planning",
    "model": "gpt-4o-mini",
    "createdAt": at(T0),
    "root": (
        message("SYSTEM", DEFAULT_SYSTEM_PROMPT, T0),
        [
            user(
                "Plan a trip to Lisbon",
                T0 + 10,
                assistant(
                    "Day 1: Alfama.",
                    T0 + 20,
                    "gpt-4o",
                    user(
                        "Add museums",
                        T0 + 30,
                        assistant("Gulbenkian, MAAT.", T0 + 33, "o3", reasoning=REASONING),
                        assistant("Try the Tile Museum.", T0 + 40, "gpt-4o"),
                    ),
                    user(
                        "Add food",
                        T0 + 50,
                        assistant(
                            "Eat pastel de nata.",
                            T0 + 54,
                            "gpt-4o",
                            user(
                                "[image: file-service://file-Abc123]\nWhat is this pastry?",
                                T0 + 60,
                                # No create_time: the time of its parent.
                                assistant("A pastel de nata.", T0 + 60, "gpt-4o"),
                            ),
                        ),
                    ),
                ),
                # No create_time and no model slug: the parent's time, the default model.
                assistant("Day 1: Belém.", T0 + 10, "gpt-4o-mini"),
            ),
            # An orphan goes under the root.
            user("Lost question", T0 + 70),
        ],
    ),
    # current_node a4: first user, first reply, second user, its reply, image, answer.
    "current": [0, 0, 1, 0, 0, 0],
}

CODE = {
    "title": "Code help",
    "model": "gpt-4",
    # No conversation times: the earliest message's.
    "createdAt": at(T0 + 5),
    "root": (
        message("SYSTEM", "You are a terse pirate.", T0 + 5),
        [user("What is 2+2?", T0 + 5, assistant("Arr, 4.", T0 + 8, "gpt-4"))],
    ),
    # current_node is the tool output: its nearest kept ancestor is the question.
    "current": [0],
}


def assert_imported(result: dict[str, Any], *, code_index: int = 2) -> None:
    assert [c["title"] for c in result["conversations"]] == ["Trip planning", "Code help"]
    assert result["messageCount"] == 12 + 3
    # Trip: hidden system, user context, tool call, browsing, quote. Code: call, output.
    assert result["droppedCount"] == 7
    (problem,) = result["skipped"]
    assert problem["index"] == 1
    assert problem["source"] == "conv-broken"
    assert "mapping" in problem["reason"]


async def test_a_chatgpt_conversations_json_keeps_every_branch(api: Api, alice: str) -> None:
    result = await upload(api, alice, gpt.conversations_json(), "conversations.json")
    assert_imported(result)
    trip, code = result["conversations"]
    assert await tree(api, alice, trip["id"]) == TRIP
    assert await tree(api, alice, code["id"]) == CODE
    assert trip["updatedAt"] == at(T0 + 100)


async def test_a_split_zip_export_reads_its_parts_in_order(api: Api, alice: str) -> None:
    result = await upload(api, alice, gpt.split_zip())
    assert_imported(result)
    trip, code = result["conversations"]
    assert await tree(api, alice, trip["id"]) == TRIP
    assert await tree(api, alice, code["id"]) == CODE


async def test_an_older_zip_with_one_conversations_json(api: Api, alice: str) -> None:
    result = await upload(api, alice, gpt.old_zip())
    assert_imported(result)


async def test_one_conversation_object_imports_alone(api: Api, alice: str) -> None:
    result = await upload(api, alice, json.dumps(gpt.trip()).encode(), "trip.json")
    assert result["skipped"] == []
    assert await tree(api, alice, result["conversations"][0]["id"]) == TRIP


async def test_importing_twice_gives_two_copies_owned_by_the_uploader(
    api: Api, alice: str, bob: str
) -> None:
    first = await upload(api, alice, gpt.conversations_json(), "c.json")
    second = await upload(api, alice, gpt.conversations_json(), "c.json")
    assert {c["id"] for c in first["conversations"]}.isdisjoint(
        c["id"] for c in second["conversations"]
    )
    listed = await api.ok("{ conversations { edges { node { id } } } }", token=alice)
    assert len(listed["conversations"]["edges"]) == 4
    for conversation in first["conversations"]:
        found = await api.ok(
            "query($id: ID!) { conversation(id: $id) { id } }",
            {"id": conversation["id"]},
            token=bob,
        )
        assert found["conversation"] is None


async def test_broken_entries_are_listed_and_the_rest_imported(api: Api, alice: str) -> None:
    entries = [42, {"title": "no mapping"}, gpt.code_help(), {"mapping": {"a": "b"}}]
    result = await upload(api, alice, json.dumps(entries).encode(), "c.json")
    assert [c["title"] for c in result["conversations"]] == ["Code help"]
    assert [(p["index"], p["source"]) for p in result["skipped"]] == [
        (0, None),
        (1, "no mapping"),
        (3, None),
    ]
    assert "not a JSON object" in result["skipped"][0]["reason"]


async def test_a_truncated_file_keeps_what_came_before_the_break(api: Api, alice: str) -> None:
    whole = json.dumps([gpt.code_help(), gpt.trip()]).encode()
    result = await upload(api, alice, whole[: len(whole) // 2 + 400], "c.json")
    assert [c["title"] for c in result["conversations"]] == ["Code help"]
    (problem,) = result["skipped"]
    assert problem["index"] == 1
    assert "JSON" in problem["reason"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello", "neither a zip nor JSON"),
        (b"", "neither a zip nor JSON"),
        (b"PK\x03\x04 not really a zip", "not a readable zip"),
    ],
)
async def test_unreadable_files_are_refused(api: Api, alice: str, data: bytes, words: str) -> None:
    status, body = await post_upload(api, alice, data)
    assert status == 200
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert words in error["message"]


async def test_a_zip_without_conversations_is_refused(api: Api, alice: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("user.json", "{}")
    _, body = await post_upload(api, alice, buffer.getvalue())
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "conversations.json" in body["errors"][0]["message"]
    listed = await api.ok("{ conversations { edges { node { id } } } }", token=alice)
    assert listed["conversations"]["edges"] == []


async def test_importing_needs_a_login(api: Api) -> None:
    _, body = await post_upload(api, None, gpt.conversations_json())
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_file_must_be_an_upload(api: Api, alice: str) -> None:
    error = await api.fails(
        "mutation($f: Upload!) { importConversations(file: $f) { messageCount } }",
        {"f": "conversations.json"},
        token=alice,
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def damaged(archive_bytes: bytes, member: str) -> bytes:
    """`archive_bytes` with a byte flipped in the middle of `member`'s compressed data."""
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        info = archive.getinfo(member)
    raw = bytearray(archive_bytes)
    start = info.header_offset
    name_length = int.from_bytes(raw[start + 26 : start + 28], "little")
    extra_length = int.from_bytes(raw[start + 28 : start + 30], "little")
    middle = start + 30 + name_length + extra_length + info.compress_size // 2
    raw[middle] ^= 0xFF
    return bytes(raw)


async def test_a_damaged_part_of_a_zip_keeps_the_parts_before_it(api: Api, alice: str) -> None:
    result = await upload(api, alice, damaged(gpt.split_zip(), "conversations-001.json"))
    assert [c["title"] for c in result["conversations"]] == ["Trip planning"]
    problems = result["skipped"]
    assert problems[0]["index"] == 1  # the broken entry of part 000
    assert problems[-1]["index"] == 2
    assert "conversations-001.json" in problems[-1]["reason"]


async def test_an_unreadable_later_part_keeps_the_parts_before_it(api: Api, alice: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("conversations-000.json", json.dumps([gpt.code_help()]))
        archive.writestr("conversations-001.json", "not json")
    result = await upload(api, alice, buffer.getvalue())
    assert [c["title"] for c in result["conversations"]] == ["Code help"]
    (problem,) = result["skipped"]
    assert problem["index"] == 1
    assert "conversations-001.json in the zip" in problem["reason"]
