"""The search syntax of the contract, read once and rendered for each database.

Words and "quoted phrases" must all match; `a OR b` matches either; `-word` and
`-"a phrase"` exclude. Anything else is text: FTS5 operators, brackets, stars and stray
quotes are searched for as words (or dropped when they hold no letter or digit), so no
query string can make the database's own parser fail.
"""

from __future__ import annotations

import re
from typing import Final

from chattree.db.search import Query, Term
from chattree.errors import InvalidInput
from chattree.services.text import check_text

MAX_QUERY: Final = 1000
MAX_TERMS: Final = 32
# A quoted phrase (closed or running to the end), or a run of anything but spaces.
TOKEN: Final = re.compile(r'(-?)"([^"]*)"?|(\S+)')
WORD: Final = re.compile(r"\w")


def parse(text: str) -> Query:
    check_text(text, argument="query", max_length=MAX_QUERY)
    query = Query()
    join_next = False
    for match in TOKEN.finditer(text):
        negated, phrase, word = match.group(1), match.group(2), match.group(3)
        if word == "OR":
            join_next = bool(query.groups)
            continue
        if word is not None:
            negated, phrase = ("-", word[1:]) if word.startswith("-") else ("", word)
        words = " ".join(phrase.replace('"', " ").split())
        if not WORD.search(words):
            join_next = False
            continue
        term = Term(words)
        if negated:
            query.excluded.append(term)
        elif join_next:
            query.groups[-1].append(term)
        else:
            query.groups.append([term])
        join_next = False
    if not query.groups:
        raise InvalidInput(
            "query has no word to search for (excluded words need at least one other)",
            argument="query",
        )
    if len(query.terms) > MAX_TERMS:
        raise InvalidInput(f"query has more than {MAX_TERMS} terms", argument="query")
    return query
