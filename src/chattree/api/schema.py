"""The schema: types, limits on what one request may ask, and error mapping."""

from __future__ import annotations

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
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
from chattree.api.subscriptions import Subscription

MAX_ALIASES = 50
MAX_TOKENS = 5000


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry logs every error with its traceback, a client's wrong id as loudly
        as a bug; here an expected error is one line and only INTERNAL ones carry one."""
        for error in errors:
            log_error(error)


def build_schema(*, max_depth: int = 15) -> Schema:
    return Schema(
        query=merge_types("Query", (Query, SearchQuery)),
        mutation=merge_types("Mutation", (Mutation, OrganiseMutation)),
        subscription=merge_types("Subscription", (Subscription, EventSubscription)),
        config=StrawberryConfig(auto_camel_case=True),
        extensions=[
            OperationContext,
            OperationMetrics,
            lambda: QueryDepthLimiter(max_depth=max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            ErrorCodes,
        ],
    )


# What `strawberry export-schema chattree.api.schema:schema` prints into schema.graphql.
schema = build_schema()
