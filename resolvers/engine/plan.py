"""Compiled plans: a known document's selection sets run as prebuilt steps.

graphql-core executes every field of every object the same way: a `Path`, a lookup of the
field definition, a resolve-info object, the resolver through Strawberry's wrapper, then value
completion by a chain of type tests. For a document seen before, the work per field can be
decided once. The first time a selection set of an object type is collected, it is compiled
into a `Plan`: one step per response key, each a closure that knows its field's reader (the
short path's, resolvers/engine/execution.py), its type, whether it is non-null and, for leaves, how
to coerce. Plans are kept, by the identity of the collected field nodes (so by document and by
the outcome of `@include`/`@skip`), for later requests with the same parsed document (the
document cache, resolvers/engine/caching.py, hands out the same one), and dropped with that
document.

A resolver of `self`, `info` and built-in scalar arguments given as literals is called by its
step, with the `Info` and the arguments Strawberry would pass (`info_reads`); an awaitable it
returns is completed by graphql-core, as its own `execute_field` would. A read field of a union
or interface type finds its value's runtime type with the type's own `resolve_type` and runs
that type's plan. A step runs the ordinary way (graphql-core's `execute_field`) where the plan
cannot stand in for it: other arguments (variables, input objects), other async resolvers, lists
of abstract types, nested lists, directives other than `@include`/`@skip`. Decided at compile
time, so no resolver runs twice. At run time a step hands anything unusual (an exception, a null
in a non-null position, a value its type does not coerce, a failed type check) to graphql-core's
own completion with the value as read, and errors go through `handle_field_error`: messages,
paths and null propagation are graphql-core's. A plan that keeps running is written out as one
function that does what its steps' loop does (resolvers/engine/plan_source.py). Mutations,
subscriptions, `@defer`, and requests with field middleware are not compiled.
`tests/engine/test_plan.py` compares the answers with graphql-core's (a differential test).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable, Callable, Generator, Mapping
from functools import partial
from typing import Any, ClassVar, NamedTuple, cast

import strawberry
from graphql import (
    Executor,
    GraphQLAbstractType,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInterfaceType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    GraphQLUnionType,
    OperationType,
    Undefined,
)
from graphql.execution import values
from graphql.execution.collect_fields import FieldDetails, FieldDetailsList, FragmentDetails
from graphql.execution.values import get_argument_values
from graphql.language import (
    FragmentSpreadNode,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)
from graphql.pyutils import Path

from resolvers.engine.execution import (
    InfoRead,
    ShortPathExecutor,
    field_reader,
    info_reads,
    passes_type_check,
    short_path_executor,
)
from resolvers.engine.internals import annotation_problems, log, seam, signature_problems
from resolvers.engine.plan_source import NO, SETTLED, Leaf, Object, StepSource, plan_function

try:  # Not public API: if it moves, `_problems` says so and plans stay off.
    from graphql.pyutils import gather_with_cancel
except ImportError as error:  # pragma: no cover - only on another release
    _IMPORT_PROBLEM: str | None = f"an import failed: {error}"
else:
    _IMPORT_PROBLEM = None

__all__ = ["CompiledExecutor", "Plan", "compiled_executor"]

# Beyond the short path's: what the plans call on graphql-core's Executor.
_EXECUTOR_METHODS = {
    "collect_subfields": ("self", "return_type", "field_details_list"),
    "execute_field": (
        "self", "parent_type", "source", "field_details_list", "path", "position_context"
    ),
    "complete_list_item_value": (
        "self", "item", "complete_results", "item_type", "field_details_list", "info",
        "item_path", "position_context",
    ),
    "complete_awaitable_list_item_value": (
        "self", "item", "item_type", "field_details_list", "info", "item_path",
        "position_context",
    ),
    "settle_in_background": ("self", "awaitables"),
    "ensure_valid_runtime_type": (
        "self", "runtime_type_name", "return_type", "field_details_list", "info", "result"
    ),
    "complete_object_value": (
        "self", "return_type", "field_details_list", "info", "path", "result", "position_context"
    ),
    "with_abort_signal": ("self", "awaitable"),
}  # fmt: skip
_PLANS = 256  # compiled selection sets per operation; beyond that, graphql-core's way
_STANDARD_DIRECTIVES = frozenset({"include", "skip"})

# step(executor, source, path of the source object) -> the completed value, or Undefined.
Step = Callable[["CompiledExecutor", Any, Path], Any]


class Plan:
    """One object type's collected selection set, compiled.

    Its steps run in a loop for the plan's first `HOT` runs; it is then written out as one
    function (resolvers/engine/plan_source.py). Compiling costs about a fifth of a millisecond
    per field, so only a plan that keeps running is worth it.
    """

    __slots__ = ("__weakref__", "held", "kind", "looped", "run", "runs", "steps")
    HOT: ClassVar[int] = 1000  # runs (objects completed) before the plan is written out

    def __init__(
        self,
        kind: GraphQLObjectType,
        steps: tuple[StepSource, ...],
        held: tuple[FieldDetailsList, ...],  # keeps the field nodes of the plan's key alive
    ) -> None:
        self.kind = kind
        self.steps = steps
        self.looped = tuple((step.key, step.step, step.may_await) for step in steps)
        self.held = held
        self.runs = 0
        # run(executor, source, path) -> the selection's value: the loop, then the function.
        # Through a weak reference: a plan that held itself would wait for the cyclic
        # collector, not go with its document.
        self.run: Callable[[CompiledExecutor, Any, Path], Any] = partial(
            _counted, weakref.ref(self)
        )

    def _loop(self, executor: CompiledExecutor, source: Any, path: Path) -> Any:
        """`source`'s selection, as graphql-core's execute_fields completes it."""
        results: dict[str, Any] = {}
        pending: list[str] = []
        is_awaitable = executor.is_awaitable
        try:
            for name, step, may_await in self.looped:
                result = step(executor, source, path)
                if result is not Undefined:
                    results[name] = result
                    if may_await and result.__class__ not in SETTLED and is_awaitable(result):
                        pending.append(name)
        except Exception:
            if pending:  # others' awaitables may fail too: settle them
                executor.settle_in_background([results[name] for name in pending])
            raise
        if not pending:
            return results
        return _settled(results, pending)


def _counted(
    plan_ref: weakref.ref[Plan], executor: CompiledExecutor, source: Any, path: Path
) -> Any:
    """The plan's loop, counted; past `Plan.HOT` runs, the plan written out."""
    plan = cast("Plan", plan_ref())  # alive: its caller holds it
    plan.runs += 1
    if plan.runs <= plan.HOT:
        return plan._loop(executor, source, path)
    plan.run = partial(_looped, plan_ref)  # counted no more, written out or not
    try:
        plan.run = plan_function(plan.kind, plan.steps, _settled)
    except Exception:  # a fault of plan_source's: the loop answers as it did
        log.exception("a compiled plan could not be written out; its loop runs on")
    return plan.run(executor, source, path)


