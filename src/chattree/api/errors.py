"""The one place where errors become what clients see and what operators read.

Clients get `extensions.code` from the contract and the domain message; anything
unexpected is masked, with the request id that is also in the server log. The log gets
one line per expected error (its code, where, and the message) and a traceback only for
INTERNAL ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql.error import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors

from chattree import logs
from chattree.errors import ChatTreeError, InvalidInput, RateLimited

log = logging.getLogger("chattree.errors")

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL = "INTERNAL"


def cause(error: GraphQLError) -> Exception | None:
    """The exception a resolver raised, or None when the request itself is wrong."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return None if isinstance(original, GraphQLError) else original


def code_of(error: GraphQLError) -> str:
    original = cause(error)
    if isinstance(original, ChatTreeError):
        return original.code
    if original is not None:
        return INTERNAL
    # Parse and validation errors were tagged where they arose (`ErrorCodes`); what is
    # left failed while the operation was prepared for execution: variable coercion.
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else "BAD_USER_INPUT"


def log_error(error: GraphQLError) -> None:
    code = code_of(error)
    where = ".".join(str(key) for key in error.path) if error.path else "request"
    # Messages may quote what the client sent (an id, a name): keep it to one short line.
    message = logs.one_line(error.message)
    if code == INTERNAL:
        log.error("INTERNAL at %s: %s", where, message, exc_info=cause(error))
    elif code == "UPSTREAM_ERROR":
        # Not the client's fault, and the message says what the model server did.
        log.warning("%s at %s: %s", code, where, message)
    else:
        log.info("%s at %s: %s", code, where, message)


def client_error(error: GraphQLError) -> GraphQLError:
    original = cause(error)
    code = code_of(error)
    extensions: dict[str, object] = {"code": code}
    if isinstance(original, ChatTreeError):
        if isinstance(original, InvalidInput) and original.argument:
            extensions["argument"] = original.argument
        if isinstance(original, RateLimited):
            extensions["retryAfter"] = original.retry_after
        return rebuild(error, original.message, extensions)
    if code != INTERNAL:
        return rebuild(error, error.message, extensions)
    request_id = logs.request_id.get() or logs.new_request_id()
    extensions["requestId"] = request_id
    return rebuild(error, f"internal server error (request id {request_id})", extensions)


def rebuild(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def tag(errors: list[GraphQLError] | None, code: str) -> None:
    for error in errors or ():
        if cause(error) is None and "code" not in (error.extensions or {}):
            # The parser's own limits (token count, nesting) abort parsing with this
            # phrase; they refuse a request that is too big, not one that is malformed.
            limit = isinstance(error, GraphQLSyntaxError) and error.message.endswith(
                "Parsing aborted."
            )
            error.extensions = {
                **(error.extensions or {}),
                "code": VALIDATION_FAILED if limit else code,
            }


class ErrorCodes(MaskErrors):
    """Tags parse and validation errors as they arise, and maps every error of a result;
    unexpected ones are masked."""

    def on_parse(self) -> Iterator[None]:
        yield
        tag(self.execution_context.pre_execution_errors, PARSE_FAILED)

    def on_validate(self) -> Iterator[None]:
        yield
        # The depth and alias limits are validation rules, so they land here too.
        tag(self.execution_context.pre_execution_errors, VALIDATION_FAILED)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return client_error(error)
