from __future__ import annotations

import json
import math
from typing import Any

import pytest

from chattree.errors import UpstreamError
from chattree.llm import SSEParser
from chattree.llm.sse import error_message

CHUNKS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"choices": [{"index": 0, "delta": {"content": "Grüße 👋"}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
]


def body(newline: str = "\n") -> bytes:
    events = [f"data: {json.dumps(c, ensure_ascii=False)}" for c in CHUNKS] + ["data: [DONE]"]
    return "".join(event + newline * 2 for event in events).encode()


def parse(*parts: bytes, end: bool = True) -> list[dict[str, Any]]:
    parser = SSEParser()
    chunks = [chunk for part in parts for chunk in parser.feed(part)]
    return chunks + list(parser.end()) if end else chunks


def test_data_lines_become_json_objects_and_done_ends_the_stream() -> None:
    parser = SSEParser()
    assert list(parser.feed(body())) == CHUNKS
    assert parser.done


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_split_of_the_body_gives_the_same_objects(newline: str) -> None:
    raw = body(newline)
    for cut in range(len(raw) + 1):
        assert parse(raw[:cut], raw[cut:]) == CHUNKS, cut


def test_a_body_fed_byte_by_byte_splits_utf8_characters_safely() -> None:
    raw = body("\r\n")
    assert parse(*(raw[i : i + 1] for i in range(len(raw)))) == CHUNKS


def test_comments_and_event_id_retry_fields_are_ignored() -> None:
    raw = b': keep-alive\n\nevent: message\nid: 7\nretry: 100\ndata: {"a": 1}\n\n:\n\n'
    assert parse(raw) == [{"a": 1}]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert parse(b'data: {"a":\ndata: [1,\ndata:2]}\n\n') == [{"a": [1, 2]}]


def test_the_space_after_data_colon_is_optional_and_a_leading_bom_is_skipped() -> None:
    assert parse(b'\xef\xbb\xbfdata:{"a": 1}\n\n') == [{"a": 1}]


def test_an_event_is_only_dispatched_at_its_blank_line() -> None:
    parser = SSEParser()
    assert list(parser.feed(b'data: {"a": 1}\n')) == []
    assert list(parser.feed(b"\n")) == [{"a": 1}]


def test_everything_after_done_is_ignored() -> None:
    parser = SSEParser()
    assert list(parser.feed(b"data: [DONE]\n\ndata: {not json\n\n")) == []
    assert parser.done


def test_a_last_event_missing_only_its_blank_line_is_dispatched_at_the_end() -> None:
    assert parse(b'data: {"a": 1}\n', end=False) == []
    assert parse(b'data: {"a": 1}\n') == [{"a": 1}]


def test_an_unterminated_last_line_is_dropped_at_the_end() -> None:
    assert parse(b'data: {"a": 1}\n\ndata: {"b"') == [{"a": 1}]


def test_objects_before_a_malformed_event_are_yielded_before_the_error() -> None:
    chunks = SSEParser().feed(b'data: {"a": 1}\n\ndata: {not json\n\n')
    assert next(chunks) == {"a": 1}
    with pytest.raises(UpstreamError):
        next(chunks)


def test_json_that_only_the_standard_parser_takes_is_still_read() -> None:
    # The fast parser refuses both; a lone surrogate is replaced when stored.
    [surrogate, nan] = parse(b'data: {"delta": "lone \\ud800"}\n\ndata: {"logprob": NaN}\n\n')
    assert surrogate == {"delta": "lone \ud800"}
    assert math.isnan(nan["logprob"])


@pytest.mark.parametrize(
    "data", [b"{not json", b"[1, 2]", b'"text"', b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"]
)
def test_a_malformed_chunk_raises_upstream_error(data: bytes) -> None:
    with pytest.raises(UpstreamError, match="model server sent a malformed chunk"):
        parse(b"data: " + data + b"\n\n")


def test_an_error_object_in_the_stream_raises_with_the_upstream_message() -> None:
    raw = b'data: {"error": {"message": "Rate limit exceeded", "code": 429}}\n\n'
    with pytest.raises(UpstreamError, match="Rate limit exceeded"):
        parse(raw)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ({"error": {"message": "boom", "type": "server_error"}}, "boom"),
        ({"error": "model 'x' not found"}, "model 'x' not found"),
        ({"object": "error", "message": "too long", "code": 400}, "too long"),
        ({"detail": "Not Found"}, "Not Found"),
        ({"error": None, "choices": []}, None),
        ([1, 2], None),
    ],
)
def test_error_messages_are_read_from_every_shape_servers_use(
    error: object, message: str | None
) -> None:
    assert error_message(error) == message


def test_long_upstream_messages_are_shortened() -> None:
    message = error_message({"error": {"message": "x" * 5000}})
    assert message is not None
    assert len(message) == 300
    assert message.endswith("…")
