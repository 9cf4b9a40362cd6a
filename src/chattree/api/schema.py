"""The schema: types, limits on what one request may ask, and error mapping."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig

from chattree.api.context import OperationContext
from chattree.api.errors import ErrorCodes
from chattree.api.metrics import OperationMetrics
from chattree.api.mutations import Mutation
from chattree.api.queries import Query
from chattree.api.subscriptions import Subscription

MAX_ALIASES = 50
MAX_TOKENS = 5000


def build_schema(*, max_depth: int = 15) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
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
