"""The per-operation GraphQL context: services, the caller, and fresh DataLoaders."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from chattree import logs
from chattree.api.loaders import Loaders
from chattree.db.models import User
from chattree.errors import Unauthenticated
from chattree.services.bundle import Services
from chattree.services.tokens import bearer_token


class Context:
    def __init__(self, services: Services, request: Request | WebSocket) -> None:
        self.services = services
        self.request = request
        self.connection_params: dict[str, Any] | None = None
        self._user: User | None = None
        self._operations = itertools.count(1)
        # Set for a mutation: its fields run one after another and each may write.
        self.mutating = False

    @cached_property
    def loaders(self) -> Loaders:
        assert self._user is not None, "loaders are scoped to the authenticated caller"
        return Loaders(self.services.db, user_id=self._user.id, sharing=not self.mutating)

    def refresh_loaders(self) -> None:
        """Forgets what the loaders read: the next field reads the rows as they are now."""
        self.__dict__.pop("loaders", None)

    @property
    def client_address(self) -> str:
        client = self.request.client
        return client.host if client is not None else "unknown"

    def authorization(self) -> str | None:
        if self.connection_params is not None:
            value = self.connection_params.get("Authorization") or self.connection_params.get(
                "authorization"
            )
            return value if isinstance(value, str) else None
        return self.request.headers.get("authorization")

    async def user(self) -> User:
        """The caller; UNAUTHENTICATED without a valid, unrevoked token."""
        if self._user is None:
            token = bearer_token(self.authorization())
            if token is None:
                raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
            self._user = await self.services.accounts.authenticate(token)
        return self._user

    def for_operation(self) -> Context:
        """A context for one operation on this connection: its own DataLoaders, and its
        own check of the token (which may have been revoked since the connection began)."""
        context = Context(self.services, self.request)
        context.connection_params = self.connection_params
        return context

    def operation_request_id(self) -> str:
        """The connection's request id with this operation's number on the connection."""
        return f"{logs.request_id.get() or logs.new_request_id()}.{next(self._operations)}"


class OperationContext(SchemaExtension):
    """Gives every operation a context of its own.

    Strawberry builds the context once per HTTP request but once per websocket
    connection, and hands that one object to every operation sent on the socket. Cached
    DataLoaders would then serve rows read by an earlier operation, and the caller
    authenticated at connection_init would outlive a revoked token. Strawberry reads
    `execution_context.context` only after the operation hook has begun, so swapping it
    here reaches every resolver of this operation and no other.

    Each websocket operation runs in a task of its own, so the request id set here names
    that operation in every log line it writes, and no other.
    """

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            self.execution_context.context = context.for_operation()
            if isinstance(context.request, WebSocket):
                logs.request_id.set(context.operation_request_id())
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.mutating = self.execution_context.operation_type is OperationType.MUTATION
        yield


Info = strawberry.Info[Context, None]
