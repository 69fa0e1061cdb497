"""possibleTypes: each interface and union of the schema with the object types that implement
it, the map Apollo Client (`possibleTypes`) and urql graphcache (`schema`-less fragment
matching) need to match fragments on `Node`, `SessionExtras` or a mutation's result union."""

from __future__ import annotations

from graphql import GraphQLSchema, is_abstract_type


def possible_types(schema: GraphQLSchema) -> dict[str, list[str]]:
    """{abstract type name: sorted names of its object types}, introspection types left out."""
    found: dict[str, list[str]] = {}
    for name, kind in sorted(schema.type_map.items()):
        if name.startswith("__") or not is_abstract_type(kind):
            continue
        found[name] = sorted(t.name for t in schema.get_possible_types(kind))
    return found
