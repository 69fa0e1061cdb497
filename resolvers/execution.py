"""Field execution, with a short path for leaf fields that only read their source.

graphql-core takes every field through the same steps: a resolve-info object, argument
coercion, Strawberry's resolver wrapper (which builds an `Info` per field), then value
completion. A page of 50 sessions has hundreds of scalar and enum fields whose resolver
returns an attribute of a record; for those the executor below reads the value and coerces
it directly. Anything unusual (an exception, a null where the schema says non-null, a value
the type rejects) goes the ordinary way, which reports it exactly as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_nullable_type,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


@dataclass(frozen=True, slots=True)
class LeafRead:
    """How to resolve one leaf field without the general machinery."""

    read: Callable[[Any], Any]
    leaf: GraphQLLeafType
    non_null: bool


def leaf_reads(schema: GraphQLSchema) -> dict[int, tuple[GraphQLField, LeafRead]]:
    """The schema's argument-free leaf fields whose resolver only reads `self`, by field id.

    The field object is kept beside its read so the id stays its own for the schema's life.
    """
    reads: dict[int, tuple[GraphQLField, LeafRead]] = {}
    for field in _object_fields(schema):
        read = _reader(field)
        leaf = get_nullable_type(field.type)
        if read is not None and is_leaf_type(leaf):
            non_null = isinstance(field.type, GraphQLNonNull)
            reads[id(field)] = (field, LeafRead(read, leaf, non_null))
    return reads


def _object_fields(schema: GraphQLSchema) -> Iterator[GraphQLField]:
    for named in schema.type_map.values():
        if isinstance(named, GraphQLObjectType) and not named.name.startswith("__"):
            yield from named.fields.values()


def _reader(field: GraphQLField) -> Callable[[Any], Any] | None:
    """A one-argument reader equivalent to the field's Strawberry resolver, if it is that simple."""
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if field.args or not isinstance(definition, StrawberryField) or definition.extensions:
        return None
    resolver = definition.base_resolver
    if resolver is None:
        # A field without resolver: Strawberry reads the attribute of the same name.
        if definition.default_resolver is not getattr:
            return None
        return attrgetter(definition.python_name)
    func = resolver.wrapped_func
    if resolver.is_async or not inspect.isfunction(func) or inspect.isgeneratorfunction(func):
        return None
    # Only `def field(self)`: no info, no root, no arguments.
    if list(inspect.signature(func).parameters) != ["self"]:
        return None
    return func


def _resolve_with(read: Callable[[Any], Any]) -> Callable[..., Any]:
    def resolve(source: Any, info: Any) -> Any:
        return read(source)

    return resolve


class GatewayExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with leaf reads done directly; `for_schema` binds the reads."""

    reads: ClassVar[dict[int, tuple[GraphQLField, LeafRead]]] = {}

    @classmethod
    def for_schema(cls, schema: GraphQLSchema) -> type[GatewayExecutor]:
        """An executor class with the leaf reads of `schema`.

        Object-typed fields whose resolver only reads `self` keep the ordinary path, but their
        resolve function becomes the plain read, without Strawberry's per-field `Info`.
        """
        for field in _object_fields(schema):
            read = _reader(field)
            if read is not None and not is_leaf_type(get_nullable_type(field.type)):
                field.resolve = _resolve_with(read)
        return type(cls.__name__, (cls,), {"reads": leaf_reads(schema)})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Field middleware (extensions with a `resolve` hook) must see every field.
        self._direct = not getattr(self.middleware_manager, "middlewares", None)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any | None,
    ) -> Any:
        if self._direct:
            field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            entry = self.reads.get(id(field_def))
            if entry is not None:
                plan = entry[1]
                try:
                    value = plan.read(source)
                except Exception:  # the ordinary path reports it
                    value = Undefined
                if value is None:
                    if not plan.non_null:
                        return None
                elif value is not Undefined and not isinstance(value, Exception):
                    try:
                        coerced = plan.leaf.coerce_output_value(value)
                    except Exception:  # the ordinary path reports it
                        coerced = None
                    if coerced is not None and coerced is not Undefined:
                        return coerced
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
