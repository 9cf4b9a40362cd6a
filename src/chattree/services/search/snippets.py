"""Snippets: an excerpt of the text around its first match, matched words in <mark>.

The database says which words matched, with markers in a copy of the text (FTS5's
highlight(), PostgreSQL's ts_headline()); the excerpt is cut from the stored text itself,
so it shows the message as written, accents included.
"""

from __future__ import annotations

import re
from typing import Final

from chattree.db.search import fold

OPEN: Final = "\ue000"  # private-use characters: markers no message is expected to hold
CLOSE: Final = "\ue001"
MARKED: Final = re.compile(f"{OPEN}(.*?){CLOSE}", re.DOTALL)
WORDS: Final = re.compile(r"\w+")
LENGTH: Final = 200
BEFORE: Final = 60  # characters of context kept before the first match


def matched_words(marked: str) -> set[str]:
    """The words the database marked, as compared: folded and lower case."""
    found: set[str] = set()
    for span in MARKED.findall(marked):
        found.update(key(word) for word in WORDS.findall(span))
    return found


def key(word: str) -> str:
    return fold(word).casefold()


def snippet(text: str, words: set[str]) -> str:
    """About LENGTH characters of `text` from a little before its first matched word."""
    spans = [m.span() for m in WORDS.finditer(text) if key(m.group()) in words]
    start = 0
    if spans and spans[0][0] > BEFORE:
        start = _word_start(text, spans[0][0] - BEFORE)
    end = len(text) if len(text) - start <= LENGTH else _word_end(text, start + LENGTH)
    parts: list[str] = []
    position = start
    for begin, finish in spans:
        if begin < start or finish > end:
            continue
        parts += [text[position:begin], "<mark>", text[begin:finish], "</mark>"]
        position = finish
    parts.append(text[position:end])
    return "".join(parts).strip()


def _word_start(text: str, index: int) -> int:
    """`index`, moved forward to the start of a word (never past 20 characters)."""
    for offset in range(20):
        i = index + offset
        if i >= len(text) or (not text[i - 1].isalnum() and text[i].isalnum()):
            return min(i, len(text))
    return index


def _word_end(text: str, index: int) -> int:
    """`index`, moved back to the end of a word (never more than 20 characters)."""
    for offset in range(20):
        i = index - offset
        if i <= 0 or (text[i - 1].isalnum() and not text[i].isalnum()):
            return max(i, 0)
    return index
