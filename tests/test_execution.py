"""The executor's short path for leaf fields answers exactly like Strawberry's ordinary one."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry

from resolvers.execution import GatewayExecutor, field_reads


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.type
class Thing:
    name: str
    nickname: str | None
    secret: strawberry.Private[str]

    @strawberry.field
    def colour(self) -> Colour:
        return Colour.BLUE if self.name == "b" else Colour.RED

    @strawberry.field
    def seen_at(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    @strawberry.field
    def must(self) -> str:
        return None  # type: ignore[return-value]  # a broken resolver, on purpose

    @strawberry.field
    def fails(self) -> str | None:
        raise ValueError(f"no {self.secret}")

    @strawberry.field
    def count(self) -> int:
        return 2**40  # beyond GraphQL's Int: the scalar refuses it

    @strawberry.field
    def shout(self, loud: bool = True) -> str:
        return self.name.upper() if loud else self.name

    @strawberry.field
    def twin(self) -> Thing | None:
        return Thing(name=self.name * 2, nickname=None, secret="") if self.secret else None

    @strawberry.field
    def strict_twin(self) -> Thing:
        return Thing(name=self.name, nickname=None, secret=self.secret)

    @strawberry.field
    async def later(self) -> str:
        return self.name

    @strawberry.field
    async def later_fails(self) -> str:
        raise ValueError("later")

    @strawberry.field
    def path(self, info: strawberry.Info) -> str:
        return ".".join(str(p) for p in info.path.as_list())


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
        self.execution_context_class = GatewayExecutor.for_schema(self._schema)


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
    "{ things { twin { laterFails } } }",
    "{ things { name strictTwin { later laterFails } } }",
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
        "name", "nickname", "colour", "seenAt", "must", "fails", "count", "twin", "strictTwin"
    }  # fmt: skip
    # Arguments, `info` and lists take the ordinary path.
    assert not any(id(field) in reads for field in query.fields.values())  # type: ignore[attr-defined]
