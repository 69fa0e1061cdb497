"""The schema: Query composed from the per-domain resolvers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import DisableIntrospection
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.types import ExecutionContext

from app import ids
from app.settings import Settings
from resolvers.caching import Documents, DocumentStore
from resolvers.context import Info
from resolvers.cost import CostLimit
from resolvers.depth import depth_rule
from resolvers.errors import GatewayErrors
from resolvers.execution import GatewayExecutor
from resolvers.node import Node
from resolvers.observability import RequestLog
from resolvers.providers import ProviderInfo, resolve_providers
from resolvers.revoke import Mutation
from resolvers.sessions import (
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

    max_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 5000
    max_cost: int = 50_000
    introspection: bool = True

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_cost=settings.max_cost,
            introspection=settings.introspection,
        )


def _is_introspection(context: IgnoreContext) -> bool:
    return context.field_name.startswith("__")


class GatewaySchema(strawberry.Schema):
    """The schema; GatewayErrors logs what needs logging, with the request id."""

    documents: DocumentStore | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execution_context_class = GatewayExecutor.for_schema(self._schema)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry's default logs every error with a traceback: client mistakes and upstream
        # outages included. Unexpected ones are logged by GatewayErrors.
        return


def build_schema(limits: Limits) -> GatewaySchema:
    """The schema with `limits` enforced."""
    # The depth and alias rules are made once, with the schema; Strawberry's limiter
    # extensions would make new rule classes for every request.
    rules: tuple[type[ASTValidationRule], ...] = (
        depth_rule(limits.max_depth, _is_introspection),
        alias_validator(limits.max_aliases),
    )
    # Repeated query texts skip parsing and validation.
    store = DocumentStore(limits.max_tokens, rules, DOCUMENT_CACHE_SIZE)
    extensions: list[Any] = [
        partial(Documents, store),
        partial(CostLimit, max_cost=limits.max_cost),
        RequestLog,
        GatewayErrors,
    ]
    if not limits.introspection:
        extensions.append(DisableIntrospection)
    built = GatewaySchema(
        query=Query, mutation=Mutation, types=[Session, SessionUser], extensions=extensions
    )
    built.documents = store
    return built


# The default schema: what `export-schema` prints and schema.graphql holds.
schema = build_schema(Limits())
