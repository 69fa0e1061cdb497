"""A repeated query text is parsed and validated once (the cache is keyed by document and rules)."""

from __future__ import annotations

import pytest
from graphql.validation.rules import overlapping_fields_can_be_merged

from app.listing.cursor import CursorCodec
from app.upstream.upstreams import Upstreams
from resolvers.engine.document_limits import DocumentLimits
from resolvers.schema import GatewaySchema, Limits, build_schema
from resolvers.types.context import Context
from tests.support.mode import limits


async def test_repeated_queries_are_parsed_and_validated_once() -> None:
    schema = build_schema(limits())
    assert schema.documents is not None
    upstreams = Upstreams.none()
    query = "query Cached($n: Int) { sessions(first: $n) { totalCount } providers { name } }"

    for size in (1, 2, 3):
        context = Context.create(upstreams, CursorCodec(b"k"))
        result = await schema.execute(query, variable_values={"n": size}, context_value=context)
        assert result.errors is None
    assert (schema.documents.parses, schema.documents.validations) == (1, 1)

    context = Context.create(upstreams, CursorCodec(b"k"))
    result = await schema.execute("{ providers { name } }", context_value=context)
    assert result.errors is None
    assert (schema.documents.parses, schema.documents.validations) == (2, 2)


async def test_cached_validation_errors_name_each_request() -> None:
    schema = build_schema(limits())
    upstreams = Upstreams.none()
    seen = []
    for request_id in ("r1", "r2"):
        context = Context.create(upstreams, CursorCodec(b"k"), request_id=request_id)
        result = await schema.execute("{ nope }", context_value=context)
        assert result.errors is not None
        seen.append(result.errors[0])
    assert [e.extensions["requestId"] for e in seen if e.extensions] == ["r1", "r2"]
    assert [(e.extensions or {}).get("code") for e in seen] == ["GRAPHQL_VALIDATION_FAILED"] * 2


async def test_strawberrys_validation_is_cached_with_the_gateways_rules() -> None:
    schema = build_schema(Limits(fast_path=False))

    await _cached_and_complete(schema)


async def _cached_and_complete(schema: GatewaySchema) -> None:
    """Repeated documents validate once; errors, shape limits and aborts are as on the fast path."""
    assert schema.documents is not None
    upstreams = Upstreams.none()

    def context() -> Context:
        return Context.create(upstreams, CursorCodec(b"k"))

    for _ in range(2):
        ok = await schema.execute("{ providers { name } }", context_value=context())
        bad = await schema.execute("{ nope }", context_value=context())
        assert ok.errors is None
        assert bad.errors is not None
        assert (bad.errors[0].extensions or {}).get("code") == "GRAPHQL_VALIDATION_FAILED"
    assert schema.documents.validations == 2

    aliases = " ".join(f"a{i}: providers {{ name }}" for i in range(31))
    over = await schema.execute(f"{{ {aliases} }}", context_value=context())
    assert over.errors is not None
    assert (over.errors[0].extensions or {}).get("limit") == "maxAliases"
    assert schema.documents.validations == 2  # refused before validation

    ambiguous = await schema.execute(
        "query A { providers { name } } query B { providers { name } }", context_value=context()
    )
    assert ambiguous.errors is not None
    assert ambiguous.errors[0].message.startswith("Must provide operation name")


@pytest.mark.parametrize("fast_path", [True, False])
async def test_a_validation_that_gives_up_says_why(
    monkeypatch: pytest.MonkeyPatch, fast_path: bool
) -> None:
    # build_schema sets graphql-core's budget for the whole process: put it back afterwards.
    monkeypatch.setattr(
        overlapping_fields_can_be_merged,
        "MAX_COMPLEXITY_BUDGET",
        overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET,
    )
    shape = DocumentLimits(max_field_comparisons=1000)
    schema = build_schema(Limits(shape=shape, fast_path=fast_path))
    query = "{ " + "providers { name provider } " * 20 + "}"

    for _ in range(2):  # the second answer is the cached one
        context = Context.create(Upstreams.none(), CursorCodec(b"k"))
        result = await schema.execute(query, context_value=context)
        assert result.data is None
        assert result.errors is not None
        assert [e.extensions for e in result.errors] == [
            {"code": "QUERY_TOO_COMPLEX", "limit": "maxFieldComparisons", "max": 1000}
        ]
