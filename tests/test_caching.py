"""A repeated query text is parsed and validated once (the cache is keyed by document and rules)."""

from __future__ import annotations

from typing import Any

from strawberry.extensions.validation_cache import _get_validate_cache

from app.listing.cursor import CursorCodec
from app.upstream import Upstreams
from app.upstream.health import ProviderHealth
from app.upstream.records import Provider
from resolvers.context import Context
from resolvers.schema import DOCUMENT_CACHE_SIZE, Limits, build_schema


async def test_repeated_queries_hit_the_validation_cache() -> None:
    schema = build_schema(Limits())
    upstreams = Upstreams(None, None, None, None, {p: ProviderHealth() for p in Provider})
    query = "query Cached($n: Int) { sessions(first: $n) { totalCount } providers { name } }"
    cache: Any = _get_validate_cache(DOCUMENT_CACHE_SIZE)  # an lru_cache wrapper
    before = cache.cache_info()

    for size in (1, 2, 3):
        context = Context.create(upstreams, CursorCodec(b"k"))
        result = await schema.execute(query, variable_values={"n": size}, context_value=context)
        assert result.errors is None

    after = cache.cache_info()
    assert after.misses - before.misses <= 1
    assert after.hits - before.hits >= 2
