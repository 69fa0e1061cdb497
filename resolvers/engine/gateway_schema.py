"""GatewaySchema: Strawberry's schema with the engine's shortcuts, each where its check passes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from resolvers.engine.caching import OPERATION_NAMED, DocumentStore
from resolvers.engine.hooks import HOOKS, lean_runner
from resolvers.engine.plan import compiled_executor

__all__ = ["GatewaySchema"]

_ANSWERED = frozenset({OperationType.QUERY, OperationType.MUTATION})


class GatewaySchema(strawberry.Schema):
    """The schema; GatewayErrors logs what needs logging, with the request id."""

    documents: DocumentStore | None = None

    def __init__(self, *args: Any, fast_path: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The short path for plain fields, with compiled plans for known documents.
        executor = compiled_executor(self) if fast_path else None
        if executor is not None:
            self.execution_context_class = executor
        # The hooks found once per extension class (resolvers/engine/hooks.py).
        self.lean_hooks = HOOKS.usable(fast_path=fast_path)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        OPERATION_NAMED.set(operation_name is not None)
        # One call, one answer: a subscription runs through `subscribe` (SSE, WebSocket), and
        # executed here it would only fail its root field. Refused instead, before validation.
        if allowed_operation_types is None:
            allowed_operation_types = _ANSWERED
        elif OperationType.SUBSCRIPTION in allowed_operation_types:
            allowed_operation_types = _ANSWERED.intersection(allowed_operation_types)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        if self.lean_hooks:
            return lean_runner(execution_context, extensions)
        return super().create_extensions_runner(execution_context, extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry's default logs every error with a traceback: client mistakes and upstream
        # outages included. Unexpected ones are logged by GatewayErrors.
        return
