"""Compiled plans (resolvers/engine/plan.py) answer byte for byte as graphql-core's executor does.

The differential tests draw documents over a schema (fields, aliases, inline and named
fragments, `@include`/`@skip` with literals and variables, unions and interfaces, arguments from
variables) and compare the JSON the view would send, errors and paths included, between the
gateway's executor with plans and Strawberry's own. Over the real schema the data comes from the
mock upstreams of tests/support/world.py, with an upstream failing or answering nonsense in some
examples; over a small schema of tests/engine/test_execution.py, resolvers return nulls where the
schema says non-null, raise, return values their type refuses and awaitables.

`PLAN_EXAMPLES=100000 pytest tests/engine/test_plan.py -k differential` runs them at length
(docs/testing.md).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import orjson
import pytest
import strawberry
from graphql import (
    GraphQLInterfaceType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
    is_required_argument,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strawberry.extensions import ParserCache
from strawberry.http import process_result
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionResult

from app.listing.cursor import CursorCodec
from app.main import client_session
from app.mocks import MockUpstreams
from app.mocks.faults import Fault, FaultPlan
from app.observability.metrics import Metrics
from app.observability.tracing import Tracing
from app.settings import Settings
from app.upstream.upstreams import Upstreams
from resolvers.engine import plan
from resolvers.engine.execution import ShortPathExecutor
from resolvers.engine.plan import CompiledExecutor, compiled_executor
from resolvers.schema import GatewaySchema, Limits, build_schema
from resolvers.types.context import Context
from tests.engine import test_execution as things
from tests.support.world import small_world

# Coroutines dropped on null propagation: finalized by each test here, under the same filter
# as in test_execution.py (which says why).
pytestmark = things.pytestmark
_dropped_coroutines_finalized = things._dropped_coroutines_finalized


EXAMPLES = int(os.environ.get("PLAN_EXAMPLES", "150"))
# Fixtures of tests/engine/test_execution.py, used here too.
warnings_once = things.warnings_once
wrapper_calls = things.wrapper_calls
MAX_DEPTH = 4
DIRECTIVES = (
    "",
    "",
    "",
    " @include(if: $yes)",
    " @skip(if: $yes)",
    " @include(if: $no)",
    " @skip(if: $no)",
    " @include(if: true)",
    " @skip(if: true)",
)
# Arguments by (type, field); fields with required arguments not listed here are left out.
GATEWAY_ARGUMENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Query", "sessions"): (
        "",
        "(first: 2)",
        "(first: $first)",
        "(first: 3, after: $after)",
        "(last: 2)",
        "(first: 4, orderBy: {direction: ASC})",
        "(first: 2, filter: {providers: [PRIVX, HYPERID]})",
    ),
    ("Query", "session"): ("(id: $id)",),
    ("Query", "node"): ("(id: $id)",),
    ("Session", "authorizations"): ("", "(first: 1)", "(first: 1, after: $after)"),
    ("SessionUser", "sessions"): ("", "(first: 2)", "(first: 1, after: $after)"),
}
# Not the same from one run to the next: how long the upstreams took.
GATEWAY_LEFT_OUT = {("ProviderInfo", "latencyMs")}
THING_ARGUMENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Thing", "shout"): ("", "(loud: false)", "(loud: $yes)"),
    ("Thing", "echo"): ("", "(times: 2)", '(times: 2, sep: "+")', "(times: $first)"),
}
VARIABLE_TYPES = {"yes": "Boolean!", "no": "Boolean!", "first": "Int", "after": "String"}
VARIABLE_TYPES["id"] = "ID!"


@dataclass
class _Document:
    """A document being drawn: its fragment definitions and a counter for unique names."""

    schema: GraphQLSchema
    arguments: dict[tuple[str, str], tuple[str, ...]]
    left_out: set[tuple[str, str]]
    fragments: list[str] = field(default_factory=list)
    names: int = 0

    def name(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names}"


def _selection(draw: st.DrawFn, doc: _Document, kind: Any, depth: int) -> str:
    """A selection set (without braces) on `kind`."""
    items = []
    if isinstance(kind, GraphQLInterfaceType | GraphQLUnionType):
        if draw(st.booleans()):
            items.append("__typename")
        if isinstance(kind, GraphQLInterfaceType):
            items.extend(_fields(draw, doc, kind, depth))
        for member in draw(st.lists(st.sampled_from(doc.schema.get_possible_types(kind)))):
            items.append(f"... on {member.name} {{ {_selection(draw, doc, member, depth)} }}")
    else:
        items.extend(_fields(draw, doc, kind, depth))
        if draw(st.integers(0, 5)) == 0:
            items.append("__typename")
    wrapped = [_wrapped(draw, doc, kind, item) for item in items]
    return " ".join(wrapped) or "__typename"


def _fields(draw: st.DrawFn, doc: _Document, kind: Any, depth: int) -> list[str]:
    names = [
        name
        for name, found in kind.fields.items()
        if (kind.name, name) not in doc.left_out
        and (
            (kind.name, name) in doc.arguments
            or not any(is_required_argument(a) for a in found.args.values())
        )
        and (depth < MAX_DEPTH or is_leaf_type(get_named_type(found.type)))
    ]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=5)) if names else []
    items = []
    for name in chosen:
        found = kind.fields[name]
        arguments = draw(st.sampled_from(doc.arguments.get((kind.name, name), ("",))))
        alias = f"{doc.name('a')}: " if arguments or draw(st.integers(0, 3)) == 0 else ""
        named = get_named_type(found.type)
        sub = "" if is_leaf_type(named) else f" {{ {_selection(draw, doc, named, depth + 1)} }}"
        items.append(f"{alias}{name}{arguments}{draw(st.sampled_from(DIRECTIVES))}{sub}")
    return items


def _wrapped(draw: st.DrawFn, doc: _Document, kind: Any, item: str) -> str:
    """`item` as it is, or in an inline fragment, or in a named fragment spread here."""
    how = draw(st.integers(0, 5))
    directive = draw(st.sampled_from(DIRECTIVES))
    if how == 0:
        return f"...{directive} {{ {item} }}"
    if how == 1 and not isinstance(kind, GraphQLUnionType):
        return f"... on {kind.name}{directive} {{ {item} }}"
    if how == 2 and not isinstance(kind, GraphQLUnionType):
        name = doc.name("F")
        doc.fragments.append(f"fragment {name} on {kind.name} {{ {item} }}")
        return f"...{name}{directive}"
    return item


@st.composite
def documents(
    draw: st.DrawFn,
    schema: GraphQLSchema,
    arguments: dict[tuple[str, str], tuple[str, ...]],
    left_out: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
) -> str:
    """A query document over `schema`, declaring the variables it uses."""
    doc = _Document(schema, arguments, set(left_out))
    body = _selection(draw, doc, schema.query_type, 0)
    text = " ".join([body, *doc.fragments])
    used = [n for n in VARIABLE_TYPES if re.search(rf"\${n}\b", text)]
    declared = ", ".join(f"${n}: {VARIABLE_TYPES[n]}" for n in used)
    header = f"query Drawn({declared})" if used else "query Drawn"
    return " ".join([f"{header} {{ {body} }}", *doc.fragments])


def _variables(ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "yes": st.booleans(),
            "no": st.booleans(),
            "first": st.sampled_from([None, 0, 1, 2, 3, -1, 101]),
            "after": st.sampled_from([None, "bogus", "1.abc.def", ""]),
            "id": st.sampled_from([*ids, "nope", "U0VTU0lPTg"]),
        }
    )


def _json(result: ExecutionResult) -> bytes:
    """The response body as the view sends it."""
    return orjson.dumps(process_result(result))


def _plans(schema: strawberry.Schema) -> dict[Any, Any]:
    """The plans kept by `schema`'s executor."""
    executor = schema.execution_context_class
    assert issubclass(executor, CompiledExecutor)
    return cast("type[CompiledExecutor]", executor).plans


