"""The executor's short path: taken where it applies, answering exactly like Strawberry's
ordinary path, never calling a resolver twice, and off with one warning where graphql-core or
Strawberry is not what it expects."""

from __future__ import annotations

import asyncio
import enum
import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
import strawberry
from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    MiddlewareManager,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers.engine import internals
from resolvers.engine.execution import (
    ShortPathExecutor,
    _no_middleware,
    field_reads,
    short_path_executor,
)
from tests.support.live import LiveStack, post
from tests.support.mode import FAST_PATH

# When a null propagates past a field whose sibling is still pending, graphql-core drops the
# sibling's coroutine unawaited (its own executor and the compiled plans alike). Each test here
# finalizes what it dropped before it ends, under this filter, so that no later test is blamed
# for it (a shuffled run once failed a test of another module that way).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <coroutine object:pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(autouse=True)
def _dropped_coroutines_finalized() -> Iterator[None]:
    yield
    gc.collect()


# Calls of the resolvers below, by field name.
CALLS: Counter[str] = Counter()


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.interface
class Labelled:
    label: str


@strawberry.type
class Tag(Labelled):
    pass


@strawberry.type
class Thing:
    name: str
    nickname: str | None
    secret: strawberry.Private[str]

    @strawberry.field
    def colour(self) -> Colour:
        CALLS["colour"] += 1
        return Colour.BLUE if self.name == "b" else Colour.RED

    @strawberry.field
    def seen_at(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    @strawberry.field
    def must(self) -> str:
        CALLS["must"] += 1
        return None  # type: ignore[return-value]  # a broken resolver, on purpose

    @strawberry.field
    def fails(self) -> str | None:
        CALLS["fails"] += 1
        raise ValueError(f"no {self.secret}")

    @strawberry.field
    def count(self) -> int:
        CALLS["count"] += 1
        return 2**40  # beyond GraphQL's Int: the scalar refuses it

    @strawberry.field
    def shout(self, loud: bool = True) -> str:
        return self.name.upper() if loud else self.name

    @strawberry.field
    def twin(self) -> Thing | None:
        CALLS["twin"] += 1
        return Thing(name=self.name * 2, nickname=None, secret="") if self.secret else None

    @strawberry.field
    def strict_twin(self) -> Thing:
        CALLS["strictTwin"] += 1
        return Thing(name=self.name, nickname=None, secret=self.secret)

    @strawberry.field
    def tag(self) -> Tag:
        CALLS["tag"] += 1
        return self  # type: ignore[return-value]  # not a Tag: Strawberry's type check refuses it

    @strawberry.field
    def soon(self) -> str:
        CALLS["soon"] += 1
        return self._soon()  # type: ignore[return-value]  # an awaitable from a plain function

    async def _soon(self) -> str:
        return self.name

    @strawberry.field
    async def later(self) -> str:
        return self.name

    @strawberry.field
    async def later_fails(self) -> str:
        raise ValueError("later")

    @strawberry.field
    def path(self, info: strawberry.Info) -> str:
        return ".".join(str(p) for p in info.path.as_list())

    # Resolvers of `self`, `info` and literal scalar arguments, which compiled plans call
    # themselves.
    @strawberry.field
    async def later_path(self, info: strawberry.Info) -> str:
        return ".".join(str(p) for p in info.path.as_list())

    @strawberry.field
    async def waits(self, info: strawberry.Info) -> str | None:
        await asyncio.sleep(0)
        return f"{self.name} at {info.path.key}"

    @strawberry.field
    async def informed_fails(self, info: strawberry.Info) -> str:
        CALLS["informedFails"] += 1
        raise ValueError(f"no {info.field_name}")

    @strawberry.field
    async def mirror(self, info: strawberry.Info) -> Thing | None:
        CALLS["mirror"] += 1
        return Thing(name=self.name + info.field_name, nickname=None, secret="")

    @strawberry.field
    async def echo(self, info: strawberry.Info, times: int = 1, sep: str | None = None) -> str:
        return (sep or "").join([f"{self.name}@{info.path.key}"] * times)

    @strawberry.field
    def keyed(self, *, info: strawberry.Info) -> str:
        return f"{self.name} {info.field_name}"  # `info` by keyword only

    @strawberry.field
    async def timed(self) -> int | None:
        # A timeout is bound to the task it is entered in: the field's own.
        async with asyncio.timeout(0.01):
            await asyncio.sleep(5)
        return 1

    @strawberry.field
    async def slower(self) -> int:
        await asyncio.sleep(0.05)
        return 2

    @strawberry.field
    def kin(self, info: strawberry.Info) -> list[Thing | None]:
        CALLS["kin"] += 1
        return [Thing(name=self.name + "1", nickname=None, secret=""), None]

    @strawberry.field
    async def wrong_kin(self, info: strawberry.Info) -> list[Thing]:
        CALLS["wrongKin"] += 1
        return [None]  # type: ignore[list-item]  # a null where the schema says non-null

    @strawberry.field
    def either(self) -> Either | None:
        CALLS["either"] += 1
        if self.name == "b":
            return Tag(label="b")
        return Thing(name=self.name * 2, nickname=None, secret="") if self.secret else None

    @strawberry.field
    def strict_either(self) -> Either:
        CALLS["strictEither"] += 1
        return None if self.name == "b" else Tag(label=self.name)  # type: ignore[return-value]

    @strawberry.field
    def wrong_either(self) -> Either | None:
        CALLS["wrongEither"] += 1
        return Colour.RED  # type: ignore[return-value]  # no object: the union refuses it

    @strawberry.field
    def labelled(self) -> Labelled | None:
        CALLS["labelled"] += 1
        return Tag(label=self.name.upper()) if self.secret else None


Either = Annotated[Tag | Thing, strawberry.union("Either")]


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing]:
        return [
            Thing(name="a", nickname=None, secret="x"),
            Thing(name="b", nickname="B", secret="y"),
        ]


