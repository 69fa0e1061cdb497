"""Subgraph mode (GATEWAY_FEDERATION): the schema as an Apollo Federation 2 subgraph.

Session and SessionUser are entities; `_entities` resolves their representations through the
request's dataloaders, so a router's batch of N users costs one lookup per provider (one
listing where it holds several users, see SessionProvider.users), and answers as `session(id)`
does: null for a session that does not exist or the caller may not see. A user of an enabled
provider the caller may see is answered even when it has no session (so no name either): the
router's other subgraphs hold users that have not signed in, and their `sessions` is empty.

The `@key` directives are on the two types only while the subgraph schema is built, so the
plain schema, schema.graphql, carries no federation directives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import strawberry
from strawberry.federation.schema import FederationAny
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition, get_object_definition

from app.core import ids
from app.core.errors import BadUserInput
from app.core.records import UserRecord
from resolvers.engine.gateway_schema import GatewaySchema
from resolvers.types.context import Info
from resolvers.types.enums import Provider
from resolvers.types.sessions import Session, SessionUser, resolve_session

__all__ = ["ENTITY_KEYS", "FederatedSchema", "build_federated", "resolve_entity"]

# Entity type -> its @key field sets.
ENTITY_KEYS: Mapping[type, tuple[str, ...]] = {
    Session: ("id",),
    SessionUser: ("id", "provider nativeId"),
}
# Only @key is used, so an older version composes with more routers: Strawberry's default, 2.11,
# is newer than The Guild's composition 0.27 accepts (2.9).
FEDERATION_VERSION: Literal["2.5"] = "2.5"
DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
_BY_NAME = {"Session": Session, "SessionUser": SessionUser}


class FederatedSchema(GatewaySchema, strawberry.federation.Schema):
    """The gateway's schema with `_service` and `_entities`."""

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        # Coroutines, one per representation: graphql-core awaits them together, so their
        # lookups meet in the same dataloader batches. A bad one fails only its own entry.
        return [FederationAny(resolve_entity(info, r, i)) for i, r in enumerate(representations)]


def build_federated(**kwargs: Any) -> FederatedSchema:
    """A FederatedSchema from GatewaySchema's arguments, with the entity keys in its SDL."""
    with _keyed(ENTITY_KEYS) as keyed:
        built = FederatedSchema(**kwargs, federation_version=FEDERATION_VERSION)
    # Its SDL is printed from the type's backref; execution keeps the classes' own definitions
    # (Strawberry resolves unions and interfaces by the identity of a definition).
    for definition in keyed:
        graphql_type = built._schema.type_map[definition.name]
        graphql_type.extensions = {**graphql_type.extensions, DEFINITION_BACKREF: definition}
    return built


@contextmanager
def _keyed(keys: Mapping[type, tuple[str, ...]]) -> Iterator[list[StrawberryObjectDefinition]]:
    """The types carry their @key directives while a schema is built, then not again.

    Yields keyed copies of their definitions for the schema to print from; later plain
    schemas see no federation directives.
    """
    saved: dict[StrawberryObjectDefinition, Sequence[object] | None] = {}
    copies: list[StrawberryObjectDefinition] = []
    try:
        for cls, fields in keys.items():
            definition = get_object_definition(cls, strict=True)
            saved[definition] = definition.directives
            keyed = [*(definition.directives or ()), *(Key(fields=FieldSet(f)) for f in fields)]
            definition.directives = keyed
            copies.append(dataclasses.replace(definition, directives=keyed))
        yield copies
    finally:
        for definition, directives in saved.items():
            definition.directives = directives


def resolve_entity(info: Info, representation: object, index: int) -> Awaitable[object]:
    """The entity one representation names, as `session(id)`/`node(id)` would answer it."""
    return _entity(info, representation, f"representations[{index}]")


async def _entity(info: Info, representation: object, where: str) -> object:
    if not isinstance(representation, dict):
        raise BadUserInput(f"`{where}` must be an object with `__typename` and a key.")
    name = representation.get("__typename")
    if name not in _BY_NAME:
        known = " or ".join(_BY_NAME)
        raise BadUserInput(f"`{where}.__typename` must be {known}, got {name!r}.")
    if name == "Session":
        return await resolve_session(info, strawberry.ID(_text(representation, "id", where)))
    if "id" in representation:
        provider, native_id = ids.decode_as(ids.USER, _text(representation, "id", where))
    elif "provider" in representation or "nativeId" in representation:
        provider = _provider(_text(representation, "provider", where), where)
        native_id = _text(representation, "nativeId", where)
    else:
        raise BadUserInput(f"`{where}` needs a key: `id`, or `provider` and `nativeId`.")
    context = info.context
    if provider not in context.upstreams.providers:
        return None  # no provider here to have such a user
    # A user is known by their sessions; one with none is still a user (another subgraph's
    # account that has not signed in), answered with only its key and an empty `sessions`.
    user = await context.loaders.user_by_id(provider, native_id) or UserRecord(provider, native_id)
    # Someone the caller may not see answers exactly like someone who is not there.
    if not context.principal.may_see_user(user):
        return None
    return SessionUser.from_record(user)


def _text(representation: dict[str, object], field: str, where: str) -> str:
    value = representation.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadUserInput(f"`{where}.{field}` must be a non-empty string.")
    return value


def _provider(value: str, where: str) -> Provider:
    try:
        return Provider(value)
    except ValueError:
        names = ", ".join(p.value for p in Provider)
        raise BadUserInput(f"`{where}.provider` must be one of {names}, got {value!r}.") from None
