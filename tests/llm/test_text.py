from __future__ import annotations

import pytest

from chattree.llm.text import replace_unstorable


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("plain ascii", "plain ascii"),
        ("Grüße 👋", "Grüße 👋"),
        ("nul \x00 in ascii", "nul \ufffd in ascii"),
        ("nul \x00 and ü", "nul \ufffd and ü"),
        ("lone \ud800 and \udfff", "lone \ufffd and \ufffd"),
        ("", ""),
    ],
)
def test_only_what_no_column_holds_is_replaced(text: str, stored: str) -> None:
    assert replace_unstorable(text) == stored