class PlainSchema(strawberry.Schema):
    pass


class FastSchema(strawberry.Schema):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        executor = short_path_executor(self)
        assert executor is not None
        self.execution_context_class = executor


QUERIES = [
    "{ things { name nickname colour seenAt } }",
    "{ things { name alias: nickname n2: name shout(loud: false) path } }",
    "{ things { name must } }",
    "{ things { name fails } }",
    "{ things { count } }",
    "{ things { ... on Thing { name colour } __typename } }",
    "{ things { twin { name twin { name } colour path } } }",
    "{ things { twin { name must } strictTwin { name fails } } }",
    "{ things { strictTwin { name must } } }",
    "{ things { name strictTwin { strictTwin { must } } } }",
    "{ things { twin { later } strictTwin { later name } } }",
    "{ things { laterPath waits mirror { name laterPath mirror { waits } } kin { name path } } }",
    "{ things { name informedFails } }",
    "{ things { keyed k2: keyed } }",
    "{ things { name timed slower } }",
    '{ things { echo e2: echo(times: 2) e3: echo(times: 3, sep: "-") e0: echo(times: -1) } }',
    "query ($n: Int = 2) { things { echo(times: $n) } }",
    "{ things { mirror { informedFails } wrongKin { name } } }",
    "{ things { twin { laterFails } } }",
    "{ things { name strictTwin { later laterFails } } }",
    "{ things { name tag { label } } }",
    "{ things { twin { tag { label } } } }",
    "{ things { soon twin { soon } } }",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_same_answer_as_the_ordinary_path(query: str) -> None:
    plain = await PlainSchema(query=Query).execute(query)
    fast = await FastSchema(query=Query).execute(query)
    assert fast.data == plain.data
    assert [e.formatted for e in fast.errors or []] == [e.formatted for e in plain.errors or []]


def test_only_simple_fields_take_the_short_path() -> None:
    schema = FastSchema(query=Query)
    thing = schema._schema.type_map["Thing"]
    query = schema._schema.type_map["Query"]
    reads = field_reads(schema._schema)
    short = {name for name, field in thing.fields.items() if id(field) in reads}  # type: ignore[attr-defined]
    assert short == {
        "name", "nickname", "colour", "seenAt", "must", "fails", "count", "twin", "strictTwin",
        "tag", "soon",
    }  # fmt: skip
    # Arguments, `info` and lists take the ordinary path.
    assert not any(id(field) in reads for field in query.fields.values())  # type: ignore[attr-defined]


# Per query: how often each counted resolver runs, on either path. An error in a non-null field
# stops the list at its first item.
ONCE = [
    ("{ things { name must } }", {"must": 1}),
    ("{ things { name fails } }", {"fails": 2}),
    ("{ things { count } }", {"count": 1}),
    ("{ things { name tag { label } } }", {"tag": 1}),
    ("{ things { soon } }", {"soon": 2}),
    ("{ things { strictTwin { must } } }", {"strictTwin": 1, "must": 1}),
    ("{ things { twin { fails } colour } }", {"twin": 2, "fails": 2, "colour": 2}),
    ("{ things { informedFails mirror { name } } }", {"informedFails": 2, "mirror": 2}),
    ("{ things { kin { name } wrongKin { name } } }", {"kin": 2, "wrongKin": 2}),
]


@pytest.mark.parametrize(("query", "calls"), ONCE)
@pytest.mark.parametrize("schema_class", [PlainSchema, FastSchema])
async def test_a_value_the_short_path_rejects_is_not_read_twice(
    schema_class: type[strawberry.Schema], query: str, calls: dict[str, int]
) -> None:
    schema = schema_class(query=Query)
    CALLS.clear()

    await schema.execute(query)

    assert dict(CALLS) == calls


@pytest.fixture
def wrapper_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[[GraphQLSchema], Counter[str]]:
    """Counts, by field name, calls of Strawberry's resolver wrappers of a schema's fields."""

    def watch(schema: GraphQLSchema) -> Counter[str]:
        calls: Counter[str] = Counter()
        for named in schema.type_map.values():
            if isinstance(named, GraphQLObjectType) and not named.name.startswith("__"):
                for name, field in named.fields.items():
                    monkeypatch.setattr(field, "resolve", _counted(field, name, calls))
        return calls

    return watch


def _counted(field: GraphQLField, name: str, calls: Counter[str]) -> Callable[..., Any]:
    resolve = field.resolve
    assert resolve is not None

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return resolve(*args, **kwargs)

    return counted


@pytest.mark.parametrize(("schema_class", "wrapped"), [(FastSchema, 0), (PlainSchema, 2)])
async def test_the_short_path_skips_strawberrys_resolver_wrapper(
    wrapper_calls: Callable[[GraphQLSchema], Counter[str]],
    schema_class: type[strawberry.Schema],
    wrapped: int,
) -> None:
    schema = schema_class(query=Query)
    calls = wrapper_calls(schema._schema)

    result = await schema.execute("{ things { name nickname colour twin { name } shout } }")

    assert result.errors is None
    assert calls["things"] == 1
    assert calls["shout"] == 2  # an argument: always the ordinary path
    assert {f: calls[f] for f in ("nickname", "colour", "twin")} == dict.fromkeys(
        ("nickname", "colour", "twin"), wrapped
    )
    assert calls["name"] == 2 * wrapped  # each thing's and each twin's


def test_the_short_path_runs_in_the_gateway(
    live: LiveStack, wrapper_calls: Callable[[GraphQLSchema], Counter[str]]
) -> None:
    calls = wrapper_calls(live.schema._schema)

    result = post(live.url, "{ sessions(first: 10) { nodes { id provider createdAt status } } }")

    assert "errors" not in result
    assert len(result["data"]["sessions"]["nodes"]) == 10
    wrapped = 0 if FAST_PATH else 10  # GATEWAY_FAST_PATH=false: Strawberry's path only
    assert {f: calls[f] for f in ("id", "provider", "createdAt", "status")} == dict.fromkeys(
        ("id", "provider", "createdAt", "status"), wrapped
    )
    assert calls["sessions"] == 1
    # A list of objects: a compiled plan reads it (resolvers/engine/plan.py); the short path not.
    assert calls["nodes"] == (0 if FAST_PATH else 1)


class Shout(SchemaExtension):
    """Field middleware: a `resolve` hook that sees every field."""

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: str,
        **kwargs: Any,
    ) -> object:
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


