"""Field execution, with a short path for fields that only read their source.

graphql-core takes every field through the same steps: a resolve-info object, argument
coercion, Strawberry's resolver wrapper (which builds an `Info` per field), then value
completion by a chain of type tests. A page of 50 sessions has hundreds of fields whose
resolver returns an attribute of a record. For those, the executor below reads the value and
then coerces it (scalars and enums) or executes its selection (objects) directly. Anything
unusual (an exception, a null where the schema says non-null, a value the type rejects) is
handed, as read, to graphql-core's own completion, which reports it exactly as before: no
resolver runs twice.

The short path overrides graphql-core's private `execute_field`, calls other private methods
and reads Strawberry's field definitions. `short_path_executor` checks those against what this
module was written for (graphql-core 3.3, Strawberry 0.341) and, if they differ, logs one
warning and keeps Strawberry's executor. A request with field middleware (a schema extension
with a `resolve` hook), or with a middleware manager of unknown shape, takes the ordinary path
for every field.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar, cast

import strawberry
from graphql import (
    Executor,
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    MiddlewareManager,
    get_nullable_type,
    is_leaf_type,
)
from graphql.pyutils import Path
from strawberry.types import Info, get_object_definition

from resolvers.engine.internals import annotation_problems, seam, signature_problems

try:  # Not public API: if these move, `_problems` says so and the short path stays off.
    from graphql.execution.collect_fields import FieldDetailsList
    from strawberry.schema.schema_converter import GraphQLCoreConverter
    from strawberry.types.arguments import StrawberryArgument
    from strawberry.types.base import StrawberryOptional
    from strawberry.types.field import StrawberryField
except ImportError as error:  # pragma: no cover - only on another release
    _IMPORT_PROBLEM: str | None = f"an import failed: {error}"
else:
    _IMPORT_PROBLEM = None

__all__ = [
    "InfoRead",
    "Read",
    "ShortPathExecutor",
    "field_reader",
    "field_reads",
    "info_reads",
    "passes_type_check",
    "short_path_executor",
]

# What the short path overrides or calls on graphql-core's Executor, by parameter names.
_EXECUTOR_METHODS = {
    "execute_field": (
        "self", "parent_type", "source", "field_details_list", "path", "position_context"
    ),
    "collect_and_execute_subfields": (
        "self", "return_type", "field_details_list", "path", "result", "position_context"
    ),
    "complete_value": (
        "self", "return_type", "field_details_list", "info", "path", "result", "position_context"
    ),
    "complete_awaitable_value": (
        "self", "return_type", "field_details_list", "info", "path", "result", "position_context"
    ),
    "handle_field_error": ("self", "raw_error", "return_type", "field_details_list", "path"),
    "build_resolve_info": ("self", "field_def", "field_nodes", "parent_type", "path"),
}  # fmt: skip
_EXECUTOR_ATTRIBUTES = ("schema", "middleware_manager", "is_awaitable")
# StrawberryField.get_result is what the short path stands in for: it calls `base_resolver`
# with the arguments, or else `default_resolver(source, python_name)`.
_FIELD_METHODS = {"get_result": ("self", "source", "info", "args", "kwargs")}
_MISSING = object()


@strawberry.type
class _Probe:
    """Three fields whose Strawberry definitions show the attributes `field_reader` and
    `info_reads` read."""

    plain: int

    @strawberry.field
    def computed(self) -> int:
        return 0

    @strawberry.field
    def informed(self, info: strawberry.Info) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class InfoRead:
    """How to call a field's resolver that takes `self`, Strawberry's `Info` and, if any,
    arguments of built-in scalar types (which Strawberry passes on as graphql-core gives them).
    """

    call: Callable[..., Any]  # (source, Strawberry's Info, **arguments) -> value or coroutine
    definition: StrawberryField
    info_class: type[Any]  # Info(_raw_info=graphql-core's info, _field=definition)
    arguments: dict[str, str]  # GraphQL name -> the resolver's parameter


@dataclass(frozen=True, slots=True)
class Read:
    """How to resolve one field without the general machinery."""

    field: GraphQLField  # kept so that its id stays its own for the schema's life
    read: Callable[[Any], Any]
    type: GraphQLLeafType | GraphQLObjectType  # the field's type, without non-null
    non_null: bool


def short_path_executor(schema: strawberry.Schema) -> type[Executor[Any]] | None:
    """`schema`'s executor class with the short path, or None where it cannot be trusted."""
    base = schema.execution_context_class
    if not SHORT_PATH.usable(schema, base):
        return None
    reads = field_reads(schema._schema)
    executor = type(f"ShortPath{base.__name__}", (ShortPathExecutor, base), {"reads": reads})
    return cast("type[Executor[Any]]", executor)


