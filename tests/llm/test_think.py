from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chattree.llm import ThinkSplitter, split_think
from chattree.llm.think import CLOSE, OPEN, partial_tag_length


def feed_all(chunks: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    content, reasoning = "", ""
    for chunk in [*chunks, None]:
        shown, thought = splitter.feed(chunk) if chunk is not None else splitter.flush()
        content, reasoning = content + shown, reasoning + thought
    return content, reasoning


def test_text_without_tags_passes_through_at_once() -> None:
    assert ThinkSplitter().feed("Hello there.") == ("Hello there.", "")


def test_think_block_becomes_reasoning_and_the_rest_content() -> None:
    assert feed_all(["<think>Let me see.</think>The answer is 4."]) == (
        "The answer is 4.",
        "Let me see.",
    )


def test_whitespace_right_after_the_closing_tag_is_dropped_even_across_chunks() -> None:
    assert feed_all(["<think>hm</think>", "\n", "\n ", "Hi\n\nthere"]) == ("Hi\n\nthere", "hm")


@pytest.mark.parametrize(
    "text",
    [
        "<think>Some reasoning.</think>\n\nThe answer.",
        "Before <think>inner</think> after",
        "a < b and <thinking> is not a tag, nor is </think",
        "<think>unclosed to the end",
        "<think>a</think>b<think>c</think>d",
    ],
)
def test_any_split_of_the_text_gives_the_same_result(text: str) -> None:
    expected = split_think(text)
    for cut in range(len(text) + 1):
        assert feed_all([text[:cut], text[cut:]]) == expected, cut
    assert feed_all(list(text)) == expected


def test_tags_cut_inside_their_names_are_still_recognised() -> None:
    assert feed_all(["<th", "ink>rea", "son</thi", "nk>\n", "\nanswer"]) == ("answer", "reason")


def test_text_that_only_looks_like_a_tag_start_comes_out_unchanged() -> None:
    for text in ["a < b", "x <th y", "<thinking>", "1 <", "</think> outside"]:
        assert feed_all([text]) == (text, "")


def test_only_a_possible_tag_start_is_held_back() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("so a <th") == ("so a ", "")
    assert splitter.feed("e end") == ("<the end", "")


def test_flush_releases_what_was_held_back() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("x <thi") == ("x ", "")
    assert splitter.flush() == ("<thi", "")
    assert splitter.flush() == ("", "")


def test_an_unclosed_think_makes_everything_after_it_reasoning() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<think>still ") == ("", "still ")
    assert splitter.feed("thinking</thi") == ("", "thinking")
    assert splitter.flush() == ("", "</thi")


def test_split_think_splits_a_whole_answer() -> None:
    assert split_think("<think>hmm</think>\n\n  Paris trip  ") == ("Paris trip  ", "hmm")
    assert split_think("No reasoning") == ("No reasoning", "")


@given(st.text(alphabet="<th/ink>x", max_size=12), st.sampled_from([OPEN, CLOSE]))
def test_the_held_back_length_is_the_longest_tag_start_at_the_end(text: str, tag: str) -> None:
    longest = max(
        (n for n in range(1, min(len(tag) - 1, len(text)) + 1) if text.endswith(tag[:n])),
        default=0,
    )
    assert partial_tag_length(text, tag) == longest