def _looped(
    plan_ref: weakref.ref[Plan], executor: CompiledExecutor, source: Any, path: Path
) -> Any:
    return cast("Plan", plan_ref())._loop(executor, source, path)


async def _settled(results: dict[str, Any], pending: list[str]) -> dict[str, Any]:
    """`results` once its pending values are settled, as graphql-core's execute_fields does."""
    if len(pending) == 1:
        results[pending[0]] = await results[pending[0]]
    else:
        awaited = await gather_with_cancel(*(results[name] for name in pending))
        results.update(zip(pending, awaited, strict=True))
    return results


def compiled_executor(schema: strawberry.Schema) -> type[Executor[Any]] | None:
    """The short path's executor with compiled plans, or the short path's alone if they
    cannot be trusted, or None (Strawberry's) if neither can."""
    short = short_path_executor(schema)
    if short is None:
        return None
    if not PLANS.usable():
        return short
    attributes = {"plans": {}, "info_reads": info_reads(schema)}
    executor = type(f"Compiled{short.__name__}", (CompiledExecutor, short), attributes)
    return cast("type[Executor[Any]]", executor)


def _problems() -> list[str]:
    """How the graphql-core internals the plans rely on differ from what they expect."""
    if _IMPORT_PROBLEM is not None:
        return [_IMPORT_PROBLEM]
    problems = signature_problems(Executor, _EXECUTOR_METHODS)
    if FieldDetails._fields != ("node", "defer_usage", "fragment_variable_values"):
        problems.append(f"FieldDetails has the fields {FieldDetails._fields}")
    if Path._fields != ("prev", "key", "typename"):
        problems.append(f"Path has the fields {Path._fields}")
    if FragmentDetails._fields != ("definition", "variable_signatures"):
        problems.append(f"FragmentDetails has the fields {FragmentDetails._fields}")
    if "arguments" not in FragmentSpreadNode.keys:
        problems.append("FragmentSpreadNode has no arguments")
    problems += annotation_problems(Executor, ("fragments", "abort_signal", "hide_suggestions"))
    problems += signature_problems(
        values,
        {
            "get_argument_values": (
                "type_def", "node", "variable_values", "fragment_variable_values",
                "hide_suggestions",
            )
        },
    )  # fmt: skip
    return problems


