"""DocumentCache: parse each distinct query text once, so validation results cache too."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension


class DocumentCache(SchemaExtension):
    """An LRU of parsed documents by query text, shared by the requests of one schema.

    Unlike Strawberry's ParserCache, a syntax error still goes through Strawberry's own
    parsing, so it reaches GatewayErrors and gets its code.
    """

    def __init__(self, cache: OrderedDict[str, DocumentNode], maxsize: int) -> None:
        self._cache = cache
        self._maxsize = maxsize

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query is not None and context.graphql_document is None:
            cached = self._cache.get(query)
            if cached is not None:
                self._cache.move_to_end(query)
                context.graphql_document = cached
        yield
        if query is not None and context.graphql_document is not None:
            self._cache[query] = context.graphql_document
            if len(self._cache) > self._maxsize:
                self._cache.popitem(last=False)
