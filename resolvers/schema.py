"""The schema: Query composed from the per-domain resolvers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from app.core import ids
from app.settings import Settings
from resolvers.engine.caching import OPERATION_NAMED, Documents, DocumentStore
from resolvers.engine.cost import Prices
from resolvers.engine.document_limits import DocumentLimits, apply_comparison_budget
from resolvers.engine.gateway_errors import GatewayErrors
from resolvers.engine.hooks import lean_runner
from resolvers.engine.plan import compiled_executor
from resolvers.engine.request_log import RequestLog
from resolvers.types.context import Info
from resolvers.types.live import Subscription
from resolvers.types.mutation import Mutation
from resolvers.types.node import Node
from resolvers.types.providers import ProviderInfo, resolve_providers
from resolvers.types.scalars import SCALAR_OVERRIDES
from resolvers.types.sessions import (
    Session,
    SessionConnection,
    SessionUser,
    resolve_session,
    resolve_sessions,
)


async def resolve_node(info: Info, id: strawberry.ID) -> Node | None:
    """Any object by global id (Relay)."""
    kind, provider, native_id = ids.decode(str(id))
    if kind == ids.SESSION:
        return await resolve_session(info, id)
    if kind == ids.AUTHORIZATION:
        return None  # not a Node: read through its session's `authorizations`
    user = await info.context.loaders.user_by_id(provider, native_id)
    if user is None or not info.context.principal.may_see_user(user):
        return None
    return SessionUser.from_record(user)


@strawberry.type
class Query:
    sessions: SessionConnection = strawberry.field(
        resolver=resolve_sessions,
        description="Sessions of every enabled provider, merged into one order and paginated "
        "per the GraphQL Cursor Connections Specification (`first` or `last`: 1-100, "
        "default 20).",
    )
    session: Session | None = strawberry.field(
        resolver=resolve_session, description="One session by global id."
    )
    node: Node | None = strawberry.field(resolver=resolve_node, description="Relay refetch.")
    providers: list[ProviderInfo] = strawberry.field(
        resolver=resolve_providers, description="The upstreams and their recent health."
    )


DOCUMENT_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Limits:
    """What one document may ask; each violation is an error naming the limit."""

    shape: DocumentLimits = field(default_factory=DocumentLimits)
    max_tokens: int = 5000
    max_cost: int = 50_000
    max_upstream_calls: int = 100
    introspection: bool = True
    # The short path (resolvers/engine/execution.py) and compiled plans (resolvers/engine/plan.py).
    fast_path: bool = True
    federation: bool = False  # subgraph mode (resolvers/federation.py)

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        shape = DocumentLimits(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_fields=settings.max_fields,
            max_selections=settings.max_selections,
            max_spreads=settings.max_spreads,
            max_same_name=settings.max_same_name,
            max_field_comparisons=settings.max_field_comparisons,
        )
        return cls(
            shape=shape,
            max_tokens=settings.max_tokens,
            max_cost=settings.max_cost,
            max_upstream_calls=settings.max_upstream_calls,
            introspection=settings.introspection,
            fast_path=settings.fast_path,
            federation=settings.federation,
        )


_ANSWERED = frozenset({OperationType.QUERY, OperationType.MUTATION})


class GatewaySchema(strawberry.Schema):
    """The schema; GatewayErrors logs what needs logging, with the request id."""

    documents: DocumentStore | None = None

    def __init__(self, *args: Any, fast_path: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_path = fast_path
        # The short path for plain fields, with compiled plans for known documents.
        executor = compiled_executor(self) if fast_path else None
        if executor is not None:
            self.execution_context_class = executor

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
        if self.fast_path:  # the hooks found once per extension class (resolvers/engine/hooks.py)
            return lean_runner(execution_context, extensions)
        return super().create_extensions_runner(execution_context, extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry's default logs every error with a traceback: client mistakes and upstream
        # outages included. Unexpected ones are logged by GatewayErrors.
        return


def build_schema(limits: Limits) -> GatewaySchema:
    """The schema with `limits` enforced."""
    # Depth and aliases are measured with the other shape limits, in linear time (Strawberry's
    # limiter rules expand every fragment spread); repeated query texts skip all of it.
    prices = Prices(limits.max_cost, limits.max_upstream_calls)
    store = DocumentStore(limits.max_tokens, (), limits.shape, prices, DOCUMENT_CACHE_SIZE)
    apply_comparison_budget(limits.shape)
    extensions: list[Any] = [
        partial(Documents, store),
        RequestLog,
        GatewayErrors,
    ]
    if not limits.introspection:
        extensions.append(DisableIntrospection)
    arguments: dict[str, Any] = {
        "query": Query,
        "mutation": Mutation,
        "subscription": Subscription,
        "types": [Session, SessionUser],
        "extensions": extensions,
        "scalar_overrides": SCALAR_OVERRIDES,
        "fast_path": limits.fast_path,
    }
    if limits.federation:
        from resolvers.federation import build_federated  # it builds on this module

        built: GatewaySchema = build_federated(**arguments)
    else:
        built = GatewaySchema(**arguments)
    built.documents = store
    return built


# The default schema: what `export-schema` prints and schema.graphql holds.
schema = build_schema(Limits())