def _problems(schema: strawberry.Schema, base: type[Any]) -> list[str]:
    """How the internals the short path relies on differ from what it expects."""
    if _IMPORT_PROBLEM is not None:
        return [_IMPORT_PROBLEM]
    if not issubclass(base, Executor):
        return [f"{base!r} is not a graphql-core Executor"]
    problems = signature_problems(base, _EXECUTOR_METHODS)
    problems += annotation_problems(base, _EXECUTOR_ATTRIBUTES)
    if base.execute_field is not Executor.execute_field:
        problems.append(f"{base.__qualname__} overrides execute_field itself")
    probe = object()
    if MiddlewareManager().middlewares != () or MiddlewareManager(probe).middlewares != (probe,):
        problems.append("MiddlewareManager.middlewares is not the tuple of middlewares")
    problems += signature_problems(StrawberryField, _FIELD_METHODS)
    if getattr(GraphQLCoreConverter, "DEFINITION_BACKREF", None) is None:
        problems.append("GraphQLCoreConverter.DEFINITION_BACKREF is missing")
    problems += _field_problems()
    graphql_schema = getattr(schema, "_schema", None)
    if not isinstance(graphql_schema, GraphQLSchema):
        problems.append("strawberry.Schema._schema is not a GraphQLSchema")
    elif not any(_definition(f) is not None for f in _object_fields(graphql_schema)):
        problems.append("no GraphQL field carries its StrawberryField in its extensions")
    return problems


SHORT_PATH = seam(
    "The short path for plain fields (resolvers/engine/execution.py)",
    "every field takes Strawberry's ordinary path",
    _problems,
)


def _field_problems() -> list[str]:
    """How Strawberry's field definitions differ from what `field_reader` reads."""
    fields = {f.python_name: f for f in get_object_definition(_Probe, strict=True).fields}
    plain, computed = fields["plain"], fields["computed"]
    resolver = computed.base_resolver
    func = getattr(resolver, "wrapped_func", None)
    found = {
        "StrawberryField.base_resolver": plain.base_resolver is None and resolver is not None,
        "StrawberryField.default_resolver": plain.default_resolver is getattr,
        "StrawberryField.extensions": list(plain.extensions) == [],
        "StrawberryResolver.wrapped_func": inspect.isfunction(func) and func.__name__ == "computed",
        "StrawberryResolver.is_async": getattr(resolver, "is_async", None) is False,
        "StrawberryResolver.info_parameter": _info_only(fields["informed"]) is not None,
        "Info(_raw_info, _field)": [f.name for f in dataclasses.fields(Info)][:2]
        == ["_raw_info", "_field"],
    }
    return [f"{name} is not as expected" for name, ok in found.items() if not ok]


def _object_fields(schema: GraphQLSchema) -> list[GraphQLField]:
    return [
        field
        for named in schema.type_map.values()
        if isinstance(named, GraphQLObjectType) and not named.name.startswith("__")
        for field in named.fields.values()
    ]


def _definition(field: GraphQLField) -> StrawberryField | None:
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return definition if isinstance(definition, StrawberryField) else None


def field_reads(schema: GraphQLSchema) -> dict[int, Read]:
    """By field id: the argument-free leaf and object fields whose resolver only reads `self`."""
    reads: dict[int, Read] = {}
    for field in _object_fields(schema):
        read = field_reader(field)
        nullable = get_nullable_type(field.type)
        if read is not None and (is_leaf_type(nullable) or isinstance(nullable, GraphQLObjectType)):
            non_null = isinstance(field.type, GraphQLNonNull)
            reads[id(field)] = Read(field, read, nullable, non_null)
    return reads


def info_reads(schema: strawberry.Schema) -> dict[int, InfoRead]:
    """By field id: the fields whose resolver takes `self`, `info` and built-in scalar
    arguments, where Strawberry's wrapper would only make the `Info`, pass the arguments on
    and call it (no field extension, no exception handler of the schema's)."""
    converter = getattr(schema, "schema_converter", None)
    if getattr(converter, "_exception_handler_specs", None) != ():
        return {}
    info_class = schema.config.info_class
    reads: dict[int, InfoRead] = {}
    for field in _object_fields(schema._schema):
        definition = _definition(field)
        if definition is None or definition.extensions:
            continue
        if type(definition).get_result is not StrawberryField.get_result:
            continue
        call = _info_only(definition)
        arguments = _scalar_arguments(definition, field)
        if call is not None and arguments is not None:
            reads[id(field)] = InfoRead(call, definition, info_class, arguments)
    return reads


def _info_only(definition: StrawberryField) -> Callable[..., Any] | None:
    """The resolver function, if its parameters are `self`, the `Info`, then its arguments."""
    resolver = definition.base_resolver
    if resolver is None:
        return None
    func = resolver.wrapped_func
    if not inspect.isfunction(func) or inspect.isgeneratorfunction(func):
        return None
    if inspect.isasyncgenfunction(func) or resolver.self_parameter is None:
        return None
    info = resolver.info_parameter
    parameters = inspect.signature(func).parameters.values()
    named = [a.python_name for a in definition.arguments]
    if info is None or [p.name for p in parameters] != ["self", info.name, *named]:
        return None
    # Passed by position (self, info) and by keyword (the arguments), as either may be.
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters):
        return None
    return func


