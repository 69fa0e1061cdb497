"""The schema: Query composed from the per-domain resolvers."""

from __future__ import annotations

from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from app import ids
from app.errors import GatewayError
from resolvers.context import Info
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


def _is_unexpected(error: GraphQLError) -> bool:
    # Validation and parse errors have no original error and are meant for the client.
    original = error.original_error
    return original is not None and not isinstance(original, GatewayError)


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    types=[Session, SessionUser],
    extensions=[partial(MaskErrors, should_mask_error=_is_unexpected)],
)
