"""The schema: Query composed from the per-domain resolvers."""

from __future__ import annotations

from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.types import ExecutionContext

from app import ids
from resolvers.context import Info
from resolvers.errors import GatewayErrors
from resolvers.node import Node
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
    return SessionUser.from_record(user) if user else None


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


# Limits on what one document may ask; each violation is a validation error naming the limit.
MAX_DEPTH = 15
MAX_ALIASES = 30
MAX_TOKENS = 5000


def _is_introspection(context: IgnoreContext) -> bool:
    return context.field_name.startswith("__")


class GatewaySchema(strawberry.Schema):
    """The schema; GatewayErrors logs what needs logging, with the request id."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry's default logs every error with a traceback: client mistakes and upstream
        # outages included. Unexpected ones are logged by GatewayErrors.
        return


schema = GatewaySchema(
    query=Query,
    mutation=Mutation,
    types=[Session, SessionUser],
    extensions=[
        partial(QueryDepthLimiter, max_depth=MAX_DEPTH, should_ignore=_is_introspection),
        partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        GatewayErrors,
    ],
)