def _declared(document: str, variables: dict[str, Any]) -> dict[str, Any]:
    return {n: v for n, v in variables.items() if re.search(rf"\${n}\b", document)}


@pytest.fixture
def collected() -> Iterator[None]:
    """After the test, its dropped coroutines are finalized (and reported under its filter)."""
    yield
    gc.collect()


# The small schema: nulls in non-null positions, exceptions, refused values, awaitables.


class _CompiledThings(strawberry.Schema):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        executor = compiled_executor(self)
        assert executor is not None
        assert issubclass(executor, CompiledExecutor)
        self.execution_context_class = executor


@pytest.fixture(params=["looped", "written"])
def plans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Plans run as their steps' loop (as at first), or written out as one function (as once
    they have run `Plan.HOT` times) from their first run on."""
    # Plans kept from other tests stay written out; in `looped`, no more are written.
    monkeypatch.setattr(plan.Plan, "HOT", 0 if request.param == "written" else 10**9)
    return str(request.param)


_PLAIN_THINGS = things.PlainSchema(query=things.Query)
_COMPILED_THINGS = _CompiledThings(query=things.Query)
# The same parsed document again, so its plans are kept (written out, in `written`).
_KEPT_THINGS = _CompiledThings(query=things.Query, extensions=[ParserCache])


@pytest.mark.parametrize("query", things.QUERIES)
async def test_the_short_path_cases_answer_the_same_with_plans(plans: str, query: str) -> None:
    plain = await _PLAIN_THINGS.execute(query)
    for _ in range(2):  # compiled, then from the kept plan
        compiled = await _COMPILED_THINGS.execute(query)
        assert _json(compiled) == _json(plain)


# When a null propagates past a field whose sibling is still pending, graphql-core drops the
# sibling's coroutine unawaited (its own executor as well as the plans, which do the same).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    document=documents(_PLAIN_THINGS._schema, THING_ARGUMENTS),
    variables=_variables([]),
)
def test_differential_small_schema(
    collected: None, plans: str, document: str, variables: dict[str, Any]
) -> None:
    variables = _declared(document, variables)

    async def both() -> tuple[bytes, bytes]:
        plain = await _PLAIN_THINGS.execute(document, variables)
        if plans == "written":
            # Plans are written out in a first run. Compiling pauses the loop, which can change
            # the order in which concurrent fields fail, so that run is not compared.
            await _KEPT_THINGS.execute(document, variables)
            return _json(plain), _json(await _KEPT_THINGS.execute(document, variables))
        return _json(plain), _json(await _COMPILED_THINGS.execute(document, variables))

    plain, compiled = asyncio.run(both())
    gc.collect(1)  # those coroutines are reported now, under this test's filter
    assert compiled == plain, document


async def test_a_plan_is_written_out_once_it_has_run_hot_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plan.Plan, "HOT", 3)
    # The same parsed document for every request, as the gateway's document cache gives.
    schema = _CompiledThings(query=things.Query, extensions=[ParserCache])
    query = "{ things { name colour twin { name } } }"  # two things, two twins

    def kept() -> dict[str, plan.Plan]:
        found = [p for by_key in _plans(schema).values() for p in by_key.values()]
        return {p.kind.name + str(len(p.steps)): p for p in found if p is not None}

    first = await schema.execute(query)
    plans = kept()
    assert {name: p.runs for name, p in plans.items()} == {"Thing3": 2, "Thing1": 2}
    assert all(isinstance(p.run, partial) for p in plans.values())

    assert _json(await schema.execute(query)) == _json(first)  # the fourth run is written out
    assert kept() == plans
    assert all(getattr(p.run, "__name__", None) == "run" for p in plans.values())
    assert {name: p.runs for name, p in plans.items()} == {"Thing3": 4, "Thing1": 4}
    assert _json(await schema.execute(query)) == _json(first)
    assert {name: p.runs for name, p in plans.items()} == {"Thing3": 4, "Thing1": 4}


def test_a_plan_goes_as_soon_as_nothing_holds_it() -> None:
    query_type = _PLAIN_THINGS._schema.query_type
    assert query_type is not None
    kept = plan.Plan(query_type, (), ())
    gone = weakref.ref(kept)
    del kept  # no cycle through its own `run`: freed without the cyclic collector
    assert gone() is None


async def test_a_plan_that_cannot_be_written_out_keeps_its_loop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> Any:
        raise SyntaxError("a fault of the writer's")

    monkeypatch.setattr(plan.Plan, "HOT", 0)
    monkeypatch.setattr(plan, "plan_function", broken)
    schema = _CompiledThings(query=things.Query, extensions=[ParserCache])
    query = "{ things { name colour twin { name } } }"

    with caplog.at_level(logging.ERROR, logger="session_gateway"):
        answers = [_json(await schema.execute(query)) for _ in range(3)]

    assert answers == [_json(await _PLAIN_THINGS.execute(query))] * 3
    kept = [p for by_key in _plans(schema).values() for p in by_key.values() if p is not None]
    assert len(kept) == 2
    assert all(isinstance(p.run, partial) and p.run.func is plan._looped for p in kept)
    assert [r.message for r in caplog.records] == [
        "a compiled plan could not be written out; its loop runs on"
    ] * 2  # once per plan


@pytest.mark.parametrize(("query", "calls"), things.ONCE)
async def test_a_value_a_plan_rejects_is_not_read_twice(
    plans: str, query: str, calls: dict[str, int]
) -> None:
    for _ in range(2):  # compiled, then from the kept plan
        things.CALLS.clear()
        await _CompiledThings(query=things.Query).execute(query)
        assert dict(things.CALLS) == calls


async def test_plans_call_info_resolvers_with_literal_arguments_themselves(
    wrapper_calls: Any,
) -> None:
    schema = _CompiledThings(query=things.Query)
    calls = wrapper_calls(schema._schema)
    query = "query ($n: Int!) { things { path laterPath echo(times: 2) e: echo(times: $n) } }"

    result = await schema.execute(query, {"n": 1})

    assert result.errors is None
    assert result.data is not None
    assert [t["echo"] for t in result.data["things"]] == ["a@echoa@echo", "b@echob@echo"]
    assert [t["laterPath"] for t in result.data["things"]] == [
        "things.0.laterPath",
        "things.1.laterPath",
    ]
    assert (calls["path"], calls["laterPath"], calls["echo"]) == (0, 0, 2)  # a variable: 2


async def test_plans_complete_unions_and_interfaces_themselves(wrapper_calls: Any) -> None:
    schema = _CompiledThings(query=things.Query)
    calls = wrapper_calls(schema._schema)
    query = """{ things {
      either { __typename ... on Tag { label } ... on Thing { name either { __typename } } }
      labelled { __typename label }
    } }"""

    result = await schema.execute(query)

    assert result.errors is None
    assert result.data == {
        "things": [
            {
                "either": {"__typename": "Thing", "name": "aa", "either": None},
                "labelled": {"__typename": "Tag", "label": "A"},
            },
            {
                "either": {"__typename": "Tag", "label": "b"},
                "labelled": {"__typename": "Tag", "label": "B"},
            },
        ]
    }
    assert (calls["either"], calls["labelled"], calls["label"]) == (0, 0, 0)


@pytest.mark.parametrize("schema_class", [_CompiledThings, things.PlainSchema])
async def test_a_union_asks_its_resolve_type_once_per_value(
    schema_class: type[strawberry.Schema], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = schema_class(query=things.Query)
    union = schema._schema.get_type("Either")
    assert isinstance(union, GraphQLUnionType)
    assert union.resolve_type is not None
    asked: list[Any] = []
    resolve_type = union.resolve_type

    def counted(value: Any, info: Any, kind: Any) -> Any:
        asked.append(value)
        return resolve_type(value, info, kind)

    monkeypatch.setattr(union, "resolve_type", counted)

    result = await schema.execute("{ things { either { __typename } wrongEither { __typename } } }")

    assert result.data == {
        "things": [
            {"either": {"__typename": "Thing"}, "wrongEither": None},
            {"either": {"__typename": "Tag"}, "wrongEither": None},
        ]
    }
    assert result.errors is not None
    assert [e.path for e in result.errors] == [
        ["things", 0, "wrongEither"],
        ["things", 1, "wrongEither"],
    ]
    assert len(asked) == 4  # once per value, refused ones included


# Its gc.collect() may finalize coroutines that other tests' null propagation dropped.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_plans_are_kept_by_document_and_by_what_include_and_skip_select() -> None:
    schema = build_schema(Limits())
    plans = _plans(schema)
    query = "query ($yes: Boolean!) { providers { provider enabled @include(if: $yes) } }"

    def run(yes: bool) -> Any:
        context = Context.create(Upstreams.none(), CursorCodec(b"k"))
        return schema.execute(query, {"yes": yes}, context_value=context)

    first = await run(True)
    ((operation, kept),) = plans.items()
    assert len(kept) == 1
    compiled = dict(kept)
    again = await run(True)
    assert plans == {operation: compiled}  # the same parsed document (resolvers/engine/caching.py)
    assert _json(again) == _json(first)
    other = await run(False)
    assert len(kept) == 2
    assert other.data is not None
    assert other.data["providers"][0] == {"provider": "PRIVX"}

    # Plans go with their document.
    assert schema.documents is not None
    schema.documents.entries.clear()
    del first, again, other
    gc.collect()  # Strawberry's execution context refers to the document in a cycle
    assert plans == {}


@pytest.mark.parametrize(
    ("query", "collections"),
    [
        # Nothing in the nested selections depends on variables: their plans are kept in the
        # plans that hold them, and only the root field's list is collected again.
        ("{ things { name twin { name strictTwin { colour } } } }", 1),
        ("{ things { ...T } } fragment T on Thing { twin { ... on Thing { name } } }", 1),
        # A variable in a directive (or a fragment spread's directive): collected every time.
        ("query ($yes: Boolean!) { things { twin { name @include(if: $yes) } } }", 2),
        ("query ($yes: Boolean!) { things { twin { ...N @skip(if: $yes) } } } "
         "fragment N on Thing { name }", 2),
    ],
)  # fmt: skip
async def test_nested_selections_without_directives_are_collected_once(
    query: str, collections: int
) -> None:
    # The same parsed document for every request, as the gateway's document cache gives.
    schema = _CompiledThings(query=things.Query, extensions=[ParserCache])
    compiled = schema.execution_context_class
    counted: list[int] = []

    class Counting(compiled):  # type: ignore[valid-type,misc]
        def collect_subfields(self, *args: Any) -> Any:
            counted.append(1)
            return super().collect_subfields(*args)

    schema.execution_context_class = Counting
    answers = []
    for _ in range(3):
        counted.clear()
        result = await schema.execute(query, {"yes": True})
        assert result.errors is None
        answers.append(_json(result))
    assert len(counted) == collections  # the third request, as the second
    plain = _json(await _PLAIN_THINGS.execute(query, {"yes": True}))
    assert answers == [plain] * 3


async def test_no_plans_with_field_middleware_or_for_mutations(
    wrapper_calls: Any,
) -> None:
    shouting = _CompiledThings(query=things.Query, extensions=[things.Shout])
    calls = wrapper_calls(shouting._schema)
    result = await shouting.execute("{ things { name nickname } }")
    assert result.data == {
        "things": [{"name": "A", "nickname": None}, {"name": "B", "nickname": "B"}]
    }
    assert (calls["name"], calls["nickname"]) == (2, 2)
    assert _plans(shouting) == {}

    @strawberry.type
    class Mutation:
        @strawberry.mutation
        def touch(self) -> list[things.Thing]:
            return [things.Thing(name=n, nickname=None, secret="") for n in "ab"]

    mutating = _CompiledThings(query=things.Query, mutation=Mutation)
    result = await mutating.execute("mutation { touch { name colour } }")
    assert result.data == {
        "touch": [{"name": "a", "colour": "RED"}, {"name": "b", "colour": "BLUE"}]
    }
    assert _plans(mutating) == {}


async def test_unexpected_internals_keep_the_short_path_with_one_warning(
    warnings_once: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "_EXECUTOR_METHODS", {"collect_subfields": ("self", "renamed")})
    with caplog.at_level(logging.WARNING, logger="session_gateway"):
        built = [compiled_executor(things.PlainSchema(query=things.Query)) for _ in range(2)]

    for executor in built:
        assert executor is not None
        assert issubclass(executor, ShortPathExecutor)
        assert not issubclass(executor, CompiledExecutor)
    (record,) = caplog.records
    assert record.getMessage().startswith("Compiled plans (resolvers/engine/plan.py) is off")
    assert "collect_subfields" in record.getMessage()


# The gateway's schema over the mock upstreams.


@dataclass
class _Gateway:
    loop: asyncio.AbstractEventLoop
    mocks: MockUpstreams
    settings: Settings
    session: Any
    compiled: GatewaySchema
    plain: GatewaySchema
    ids: list[str]

    def run(self, schema: GatewaySchema, document: str, variables: dict[str, Any]) -> bytes:
        """One request with fresh upstream clients: circuit breakers start closed each time."""

        async def request() -> ExecutionResult:
            upstreams = Upstreams.create(self.session, self.settings, Metrics(), Tracing(False))
            context = Context.create(upstreams, CursorCodec(b"plan"), request_id="r1")
            return await schema.execute(document, variables, context_value=context)

        return _json(self.loop.run_until_complete(request()))


@pytest.fixture(scope="module")
def gateway() -> Iterator[_Gateway]:
    loop = asyncio.new_event_loop()
    mocks = MockUpstreams(small_world())
    loop.run_until_complete(mocks.start())
    env = {**mocks.gateway_env(), "GATEWAY_CURSOR_SECRET": "plan", "GATEWAY_ALLOW_ANONYMOUS": "1"}
    # A circuit that opens within a request makes errors depend on which concurrent call
    # failed fifth: keep it closed.
    env["GATEWAY_BREAKER_FAILURES"] = "1000"
    configured = Settings.from_environ(env)

    async def opened() -> Any:  # aiohttp binds its connector to the running loop
        return client_session(configured)

    session = loop.run_until_complete(opened())
    compiled = build_schema(Limits())
    assert issubclass(compiled.execution_context_class, CompiledExecutor)
    plain = build_schema(Limits(fast_path=False))
    assert plain.execution_context_class is StrawberryGraphQLCoreExecutionContext
    gateway = _Gateway(loop, mocks, configured, session, compiled, plain, [])
    found = orjson.loads(
        gateway.run(plain, "{ sessions(first: 50) { nodes { id user { id } } } }", {})
    )
    nodes = found["data"]["sessions"]["nodes"]
    gateway.ids = sorted({n["id"] for n in nodes} | {n["user"]["id"] for n in nodes if n["user"]})
    try:
        yield gateway
    finally:
        loop.run_until_complete(session.close())
        loop.run_until_complete(mocks.close())
        loop.close()


_FAULTS = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(["PRIVX", "PREFACTOR", "ZITADEL", "HYPERID", "KRATOS"]),
        st.sampled_from([Fault.UNAUTHORIZED, Fault.WRONG_SHAPE, Fault.TRUNCATED]),
    ),
)


@pytest.mark.server
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # as above
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    document=documents(build_schema(Limits())._schema, GATEWAY_ARGUMENTS, GATEWAY_LEFT_OUT),
    data=st.data(),
    fault=_FAULTS,
)
def test_differential_gateway_schema(
    collected: None,
    plans: str,
    gateway: _Gateway,
    document: str,
    data: st.DataObject,
    fault: tuple[str, Fault] | None,
) -> None:
    variables = _declared(document, data.draw(_variables(gateway.ids)))
    if fault is not None:
        gateway.mocks.set_fault(fault[0], FaultPlan(fault[1]))
    try:
        plain = gateway.run(gateway.plain, document, variables)
        if plans == "written":  # plans written out in a first run, not compared (as above)
            gateway.run(gateway.compiled, document, variables)
        compiled = gateway.run(gateway.compiled, document, variables)
        # Concurrent fields that fail report in the order their upstream calls end, on either
        # executor: the compiled answer must be one that Strawberry's executor gives.
        for _ in range(3):
            if compiled == plain:
                break
            plain = gateway.run(gateway.plain, document, variables)
    finally:
        gateway.mocks.clear_faults()
    gc.collect(1)
    assert compiled == plain, (document, variables, fault)
    answer = orjson.loads(compiled)  # what was compared (--hypothesis-show-statistics)
    event("data" if answer.get("data") else "no data")
    event("errors" if answer.get("errors") else "no errors")


@pytest.mark.server
@pytest.mark.parametrize("executor", ["compiled", "plain"])
def test_nested_fields_that_need_no_call_make_no_task_per_session(
    gateway: _Gateway, executor: str
) -> None:
    schema = gateway.compiled if executor == "compiled" else gateway.plain
    page = "{ sessions(first: 40, filter: {providers: [PREFACTOR, ZITADEL, KRATOS]}) { nodes { id "
    nested = "parent { id } children { id } authorizations(first: 5) { totalCount }"
    made: list[asyncio.Task[Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    def tasks(document: str) -> tuple[int, Any]:
        made.clear()
        gateway.loop.set_task_factory(factory)
        try:
            answer = orjson.loads(gateway.run(schema, document, {}))
        finally:
            gateway.loop.set_task_factory(None)
        return len(made), answer

    plain_count, _ = tasks(page + "} } }")
    nested_count, answer = tasks(page + nested + "} } }")

    nodes = answer["data"]["sessions"]["nodes"]
    assert len(nodes) >= 5
    assert all(n["parent"] is None and n["children"] == [] for n in nodes)
    assert all(n["authorizations"]["totalCount"] == 0 for n in nodes)
    # These providers' sessions neither nest nor have authorizations: answered at once.
    assert nested_count == plain_count