async def test_field_middleware_turns_the_short_path_off(
    wrapper_calls: Callable[[GraphQLSchema], Counter[str]],
) -> None:
    schema = FastSchema(query=Query, extensions=[Shout])
    calls = wrapper_calls(schema._schema)

    result = await schema.execute("{ things { name nickname } }")

    assert result.data == {
        "things": [{"name": "A", "nickname": None}, {"name": "B", "nickname": "B"}]
    }
    assert (calls["name"], calls["nickname"]) == (2, 2)


def test_a_middleware_manager_of_unknown_shape_fails_closed() -> None:
    class Manager(MiddlewareManager):
        pass

    class Renamed:
        """graphql-core's manager, had it renamed `middlewares`."""

        def __init__(self) -> None:
            self.wrappers = ()

    assert _no_middleware(None)
    assert _no_middleware(MiddlewareManager())
    assert not _no_middleware(MiddlewareManager(Shout()))
    assert not _no_middleware(Manager())
    assert not _no_middleware(Renamed())


class ChangedSignature(StrawberryGraphQLCoreExecutionContext):
    def handle_field_error(self, raw_error: Exception, *args: Any) -> None:
        super().handle_field_error(raw_error, *args)


class OwnExecuteField(StrawberryGraphQLCoreExecutionContext):
    def execute_field(self, *args: Any) -> Any:
        return super().execute_field(*args)