PLANS = seam(
    "Compiled plans (resolvers/engine/plan.py)",
    "fields take the short path or graphql-core's",
    _problems,
)


class CompiledExecutor(ShortPathExecutor):
    """Runs collected selection sets through their plans (`compiled_executor`)."""

    # By id of the operation node: each entry goes when its document is collected.
    plans: ClassVar[dict[int, dict[tuple[Any, ...], Plan | None]]] = {}
    info_reads: ClassVar[dict[int, InfoRead]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        operation = getattr(getattr(self, "operation", None), "operation", None)
        # An abort signal is watched by graphql-core's own way of awaiting resolvers.
        aborts = getattr(self, "abort_signal", None) is not None
        self._compiled = self._direct and operation is OperationType.QUERY and not aborts
        # This request's plans by (type, id of the field group), as graphql-core memoizes.
        self._mine: dict[tuple[GraphQLObjectType, int], tuple[FieldDetailsList, Plan | None]] = {}

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        result: Any,
        position_context: Any | None,
    ) -> Any:
        if self._compiled and position_context is None:
            plan = self.plan_for(return_type, field_details_list)
            if plan is not None:
                return plan.run(self, result, path)
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context
        )

    def plan_for(
        self, kind: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Plan | None:
        """The plan of `kind`'s subfields of these fields in this request; None: not compiled."""
        found = self._mine.get((kind, id(field_details_list)))
        if found is None:
            found = (field_details_list, self._plan(kind, field_details_list))
            self._mine[(kind, id(field_details_list))] = found
        return found[1]

    def _plan(self, kind: GraphQLObjectType, field_details_list: FieldDetailsList) -> Plan | None:
        """The plan for `kind`'s subfields here, compiled the first time; None: not compiled."""
        grouped, deferred, _ = self.collect_subfields(kind, field_details_list)
        if deferred:
            return None
        groups = list(grouped.items())
        details = [d for _, group in groups for d in group]
        if any(d.defer_usage is not None or d.fragment_variable_values for d in details):
            return None
        # The same nodes of the same document, collected for the same type: the same plan.
        key = (kind, *(id(d.node) for d in details))
        plans = self._kept()
        if key in plans:
            return plans[key]
        if len(plans) >= _PLANS:  # e.g. many @include variables: no more plans for it
            return None
        steps = tuple(_step(self, kind, name, group) for name, group in groups)
        plan = Plan(kind, steps, tuple(group for _, group in groups))
        plans[key] = plan
        return plan

    def _kept(self) -> dict[tuple[Any, ...], Plan | None]:
        """The plans of this request's operation: its document's, so they live as long."""
        operation = self.operation
        kept = self.plans.get(id(operation))
        if kept is None:
            kept = self.plans[id(operation)] = {}
            # A plan holds field nodes, not the operation: it can go, and its plans with it.
            weakref.finalize(operation, self.plans.pop, id(operation), None)
        return kept

    def _list(
        self,
        item: _Item,
        items: list[Any] | tuple[Any, ...],
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        """A list's items completed, as graphql-core's complete_iterable_value does."""
        completed: list[Any] = []
        append = completed.append
        pending: list[int] = []
        is_awaitable = self.is_awaitable
        non_null, coerce, nested = item.non_null, item.coerce, item.nested
        info = None
        try:
            for index, value in enumerate(items):
                if value is None:
                    if not non_null:
                        append(None)
                        continue
                elif coerce is not None:
                    out = coerce(value)
                    if out is not NO:
                        append(out)
                        continue
                elif item.is_type(value) and not is_awaitable(value):
                    item_path = Path(path, index, None)
                    try:
                        done = cast("_Nested", nested).execute(self, value, item_path)
                    except Exception as error:
                        self.handle_field_error(error, item.type, field_details_list, item_path)
                        append(None)
                        continue
                    if done.__class__ is not dict and is_awaitable(done):
                        append(self.settle_field(done, item.type, field_details_list, item_path))
                        pending.append(index)
                    else:
                        append(done)
                    continue
                # Anything else: graphql-core's own handling of this item.
                if info is None:
                    nodes = [d.node for d in field_details_list]
                    info = self.build_resolve_info(item.field, nodes, item.parent, path)
                item_path = Path(path, index, None)
                if is_awaitable(value):
                    append(
                        self.complete_awaitable_list_item_value(
                            value, item.type, field_details_list, info, item_path, None
                        )
                    )
                    pending.append(index)
                elif self.complete_list_item_value(
                    value, completed, item.type, field_details_list, info, item_path, None
                ):
                    pending.append(index)
        except Exception:
            if pending:
                self.settle_in_background([completed[index] for index in pending])
            raise
        if not pending:
            return completed

        async def settled() -> list[Any]:
            if len(pending) == 1:
                completed[pending[0]] = await completed[pending[0]]
            else:
                awaited = await gather_with_cancel(*(completed[index] for index in pending))
                for index, value in zip(pending, awaited, strict=True):
                    completed[index] = value
            return completed

        return settled()


class _Item(NamedTuple):
    """What completing one item of a list field needs."""

    field: GraphQLField
    parent: GraphQLObjectType
    type: GraphQLOutputType  # the item type, non-null or not
    kind: GraphQLLeafType | GraphQLObjectType
    non_null: bool
    coerce: Callable[[Any], Any] | None  # leaves only
    is_type: Callable[[Any], bool]
    nested: _Nested | None  # objects only


class _Nested:
    """An object field's selection set, executed through its plan.

    graphql-core collects the selection again in every request, since `@include`/`@skip` may
    depend on variables. Where nothing it looks at has a directive (nor fragment arguments),
    the outcome depends on the document alone: the plan is then found once and kept here.
    """

    __slots__ = ("group", "kind", "plan", "static")

    def __init__(self, kind: GraphQLObjectType, group: FieldDetailsList, static: bool) -> None:
        self.kind = kind
        self.group = group
        self.static = static
        self.plan: Plan | None = None

    def execute(self, executor: CompiledExecutor, value: Any, path: Path) -> Any:
        plan = self.plan
        if plan is None and self.static:
            self.static = False  # looked up once, compiled or not
            plan = self.plan = executor.plan_for(self.kind, self.group)
        if plan is not None:
            return plan.run(executor, value, path)
        return executor.collect_and_execute_subfields(self.kind, self.group, path, value, None)


def _static(fragments: Mapping[str, FragmentDetails], group: FieldDetailsList) -> bool:
    """Whether collecting `group`'s subfields depends on the document alone: no directive and
    no fragment arguments in the selections it visits (so no variable and no `@defer`)."""
    seen: set[str] = set()

    def plain(selection_set: SelectionSetNode) -> bool:
        for selection in selection_set.selections:
            if selection.directives:
                return False
            if isinstance(selection, InlineFragmentNode):
                if not plain(selection.selection_set):
                    return False
            elif isinstance(selection, FragmentSpreadNode):
                if selection.arguments:
                    return False
                name = selection.name.value
                if name in seen:
                    continue
                seen.add(name)
                fragment = fragments.get(name)
                if fragment is None or fragment.variable_signatures:
                    return False
                if not plain(fragment.definition.selection_set):
                    return False
        return True

    return all(d.node.selection_set is None or plain(d.node.selection_set) for d in group)


def _step(
    executor: CompiledExecutor, parent: GraphQLObjectType, name: str, group: FieldDetailsList
) -> StepSource:
    """The step for one response key: compiled where the plan can stand in, else ordinary."""
    node = group[0].node
    tname = parent.name
    if node.name.value == "__typename" and _plain(group):
        return StepSource(name, lambda _executor, _source, _path: tname, False)
    field = executor.schema.get_field(parent, node.name.value)
    read = field_reader(field) if field is not None and _plain(group) else None
    shape = _shape(field.type) if field is not None else None
    informed = executor.info_reads.get(id(field)) if field is not None and read is None else None
    if field is not None and informed is not None and shape is not None:
        arguments = _literal_arguments(executor, field, group, informed)
        if arguments is not None:
            step = _informed_step(executor, parent, name, group, field, informed, arguments, shape)
            return StepSource(name, step, True)
    if field is not None and read is not None and shape is None:
        abstract = _abstract_shape(field.type)
        if abstract is not None:
            step = _abstract_step(executor, parent, name, group, field, read, *abstract)
            return StepSource(name, step, True)
    if field is None or read is None or shape is None:

        def ordinary(executor: CompiledExecutor, source: Any, path: Path) -> Any:
            return executor.execute_field(parent, source, group, Path(path, name, tname), None)

        return StepSource(name, ordinary, True)
    non_null, listed, item_non_null, kind = shape
    rtype = field.type
    nested = None
    if isinstance(kind, GraphQLObjectType):
        nested = _Nested(kind, group, _static(executor.fragments, group))
    if listed:
        item_type = get_item_type(rtype)
        item = _Item(
            field,
            parent,
            item_type,
            kind,
            item_non_null,
            _coercer(kind) if not isinstance(kind, GraphQLObjectType) else None,
            _type_check(kind),
            nested,
        )

        items = _items(item, group)

        def list_value(executor: CompiledExecutor, value: Any, here: Path) -> Any:
            if value.__class__ is list or value.__class__ is tuple:
                return _completed(executor, items, value, rtype, group, here)
            return executor.complete_read(field, parent, value, group, here, None)

        return StepSource(
            name, _read_step(parent, name, group, field, read, non_null, list_value), True
        )
    if nested is not None:
        is_type = _type_check(kind)
        execute = nested.execute

        def object_value(executor: CompiledExecutor, value: Any, here: Path) -> Any:
            if is_type(value) and not executor.is_awaitable(value):
                return _completed(executor, execute, value, rtype, group, here)
            return executor.complete_read(field, parent, value, group, here, None)

        step = _read_step(parent, name, group, field, read, non_null, object_value)
        written = Object(read, is_type, execute)
        return StepSource(name, step, True, written, field, group, non_null)
    coerce = _coercer(kind)

    def leaf_step(executor: CompiledExecutor, source: Any, path: Path) -> Any:
        try:
            value = read(source)
        except Exception as error:
            executor.handle_field_error(error, rtype, group, Path(path, name, tname))
            return None
        if value is not None:
            out = coerce(value)
            if out is not NO:
                return out
        elif not non_null:
            return None
        return executor.complete_read(field, parent, value, group, Path(path, name, tname), None)

    # A leaf's value may be an awaitable only where graphql-core completes it (`complete_read`).
    leaf = Leaf(read, _strings(kind), coerce)
    return StepSource(name, leaf_step, True, leaf, field, group, non_null)


def _informed_step(
    executor: CompiledExecutor,
    parent: GraphQLObjectType,
    name: str,
    group: FieldDetailsList,
    field: GraphQLField,
    informed: InfoRead,
    arguments: dict[str, Any],
    shape: tuple[bool, bool, bool, GraphQLLeafType | GraphQLObjectType],
) -> Step:
    """The step of a field whose resolver takes `self`, `info` and literal scalar arguments:
    called with the `Info` and the arguments Strawberry would pass, and what it returns
    completed as the other steps complete a read (an awaitable by graphql-core, as its own
    `execute_field` would)."""
    tname = parent.name
    non_null, listed, item_non_null, kind = shape
    rtype = field.type
    nodes = [d.node for d in group]
    call, definition, info_class = informed.call, informed.definition, informed.info_class
    nested = None
    if isinstance(kind, GraphQLObjectType):
        nested = _Nested(kind, group, _static(executor.fragments, group))
    leaf = None if isinstance(kind, GraphQLObjectType) else _coercer(kind)
    is_type = _type_check(kind)
    items = coerce = None
    if listed:
        item_type = get_item_type(rtype)
        item = _Item(field, parent, item_type, kind, item_non_null, leaf, is_type, nested)
        items = _items(item, group)
    else:
        coerce = leaf

    def informed_step(executor: CompiledExecutor, source: Any, path: Path) -> Any:
        here = Path(path, name, tname)
        info = executor.build_resolve_info(field, nodes, parent, here)
        try:
            value = call(source, info_class(_raw_info=info, _field=definition), **arguments)
        except Exception as error:  # as graphql-core handles a resolver's exception
            executor.handle_field_error(error, rtype, group, here)
            return None
        if value is None:
            if not non_null:
                return None
        elif value.__class__ not in SETTLED and executor.is_awaitable(value):
            return executor.complete_awaitable_value(rtype, group, info, here, value, None)
        elif items is not None:
            if value.__class__ is list or value.__class__ is tuple:
                return _completed(executor, items, value, rtype, group, here)
        elif nested is not None:
            if is_type(value):
                return _completed(executor, nested.execute, value, rtype, group, here)
        elif coerce is not None:
            out = coerce(value)
            if out is not NO:
                return out
        return executor.complete_with(rtype, group, info, here, value, None)

    return informed_step


def _abstract_step(
    executor: CompiledExecutor,
    parent: GraphQLObjectType,
    name: str,
    group: FieldDetailsList,
    field: GraphQLField,
    read: Callable[[Any], Any],
    non_null: bool,
    kind: GraphQLAbstractType,
) -> Step:
    """The step of a read field of a union or interface type: its value's runtime type found
    by the type's `resolve_type`, then completed through that type's plan, as graphql-core's
    complete_abstract_value does; anything else unusual is left to graphql-core."""
    rtype = field.type
    nodes = [d.node for d in group]
    resolve_type = cast("Callable[..., Any]", kind.resolve_type)
    static = _static(executor.fragments, group)
    # A runtime type that is no possible type of `kind` is graphql-core's to report.
    runtime: dict[str, tuple[Callable[[Any], bool], Callable[[CompiledExecutor, Any, Path], Any]]]
    runtime = {
        possible.name: (_type_check(possible), _Nested(possible, group, static).execute)
        for possible in executor.schema.get_possible_types(kind)
    }

    def abstract_value(executor: CompiledExecutor, value: Any, here: Path) -> Any:
        if not isinstance(value, Exception) and not executor.is_awaitable(value):
            info = executor.build_resolve_info(field, nodes, parent, here)
            try:
                named = resolve_type(value, info, kind)
            except Exception as error:  # as graphql-core's execute_field handles it
                executor.handle_field_error(error, rtype, group, here)
                return None
            found = runtime.get(named) if named.__class__ is str else None
            if found is not None and found[0](value):
                return _completed(executor, found[1], value, rtype, group, here)
            return _resolved(executor, kind, rtype, group, info, here, value, named)
        return executor.complete_read(field, parent, value, group, here, None)

    return _read_step(parent, name, group, field, read, non_null, abstract_value)


def _read_step(
    parent: GraphQLObjectType,
    name: str,
    group: FieldDetailsList,
    field: GraphQLField,
    read: Callable[[Any], Any],
    non_null: bool,
    complete: Callable[[CompiledExecutor, Any, Path], Any],
) -> Step:
    """The step of a read field of a list, object or abstract type: a read that raises, and a
    null, handled as graphql-core handles them; any other value completed by `complete`."""
    tname = parent.name
    rtype = field.type

    def read_step(executor: CompiledExecutor, source: Any, path: Path) -> Any:
        here = Path(path, name, tname)
        try:
            value = read(source)
        except Exception as error:  # as graphql-core handles a resolver's exception
            executor.handle_field_error(error, rtype, group, here)
            return None
        if value is not None:
            return complete(executor, value, here)
        if not non_null:
            return None
        return executor.complete_read(field, parent, value, group, here, None)

    return read_step


def _resolved(
    executor: CompiledExecutor,
    kind: GraphQLAbstractType,
    rtype: GraphQLOutputType,
    group: FieldDetailsList,
    info: GraphQLResolveInfo[Any],
    here: Path,
    value: Any,
    named: Any,
) -> Any:
    """`value` completed as graphql-core's complete_abstract_value does once its `resolve_type`
    answered `named` (not asked again), errors handled as its execute_field does."""
    try:
        if executor.is_awaitable(named):

            async def runtime_type_known() -> Any:
                runtime = executor.ensure_valid_runtime_type(
                    await executor.with_abort_signal(named), kind, group, info, value
                )
                completed = executor.complete_object_value(runtime, group, info, here, value, None)
                return await completed if executor.is_awaitable(completed) else completed

            return executor.settle_field(runtime_type_known(), rtype, group, here)
        runtime = executor.ensure_valid_runtime_type(named, kind, group, info, value)
        completed = executor.complete_object_value(runtime, group, info, here, value, None)
    except Exception as error:
        executor.handle_field_error(error, rtype, group, here)
        return None
    if executor.is_awaitable(completed):
        return executor.settle_field(completed, rtype, group, here)
    return completed


def _items(item: _Item, group: FieldDetailsList) -> Callable[[CompiledExecutor, Any, Path], Any]:
    """How `_completed` completes the items of a list field."""

    def complete(executor: CompiledExecutor, value: Any, here: Path) -> Any:
        return executor._list(item, value, group, here)

    return complete


def _completed(
    executor: CompiledExecutor,
    complete: Callable[[CompiledExecutor, Any, Path], Any],
    value: Any,
    rtype: GraphQLOutputType,
    group: FieldDetailsList,
    here: Path,
) -> Any:
    """A list's items or an object's selection, completed by `complete`; errors handled as
    graphql-core's execute_field does."""
    try:
        completed = complete(executor, value, here)
    except Exception as error:
        executor.handle_field_error(error, rtype, group, here)
        return None
    if completed.__class__ not in SETTLED and executor.is_awaitable(completed):
        return executor.settle_field(completed, rtype, group, here)
    return completed


def _literal_arguments(
    executor: CompiledExecutor, field: GraphQLField, group: FieldDetailsList, informed: InfoRead
) -> dict[str, Any] | None:
    """The resolver's keyword arguments, where the document gives them without variables (so
    every request of it passes the same); None where graphql-core is to coerce them."""
    nodes = [d.node for d in group]
    if any(d.name.value not in _STANDARD_DIRECTIVES for n in nodes for d in n.directives or ()):
        return None
    if any(_has_variable(argument.value) for n in nodes for argument in n.arguments or ()):
        return None
    try:
        values = get_argument_values(field, nodes[0], None, None, executor.hide_suggestions)
    except Exception:  # reported by graphql-core's own way, per request
        return None
    return {informed.arguments[name]: value for name, value in values.items()}


def _has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(item.value) for item in value.fields)
    return False


def get_item_type(list_type: GraphQLOutputType) -> GraphQLOutputType:
    """The item type of a (possibly non-null) list type."""
    if isinstance(list_type, GraphQLNonNull):
        list_type = list_type.of_type
    return cast("GraphQLList[GraphQLOutputType]", list_type).of_type


def _plain(group: FieldDetailsList) -> bool:
    """Whether every node of the group is an argument-free field with only @include/@skip."""
    return all(
        not d.node.arguments
        and all(
            directive.name.value in _STANDARD_DIRECTIVES for directive in d.node.directives or ()
        )
        for d in group
    )


def _shape(
    rtype: GraphQLOutputType,
) -> tuple[bool, bool, bool, GraphQLLeafType | GraphQLObjectType] | None:
    """(non-null, a list, items non-null, the named type) where plans complete the type."""
    non_null = isinstance(rtype, GraphQLNonNull)
    inner = rtype.of_type if isinstance(rtype, GraphQLNonNull) else rtype
    listed = isinstance(inner, GraphQLList)
    item_non_null = False
    if isinstance(inner, GraphQLList):
        inner = inner.of_type
        item_non_null = isinstance(inner, GraphQLNonNull)
        if isinstance(inner, GraphQLNonNull):
            inner = inner.of_type
    if isinstance(inner, GraphQLObjectType | GraphQLLeafType):
        return non_null, listed, item_non_null, inner
    return None  # abstract types and lists of lists: graphql-core's


def _abstract_shape(rtype: GraphQLOutputType) -> tuple[bool, GraphQLAbstractType] | None:
    """(non-null, the type) for a union or interface type (not a list of one) whose own
    `resolve_type` finds its values' runtime types, as Strawberry gives each."""
    non_null = isinstance(rtype, GraphQLNonNull)
    inner = rtype.of_type if isinstance(rtype, GraphQLNonNull) else rtype
    if not isinstance(inner, GraphQLInterfaceType | GraphQLUnionType):
        return None
    if inner.resolve_type is None or inspect.iscoroutinefunction(inner.resolve_type):
        return None
    return non_null, inner


def _type_check(kind: GraphQLLeafType | GraphQLObjectType) -> Callable[[Any], bool]:
    """Whether a value passes `kind`'s is_type_of (always, if it has none)."""
    if not isinstance(kind, GraphQLObjectType) or kind.is_type_of is None:
        return lambda value: not isinstance(value, Exception)
    object_kind = kind
    return lambda value: not isinstance(value, Exception) and passes_type_check(object_kind, value)


def _strings(kind: GraphQLLeafType | GraphQLObjectType) -> bool:
    """Whether `kind` is String or ID, whose output coercion of a str is the str itself."""
    return kind is GraphQLString or kind is GraphQLID


def _coercer(kind: GraphQLLeafType | GraphQLObjectType) -> Callable[[Any], Any]:
    """`kind`'s output coercion returning `NO` where graphql-core would report an error."""
    coerce_output = cast("GraphQLLeafType", kind).coerce_output_value
    strings = _strings(kind)
    plain: set[type] = set()  # classes seen to be neither exceptions nor awaitables

    def coerce(value: Any) -> Any:
        if strings and value.__class__ is str:
            return value  # what both return for a str
        if value.__class__ not in plain:
            # graphql-core raises an exception and awaits an awaitable: `complete_read` does both.
            if isinstance(value, Exception | Awaitable | Generator):
                return NO
            plain.add(value.__class__)
        try:
            coerced = coerce_output(value)
        except Exception:
            return NO
        return NO if coerced is None or coerced is Undefined else coerced

    members = getattr(kind, "wrapped_cls", None)  # Strawberry's enums: a Python Enum
    if not isinstance(kind, GraphQLEnumType) or not isinstance(members, type):
        return coerce
    names: dict[Any, Any] = {}  # Strawberry's coercion scans every value: once per member

    def enum_coerce(value: Any) -> Any:
        if value.__class__ is members:
            name = names.get(value)
            if name is None:
                name = names[value] = coerce(value)
            return name
        return coerce(value)

    return enum_coerce
