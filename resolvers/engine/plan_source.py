"""A plan's steps written out as one Python function, as graphql-jit does for JavaScript.

A compiled plan (resolvers/engine/plan.py) runs one step per response key: for a session's six
leaves that is a loop over six closures, each calling its reader and then its coercion. Written
out, the loop and the calls go: a leaf becomes its read and a class test inline, an object
field its read, its type check and a call that executes its selection. What is not plain (a
null where the schema says non-null, a value its type does not coerce, an exception, an
awaitable) is handed, as read, to the executor's `complete_read` and `handle_field_error`,
exactly where the steps hand it; every other step is called as the loop would call it.
`tests/engine/test_plan.py` compares both with graphql-core's answers.

The source holds only names this module makes (`k0`, `r0` …): response keys, types and readers
are bound in the function's namespace, never written into its text, so no name from a client's
document reaches the compiler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from graphql import GraphQLField, GraphQLObjectType, Undefined
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path

__all__ = ["NO", "SETTLED", "Leaf", "Object", "StepSource", "plan_function"]

# A step's fast way does not apply: graphql-core completes the value.
NO = object()
# Completed values that are never awaitable: no need to ask `is_awaitable`.
SETTLED = frozenset({str, int, float, bool, type(None), dict, list})


class Leaf(NamedTuple):
    """How a read field of a leaf type is written out."""

    read: Callable[[Any], Any]
    strings: bool  # String or ID: a str is its own coercion
    coerce: Callable[[Any], Any]  # the coerced value, or NO where graphql-core completes it


class Object(NamedTuple):
    """How a read field of an object type (not a list) with a nested plan is written out."""

    read: Callable[[Any], Any]
    is_type: Callable[[Any], bool]
    execute: Callable[[Any, Any, Path], Any]  # (executor, value, path) -> the selection's value


class StepSource(NamedTuple):
    """One response key of a plan: its step, and how to write it out where it is plain."""

    key: str
    step: Callable[[Any, Any, Path], Any]  # (executor, source, path) -> value or Undefined
    may_await: bool  # the step may return an awaitable
    inline: Leaf | Object | None = None  # None: the function calls `step`
    field: GraphQLField | None = None  # the field the inline way reads
    group: FieldDetailsList | None = None
    non_null: bool = False


def plan_function(
    parent: GraphQLObjectType,
    steps: Sequence[StepSource],
    settled: Callable[[dict[str, Any], list[str]], Awaitable[dict[str, Any]]],
) -> Callable[[Any, Any, Path], Any]:
    """run(executor, source, path): the selection's completed value, as graphql-core's
    execute_fields gives it: a dict, or where values are pending `settled(results, pending)`."""
    namespace: dict[str, Any] = {
        "Path": Path,
        "Undefined": Undefined,
        "SETTLED": SETTLED,
        "NO": NO,
        "N": parent.name,
        "P": parent,
        "settled": settled,
    }
    lines = [
        "def run(ex, source, path):",
        "    results = {}",
        "    pending = []",
        "    is_awaitable = ex.is_awaitable",
        "    try:",
    ]
    for index, step in enumerate(steps):
        namespace[f"k{index}"] = step.key
        lines += _step_lines(index, step, namespace)
    if not steps:  # every field skipped
        lines.append("        pass")
    lines += [
        "    except Exception:",
        "        if pending:  # others' awaitables may fail too: settle them",
        "            ex.settle_in_background([results[name] for name in pending])",
        "        raise",
        "    if not pending:",
        "        return results",
        "    return settled(results, pending)",
    ]
    code = compile("\n".join(lines) + "\n", f"<plan of {parent.name}>", "exec")
    exec(code, namespace)
    run: Callable[[Any, Any, Path], Any] = namespace["run"]
    return run


def _step_lines(i: int, step: StepSource, namespace: dict[str, Any]) -> list[str]:
    """Step `i`'s lines, at the depth of the function's `try`."""
    kind = step.inline
    if kind is None or step.field is None:
        namespace[f"s{i}"] = step.step
        lines = [
            f"o = s{i}(ex, source, path)",
            "if o is not Undefined:",
            f"    results[k{i}] = o",
        ]
        if step.may_await:
            lines += [
                "    if o.__class__ not in SETTLED and is_awaitable(o):",
                f"        pending.append(k{i})",
            ]
        return _indented(2, lines)
    namespace.update({f"r{i}": kind.read, f"F{i}": step.field, f"T{i}": step.field.type})
    namespace[f"G{i}"] = step.group
    # graphql-core's completion of the value as read, where the fast way does not apply.
    rest = [
        f"o = ex.complete_read(F{i}, P, v, G{i}, Path(path, k{i}, N), None)",
        f"results[k{i}] = o",
        "if o.__class__ not in SETTLED and is_awaitable(o):",
        f"    pending.append(k{i})",
    ]
    lines = [
        "try:",
        f"    v = r{i}(source)",
        "except Exception as error:  # as graphql-core handles a resolver's exception",
        f"    ex.handle_field_error(error, T{i}, G{i}, Path(path, k{i}, N))",
        f"    results[k{i}] = None",
        "else:",
    ]
    if isinstance(kind, Leaf):
        namespace[f"c{i}"] = kind.coerce
        value: list[str] = []
        test = "if"
        if kind.strings:
            value += ["if v.__class__ is str:", f"    results[k{i}] = v"]
            test = "elif"
        value += [
            f"{test} v is not None and (o := c{i}(v)) is not NO:",
            f"    results[k{i}] = o",
            "    if o.__class__ not in SETTLED and is_awaitable(o):  # a scalar's own serializer",
            f"        pending.append(k{i})",
        ]
        if not step.non_null:
            value += ["elif v is None:", f"    results[k{i}] = None"]
        value += ["else:", *_indented(1, rest)]
        return _indented(2, lines + _indented(1, value))
    namespace.update({f"t{i}": kind.is_type, f"x{i}": kind.execute})
    value = [
        "if v is None:",
        *_indented(1, [f"results[k{i}] = None"] if not step.non_null else rest),
        f"elif t{i}(v) and not is_awaitable(v):",
        f"    here = Path(path, k{i}, N)",
        "    try:",
        f"        o = x{i}(ex, v, here)",
        "    except Exception as error:",
        f"        ex.handle_field_error(error, T{i}, G{i}, here)",
        "        o = None",
        "    else:",
        "        if o.__class__ not in SETTLED and is_awaitable(o):",
        f"            o = ex.settle_field(o, T{i}, G{i}, here)",
        f"            pending.append(k{i})",
        f"    results[k{i}] = o",
        "else:",
        *_indented(1, rest),
    ]
    return _indented(2, lines + _indented(1, value))


def _indented(depth: int, lines: list[str]) -> list[str]:
    return [" " * (4 * depth) + line for line in lines]
