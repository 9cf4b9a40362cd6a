"""One execution of a live event for every subscriber that asked for the same.

A reply followed by a thousand subscribers publishes each event once, and each of their
operations used to execute its selection over that event on its own: graphql-core
maps every operation's source stream through an execution of its own. Here the event
reaches every follower as one `MessageEvent` object (`api.subscriptions.message_event`)
that carries the results already computed for it. An operation with the same document
(the same parsed operation, which the document cache hands every request that sends
the same text) and the same variables takes the result instead of executing again.

That is sound because a `MessageEvent`'s fields are plain values of the event: no
resolver reads the caller, the context or the database (`plain_fields` holds the type
to that). An operation that executes still runs strawberry's handling of its result
(error masking, metrics) on a result of its own; on graphql-transport-ws, the others
may take the result as encoded text instead (api/outlets.py).
"""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult, GraphQLObjectType, OperationDefinitionNode
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList, collect_subfields
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.base import get_object_definition

from chattree.api.encoding import json_text


class SharedResults:
    """Results of executing one event, by operation and variables."""

    __slots__ = ("_results",)

    def __init__(self) -> None:
        self._results: list[_Shared] = []

    def find(
        self, operation: OperationDefinitionNode, variables: dict[str, Any]
    ) -> ExecutionResult | None:
        shared = self._find(operation, variables)
        return shared.result if shared is not None else None

    def payload(self, operation: OperationDefinitionNode, variables: dict[str, Any]) -> str | None:
        """The `{"data": ...}` payload of a result computed without errors, encoded once
        for every operation that takes it as text (api/outlets.py)."""
        shared = self._find(operation, variables)
        if shared is None or shared.result.errors:
            return None
        if shared.payload is None:
            shared.payload = json_text({"data": shared.result.data})
        return shared.payload

    def keep(
        self, operation: OperationDefinitionNode, variables: dict[str, Any], result: ExecutionResult
    ) -> None:
        self._results.append(_Shared(operation, variables, result))

    def _find(
        self, operation: OperationDefinitionNode, variables: dict[str, Any]
    ) -> _Shared | None:
        for shared in self._results:
            if shared.operation is operation and shared.variables == variables:
                return shared
        return None


class _Shared:
    __slots__ = ("operation", "payload", "result", "variables")

    def __init__(
        self, operation: OperationDefinitionNode, variables: dict[str, Any], result: ExecutionResult
    ) -> None:
        self.operation = operation
        self.variables = variables
        self.result = result
        self.payload: str | None = None


def plain_fields(kind: type) -> type:
    """`kind`, after checking that none of its fields has a resolver: a result computed
    over one of its objects is then the same for every caller, and may be shared."""
    resolved = [
        field.python_name
        for field in get_object_definition(kind, strict=True).fields
        if field.base_resolver is not None
    ]
    if resolved:
        raise TypeError(f"{kind.__name__} is shared between subscribers but resolves {resolved}")
    return kind


class SharingExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Executes an event once per operation and variables (see the module's doc), and
    collects a subscription's selections once for all its events."""

    # graphql-core memoizes collected subfields on the identity of the list of field
    # nodes, which it builds afresh for every event, in a dict that every event's copy
    # of the executor shares: each event missed it and left an entry behind, so a
    # subscription's memory grew with every token. A subscription's copies key this
    # one on the nodes themselves, which are its document's, and stay.
    _subfields: dict[tuple[object, ...], tuple[FieldDetailsList, CollectedFields]] | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        if self._subfields is None:
            self._subfields = {}  # before the copy, so that every event's copy shares it
        return super().build_per_event_executor(payload)

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> CollectedFields:
        cache = self._subfields
        if cache is None:
            return super().collect_subfields(return_type, field_details_list)
        key = (
            return_type,
            *(
                (id(details.node), id(details.defer_usage), id(details.fragment_variable_values))
                for details in field_details_list
            ),
        )
        found = cache.get(key)
        if found is None:
            collected = collect_subfields(
                self.schema,
                self.fragments,
                self.variable_values,
                self.operation,
                return_type,
                field_details_list,
                self.hide_suggestions,
            )
            # The list holds the nodes whose ids make the key: they cannot be reused.
            found = cache[key] = (field_details_list, collected)
        return found[1]

    def execute_operation(self, serially: bool | None = None) -> Any:
        shared = getattr(self.root_value, "shared_results", None)
        if not isinstance(shared, SharedResults):
            return super().execute_operation(serially)
        variables = self.variable_values.coerced
        result = shared.find(self.operation, variables)
        if result is not None:
            return result
        executed = super().execute_operation(serially)
        # An awaitable can be awaited only once, and a subscription's result is never
        # incremental: anything but a plain result is left unshared.
        if isinstance(executed, ExecutionResult):
            shared.keep(self.operation, variables, executed)
        return executed
