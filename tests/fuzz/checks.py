"""What schemathesis checks on every response it gets from ChatTree (`SCHEMATHESIS_HOOKS`
names this module). Its own `not_a_server_error` counts every GraphQL error, NOT_FOUND for
a random id included, as a server error; ChatTree's contract draws the line elsewhere:
a fuzzed request may be refused with any client code, but never fail on the server."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def no_server_failure(ctx: Any, response: Any, case: Any) -> None:
    """No 5xx, and no INTERNAL or unmapped error in the body."""
    if response.status_code >= 500:
        raise AssertionError(f"status {response.status_code}: {response.text[:500]}")
    body = response.json()
    for error in body.get("errors") or ():
        code = (error.get("extensions") or {}).get("code")
        if code is None or code == "INTERNAL":
            raise AssertionError(f"error without a client code: {error}")
