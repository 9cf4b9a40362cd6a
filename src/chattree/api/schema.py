"""The schema: types, limits on what one request may ask, and error mapping."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from chattree.api.context import OperationContext
from chattree.api.errors import ErrorCodes, log_error
from chattree.api.events import EventSubscription
from chattree.api.metrics import OperationMetrics
from chattree.api.mutations import Mutation
from chattree.api.organise import OrganiseMutation
from chattree.api.queries import Query
from chattree.api.search import SearchQuery
from chattree.api.shared_events import SharingExecutionContext
from chattree.api.subscriptions import Subscription

MAX_ALIASES = 50
MAX_TOKENS = 5000
# Documents parsed and validated once, kept in LRU caches shared by every request: clients
# send the same few documents again and again, with other variables.
CACHED_DOCUMENTS = 256


class DocumentCache(ParserCache):
    """Strawberry's parser cache, except for documents that do not parse: the cache's
    error would escape the parsing step's error handling, so those are left to the
    parser strawberry runs next, which reports them as every parse error is."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry logs every error with its traceback, a client's wrong id as loudly
        as a bug; here an expected error is one line and only INTERNAL ones carry one."""
        for error in errors:
            log_error(error)


def build_schema(*, max_depth: int = 15) -> Schema:
    # The limiters' rules are made once: the validation cache is keyed on the rules
    # with the document, and a limiter made per request brings new rule classes.
    limits = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    return Schema(
        query=merge_types("Query", (Query, SearchQuery)),
        mutation=merge_types("Mutation", (Mutation, OrganiseMutation)),
        subscription=merge_types("Subscription", (Subscription, EventSubscription)),
        config=StrawberryConfig(auto_camel_case=True),
        execution_context_class=SharingExecutionContext,
        extensions=[
            OperationContext,
            OperationMetrics,
            lambda: AddValidationRules(limits),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: DocumentCache(maxsize=CACHED_DOCUMENTS),
            lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
            ErrorCodes,
        ],
    )


# What `strawberry export-schema chattree.api.schema:schema` prints into schema.graphql.
schema = build_schema()
