"""A repeated query text is parsed and validated once (the cache is keyed by document and rules)."""

from __future__ import annotations

from app.listing.cursor import CursorCodec
from app.upstream.upstreams import Upstreams
from resolvers.context import Context
from resolvers.schema import Limits, build_schema


async def test_repeated_queries_are_parsed_and_validated_once() -> None:
    schema = build_schema(Limits())
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
    schema = build_schema(Limits())
    upstreams = Upstreams.none()
    seen = []
    for request_id in ("r1", "r2"):
        context = Context.create(upstreams, CursorCodec(b"k"), request_id=request_id)
        result = await schema.execute("{ nope }", context_value=context)
        assert result.errors is not None
        seen.append(result.errors[0])
    assert [e.extensions["requestId"] for e in seen if e.extensions] == ["r1", "r2"]
    assert [(e.extensions or {}).get("code") for e in seen] == ["GRAPHQL_VALIDATION_FAILED"] * 2
