"""The one place where errors become what clients see: `extensions.code` from the
contract, the domain message, and for anything unexpected a masked message with a
request id that is also in the server log."""

from __future__ import annotations

import logging
import secrets

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from chattree.errors import ChatTreeError, InvalidInput, RateLimited

log = logging.getLogger("chattree.errors")


def root_cause(error: GraphQLError) -> Exception | None:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def error_code(error: GraphQLError) -> str:
    """The extensions.code a client sees for `error`, before or after it is mapped."""
    original = root_cause(error)
    if original is None or isinstance(original, GraphQLError):
        return str((error.extensions or {}).get("code", "BAD_USER_INPUT"))
    if isinstance(original, ChatTreeError):
        return original.code
    return "INTERNAL"


def client_error(error: GraphQLError) -> GraphQLError:
    original = root_cause(error)
    if original is None or isinstance(original, GraphQLError):
        # The request itself is invalid: syntax, unknown fields, variable types, limits.
        return rebuild(error, error.message, {"code": error_code(error)})
    if isinstance(original, ChatTreeError):
        extensions: dict[str, object] = {"code": original.code}
        if isinstance(original, InvalidInput) and original.argument:
            extensions["argument"] = original.argument
        if isinstance(original, RateLimited):
            extensions["retryAfter"] = original.retry_after
        return rebuild(error, original.message, extensions)
    request_id = secrets.token_hex(6)
    log.error("request %s failed at %s", request_id, error.path, exc_info=original)
    return rebuild(error, f"internal server error (request id {request_id})", {"code": "INTERNAL"})


def rebuild(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


class ErrorCodes(MaskErrors):
    """Maps every error of a result; unexpected ones are masked and logged."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return client_error(error)
