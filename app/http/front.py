"""What happens to a GraphQL request before Strawberry executes it, and to its answer after.

Before: a persisted document's id or APQ hash becomes its text (app/state/persisted.py), and the
response cache is asked for a stored answer (app/state/response_cache.py), both on the request as
Strawberry parsed it, after the view's Accept negotiation. After: a complete answer to a query
is stored. GatewayGraphQL (app/http/view.py) calls these; the request data travels to its
`parse_http_body` through `RESOLVED`, so the body is parsed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass

import orjson
from graphql import DocumentNode, GraphQLError, OperationType, parse
from graphql.utilities import get_operation_ast
from starlette.responses import Response
from strawberry.http import GraphQLRequestData

from app.auth.principal import Principal
from app.http.media import GRAPHQL_RESPONSE, error_response
from app.state.persisted import NOT_KEPT, PersistedDocuments, Refused
from app.state.response_cache import ResponseCache, key_of, scope_of, tags_of
from app.upstream.upstreams import Upstreams
from resolvers.engine.caching import DocumentStore

# The request data resolved here, for GatewayGraphQL.parse_http_body (None: parse as usual).
RESOLVED: ContextVar[GraphQLRequestData | None] = ContextVar("resolved_request", default=None)


@dataclass(slots=True)
class Prepared:
    """The request data to run; a cached answer instead; the cache key to store under."""

    data: GraphQLRequestData
    cached: bytes | None = None
    key: str | None = None


class Front:
    """The persisted documents and the response cache of one app (either may be off)."""

    def __init__(
        self,
        persisted: PersistedDocuments | None,
        cache: ResponseCache | None,
        documents: DocumentStore | None,
    ) -> None:
        self.persisted = persisted
        self.cache = cache
        self.documents = documents

    async def prepare(
        self,
        upstreams: Upstreams,
        headers: Mapping[str, str],
        data: GraphQLRequestData,
        principal: Principal,
        document_id: object = None,
    ) -> Prepared:
        """The document resolved (Refused when it may not run), then the cache looked up.

        `headers` are the request's (forwarded credentials are part of the cache key);
        `document_id` is the request's `documentId` (GraphQL over HTTP), if any.
        """
        if self.persisted is not None:
            data = await self.persisted.resolve(data, document_id, principal)
        prepared = Prepared(data)
        if self.cache is None or data.query is None:
            return prepared
        forwarded = [
            headers.get(name, "")
            for given in upstreams.providers.values()
            for name in given.settings.caller_headers()
        ]
        scope = scope_of(principal, forwarded)
        prepared.key = key_of(scope, data.query, data.variables, data.operation_name)
        prepared.cached = await self.cache.get(prepared.key)
        return prepared

    async def store(self, prepared: Prepared, response: Response) -> None:
        """Keep `response` if it is a complete answer to a query."""
        if self.cache is None or prepared.key is None or response.status_code != 200:
            return
        body = bytes(response.body)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        await self.store_answer(prepared, body, payload)

    async def store_answer(self, prepared: Prepared, body: bytes, payload: object) -> None:
        """Keep `body`, a 200 answer decoded as `payload`, if it is a complete answer to a query."""
        if self.cache is None or prepared.key is None or NOT_KEPT.get() is not None:
            return  # (an answer with a note on its own APQ registration is not for others)
        if not isinstance(payload, dict) or "errors" in payload or payload.get("data") is None:
            return
        if not self._is_query(prepared.data):
            return
        await self.cache.put(prepared.key, body, tags_of(payload["data"]))

    def _is_query(self, data: GraphQLRequestData) -> bool:
        query = data.query or ""
        entry = self.documents.entries.get(query) if self.documents is not None else None
        document: DocumentNode
        if entry is not None:
            document = entry.document
        else:
            try:
                document = parse(query)
            except GraphQLError:
                return False
        operation = get_operation_ast(document, data.operation_name)
        return operation is not None and operation.operation == OperationType.QUERY


def refusal(exc: Refused, media_type: str) -> Response:
    """A persisted-document refusal; under graphql-response+json a request error is a 4xx
    (GraphQL over HTTP)."""
    status = 404 if exc.status == 200 and media_type == GRAPHQL_RESPONSE else exc.status
    return error_response(status, exc.code, exc.message)
