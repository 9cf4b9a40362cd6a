"""What of a model's text can be stored."""

from __future__ import annotations

import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def replace_unstorable(text: str) -> str:
    """`text` without what no database text column holds: NUL, and the unpaired
    surrogates a JSON escape can produce. Each becomes U+FFFD, so a model that sends
    one can never make its reply unstorable."""
    if text.isascii() and "\x00" not in text:
        return text  # most tokens: no pattern to run
    return UNSTORABLE.sub("\ufffd", text)
