"""The schema: Query composed from the per-domain resolvers."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import strawberry
from strawberry.extensions import DisableIntrospection

from app.core import ids
from app.settings import Settings
from resolvers.engine import inputs
from resolvers.engine.caching import Documents, DocumentStore
from resolvers.engine.cost import Prices
from resolvers.engine.document_limits import DocumentLimits, apply_comparison_budget
from resolvers.engine.gateway_errors import GatewayErrors
from resolvers.engine.gateway_schema import GatewaySchema
from resolvers.engine.request_log import RequestLog
from resolvers.federation import build_federated
from resolvers.types.context import Info
from resolvers.types.filters import COMPILED_INPUTS
from resolvers.types.live import Subscription
from resolvers.types.mutation import Mutation
from resolvers.types.node import Node
from resolvers.types.people import Viewer, resolve_person, resolve_viewer
from resolvers.types.providers import ProviderInfo, resolve_providers
from resolvers.types.scalars import SCALAR_OVERRIDES
from resolvers.types.sessions import (
    Person,
    Session,
    SessionConnection,
    SessionUser,
    resolve_session,
    resolve_sessions,
)

__all__ = [
    "DOCUMENT_CACHE_SIZE",
    "GatewaySchema",
    "Limits",
    "Query",
    "build_schema",
    "default_schema",
    "resolve_node",
]


async def resolve_node(info: Info, id: strawberry.ID) -> Node | None:
    """Any object by global id (Relay)."""
    if ids.person_id(str(id)) is not None:
        return await resolve_person(info, id=id)
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
    viewer: Viewer | None = strawberry.field(
        resolver=resolve_viewer,
        description="The caller as a person; null for a caller that is not one (anonymous, "
        "an API key without `users`).",
    )
    person: Person | None = strawberry.field(
        resolver=resolve_person,
        description="A person by global `id`, or the person a provider `user` belongs to (a "
        "person of that user alone when nothing links it); exactly one of the two. Null when "
        "unknown or not the caller's own (without `sessions:read:all`).",
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
    # The engine's shortcuts through graphql-core's and Strawberry's internals (the seams of
    # resolvers/engine/internals.py); false runs the libraries' own code only.
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
        "types": [Session, SessionUser, Person],
        "extensions": extensions,
        "scalar_overrides": SCALAR_OVERRIDES,
        "fast_path": limits.fast_path,
    }
    inputs.install(COMPILED_INPUTS, fast_path=limits.fast_path)
    built = build_federated(**arguments) if limits.federation else GatewaySchema(**arguments)
    built.documents = store
    return built


@cache
def default_schema() -> GatewaySchema:
    """The default schema: what `export-schema` prints and schema.graphql holds."""
    return build_schema(Limits())


def __getattr__(name: str) -> GatewaySchema:
    # `schema` is the default schema, built on first use: importing this module builds none,
    # so an app with the fast path off installs no shortcut.
    if name == "schema":
        return default_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