@pytest.fixture
def warnings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the warnings given so far."""
    monkeypatch.setattr(internals, "_warned", set())


@pytest.mark.parametrize("executor", [ChangedSignature, OwnExecuteField])
async def test_unexpected_internals_keep_strawberrys_executor_with_one_warning(
    warnings_once: None, caplog: pytest.LogCaptureFixture, executor: type[Any]
) -> None:
    with caplog.at_level(logging.WARNING, logger="session_gateway"):
        schemas = [
            strawberry.Schema(query=Query, execution_context_class=executor) for _ in range(2)
        ]
        built = [short_path_executor(schema) for schema in schemas]

    assert built == [None, None]
    (record,) = caplog.records
    assert record.name == "session_gateway"
    assert record.getMessage().startswith("The short path for plain fields")
    assert "every field takes Strawberry's ordinary path" in record.getMessage()
    result = await schemas[0].execute("{ things { name colour } }")
    assert result.data == {
        "things": [{"name": "a", "colour": "RED"}, {"name": "b", "colour": "BLUE"}]
    }


async def test_a_renamed_definition_key_keeps_strawberrys_executor(
    warnings_once: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = PlainSchema(query=Query)
    for named in schema._schema.type_map.values():
        if isinstance(named, GraphQLObjectType):
            for field in named.fields.values():
                monkeypatch.setattr(field, "extensions", {})

    with caplog.at_level(logging.WARNING, logger="session_gateway"):
        assert short_path_executor(schema) is None

    assert "no GraphQL field carries its StrawberryField" in caplog.text


def test_the_gateway_schema_uses_the_short_path_unless_switched_off() -> None:
    from resolvers.schema import Limits, build_schema

    assert issubclass(build_schema(Limits()).execution_context_class, ShortPathExecutor)
    off = build_schema(Limits(fast_path=False)).execution_context_class
    assert off is StrawberryGraphQLCoreExecutionContext