# Arguments Strawberry hands to the resolver as graphql-core coerced them.
_PASSED_AS_IS = (int, str, bool, float)


def _scalar_arguments(definition: StrawberryField, field: GraphQLField) -> dict[str, str] | None:
    """GraphQL name -> parameter of the field's arguments, if all are built-in scalars."""
    arguments: dict[str, str] = {}
    for name, graphql_argument in field.args.items():
        argument = graphql_argument.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(argument, StrawberryArgument):
            return None
        kind = argument.type
        if isinstance(kind, StrawberryOptional):
            kind = kind.of_type
        if kind not in _PASSED_AS_IS:
            return None
        arguments[name] = argument.python_name
    return arguments


def field_reader(field: GraphQLField) -> Callable[[Any], Any] | None:
    """A one-argument reader equivalent to the field's Strawberry resolver, if it is that simple."""
    definition = _definition(field)
    # A subclass may resolve in its own way (get_result), and extensions wrap the resolver.
    if field.args or definition is None or definition.extensions:
        return None
    if type(definition).get_result is not StrawberryField.get_result:
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


def _no_middleware(manager: object) -> bool:
    """Whether `manager` is known to wrap no resolver: none, or graphql-core's, empty."""
    if manager is None:
        return True
    return type(manager) is MiddlewareManager and getattr(manager, "middlewares", None) == ()


def passes_type_check(kind: GraphQLObjectType, value: Any) -> bool:
    """Whether `kind`'s type check passes without an `info` (else the ordinary path checks)."""
    if kind.is_type_of is None:
        return True
    try:
        return kind.is_type_of(value, None) is True  # type: ignore[arg-type]
    except Exception:
        return False


def _coerced(kind: GraphQLLeafType, value: Any) -> Any:
    """`value` as `kind` serialises it, or None if it refuses (the ordinary path reports it)."""
    try:
        return kind.coerce_output_value(value)
    except Exception:
        return None


class ShortPathExecutor(Executor[Any]):
    """Put before Strawberry's executor: simple reads done directly (`short_path_executor`)."""

    reads: ClassVar[dict[int, Read]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Field middleware must see every field; a manager of unknown shape may hold some.
        self._direct = _no_middleware(getattr(self, "middleware_manager", _MISSING))

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
                return self._read(
                    plan, parent_type, source, field_details_list, path, position_context
                )
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _read(
        self,
        plan: Read,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any | None,
    ) -> Any:
        """The completed value of a simple field, whose resolver is called exactly once."""
        try:
            value = plan.read(source)
        except Exception as error:  # as graphql-core handles a resolver's exception
            self.handle_field_error(error, plan.field.type, field_details_list, path)
            return None
        kind = plan.type
        if value is None:
            if not plan.non_null:
                return None
        elif not isinstance(value, Exception) and not self.is_awaitable(value):
            if isinstance(kind, GraphQLObjectType):
                if passes_type_check(kind, value):
                    return self._select(plan, value, field_details_list, path, position_context)
            else:
                coerced = _coerced(kind, value)
                if coerced is not None:
                    return coerced
        return self.complete_read(
            plan.field, parent_type, value, field_details_list, path, position_context
        )

    def _select(
        self,
        plan: Read,
        value: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any | None,
    ) -> Any:
        """An object's selection, executed; errors handled as graphql-core's execute_field does."""
        kind = cast("GraphQLObjectType", plan.type)
        try:
            completed = self.collect_and_execute_subfields(
                kind, field_details_list, path, value, position_context
            )
        except Exception as error:
            self.handle_field_error(error, plan.field.type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self.settle_field(completed, plan.field.type, field_details_list, path)
        return completed

    def complete_read(
        self,
        field: GraphQLField,
        parent_type: GraphQLObjectType,
        value: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any | None,
    ) -> Any:
        """`value`, already read, completed by graphql-core as if its resolver had returned it."""
        nodes = [details.node for details in field_details_list]
        info = self.build_resolve_info(field, nodes, parent_type, path)
        return self.complete_with(
            field.type, field_details_list, info, path, value, position_context
        )

    def complete_with(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        value: Any,
        position_context: Any | None,
    ) -> Any:
        """`value` completed by graphql-core, with the field's `info` already made."""
        try:
            if self.is_awaitable(value):
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, path, value, position_context
                )
            completed = self.complete_value(
                return_type, field_details_list, info, path, value, position_context
            )
        except Exception as error:
            self.handle_field_error(error, return_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self.settle_field(completed, return_type, field_details_list, path)
        return completed

    async def settle_field(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        """`completed`'s value, its error handled as graphql-core handles a field's."""
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, return_type, field_details_list, path)
            return None
