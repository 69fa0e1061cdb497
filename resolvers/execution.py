"""Field execution, with a short path for fields that only read their source.

graphql-core takes every field through the same steps: a resolve-info object, argument
coercion, Strawberry's resolver wrapper (which builds an `Info` per field), then value
completion by a chain of type tests. A page of 50 sessions has hundreds of fields whose
resolver returns an attribute of a record. For those, the executor below reads the value and
then coerces it (scalars and enums) or executes its selection (objects) directly. Anything
unusual (an exception, a null where the schema says non-null, a value the type rejects) goes
the ordinary way, which reports it exactly as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
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
class Read:
    """How to resolve one field without the general machinery."""

    field: GraphQLField  # kept so that its id stays its own for the schema's life
    read: Callable[[Any], Any]
    type: GraphQLLeafType | GraphQLObjectType  # the field's type, without non-null
    non_null: bool


def field_reads(schema: GraphQLSchema) -> dict[int, Read]:
    """By field id: the argument-free leaf and object fields whose resolver only reads `self`."""
    reads: dict[int, Read] = {}
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            read = _reader(field)
            nullable = get_nullable_type(field.type)
            if read is not None and (
                is_leaf_type(nullable) or isinstance(nullable, GraphQLObjectType)
            ):
                non_null = isinstance(field.type, GraphQLNonNull)
                reads[id(field)] = Read(field, read, nullable, non_null)
    return reads


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


class GatewayExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with simple reads done directly; `for_schema` binds them."""

    reads: ClassVar[dict[int, Read]] = {}

    @classmethod
    def for_schema(cls, schema: GraphQLSchema) -> type[GatewayExecutor]:
        """An executor class with the simple reads of `schema`."""
        return type(cls.__name__, (cls,), {"reads": field_reads(schema)})

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
            plan = self.reads.get(id(field_def))
            if plan is not None:
                completed = self._read(plan, source, field_details_list, path, position_context)
                if completed is not Undefined:
                    return completed
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _read(
        self,
        plan: Read,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any | None,
    ) -> Any:
        """The completed value of a simple field, or Undefined to take the ordinary path."""
        try:
            value = plan.read(source)
        except Exception:  # the ordinary path reports it
            return Undefined
        if value is None:
            return Undefined if plan.non_null else None
        if isinstance(value, Exception) or self.is_awaitable(value):
            return Undefined
        kind = plan.type
        if not isinstance(kind, GraphQLObjectType):
            try:
                coerced = kind.coerce_output_value(value)
            except Exception:  # the ordinary path reports it
                return Undefined
            return Undefined if coerced is None else coerced
        try:
            # Strawberry's checks read only the value; anything else goes the ordinary way.
            if kind.is_type_of is not None and kind.is_type_of(value, None) is not True:  # type: ignore[arg-type]
                return Undefined
        except Exception:
            return Undefined
        # From here on as graphql-core's execute_field: an error in the selection nulls this
        # field if it may be null, or goes up to the parent's.
        try:
            completed = self.collect_and_execute_subfields(
                kind, field_details_list, path, value, position_context
            )
        except Exception as error:
            self.handle_field_error(error, plan.field.type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._settle(completed, plan.field.type, field_details_list, path)
        return completed

    async def _settle(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, return_type, field_details_list, path)
            return None
