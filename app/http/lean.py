"""The lean path: `POST /graphql` with a JSON body and a known document, in plain ASGI.

Strawberry's view makes a Starlette `Request`, a sub-response, a request adapter, parses the
body through its adapter (twice, with the persisted-document front), then wraps the answer in a
Starlette `Response`; under application/graphql-response+json the view's answer was decoded
and encoded once more. For the one request shape that dominates a gateway's traffic, a query
or mutation posted as JSON whose document the document cache (resolvers/engine/caching.py) already
holds, validated and without errors, this module does the same work directly: one orjson
decode, the persisted-document and response-cache front (app/http/front.py), the context the view
would make, `schema.execute` (so parsing hits the cache, and the extensions, limits, logging,
metrics and error masking are the ones every request gets), one orjson encode and two ASGI
messages. The middleware in front of the view (CORS, body limit, headers, authentication, rate
limits, admission) is unchanged.

Anything else is handed, with its body replayed, to the view: GET, GraphiQL, multipart, a
stream asked for in Accept (when the view can stream over HTTP), a batch, APQ and `documentId`
requests, a body the view would refuse (one naming a key twice too: app/http/request_json.py), and
the first request of each document (which the view parses, validates and caches).
So every error the lean path could meet before execution is written by the view, as before.
`GATEWAY_FAST_PATH=false` turns the lean path off with the other shortcuts, and so does a
Strawberry whose view or request data are not what `LEAN` checks (resolvers/engine/internals.py).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import orjson
import strawberry
from graphql import OperationType
from graphql.utilities import get_operation_ast
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send
from strawberry import http as strawberry_http
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData, process_result
from strawberry.types.graphql import OperationType as Operation

from app.auth.principal import NOBODY
from app.http import request_json
from app.http.front import Prepared, refusal
from app.http.media import GRAPHQL_RESPONSE, JSON, negotiate, request_error
from app.state.persisted import Refused
from resolvers.engine.caching import DocumentStore
from resolvers.engine.internals import seam, signature_problems

if TYPE_CHECKING:
    from app.http.view import GatewayGraphQL

_RUNS = (OperationType.QUERY, OperationType.MUTATION)
_ALLOWED = (Operation.QUERY, Operation.MUTATION)  # the same two, as Strawberry names them
# What the view may stream in, if it has a stream transport (this gateway's view has none: urql's
# and GraphiQL's Accept list them for every operation, and get one JSON answer either way).
_STREAMS = ("multipart/mixed", "text/event-stream")

# What the lean path does in the view's stead, by parameter names: the view's answer is
# `process_result(result)`, and the request runs through `schema.execute`.
_VIEW_METHODS = {"process_result": ("self", "request", "result")}
_SCHEMA_METHODS = {
    "execute": (
        "self", "query", "variable_values", "context_value", "root_value", "operation_name",
        "allowed_operation_types", "operation_extensions",
    ),
}  # fmt: skip
_REQUEST_FIELDS = ("query", "variables", "operation_name", "extensions", "protocol")


def _problems() -> list[str]:
    """How Strawberry's view and request data differ from what the lean path stands in for."""
    problems = signature_problems(strawberry_http, {"process_result": ("result",)})
    problems += signature_problems(GraphQL, _VIEW_METHODS)
    problems += signature_problems(strawberry.Schema, _SCHEMA_METHODS)
    fields = tuple(f.name for f in dataclasses.fields(GraphQLRequestData))
    if fields != _REQUEST_FIELDS:
        problems.append(f"GraphQLRequestData has the fields {fields}")
    return problems


LEAN = seam(
    "The lean POST path (app/http/lean.py)",
    "every request takes Strawberry's view",
    _problems,
)


async def lean(view: GatewayGraphQL, scope: Scope, receive: Receive, send: Send) -> Receive | None:
    """Answer a POST on the lean path (None), or hand it back: the `receive` the view reads
    the same request from."""
    documents = view.documents
    headers = Headers(scope=scope)
    accept = headers.get("accept")
    content_type = headers.get("content-type", "")
    if (
        documents is None
        or content_type.partition(";")[0].strip().lower() != JSON
        or (view.streams_over_http and accept is not None and any(s in accept for s in _STREAMS))
    ):
        return receive
    media_type = negotiate(accept)
    if media_type is None:
        return receive
    body = await _read_body(receive)
    try:
        decoded = request_json.loads(body)
    except (orjson.JSONDecodeError, request_json.DuplicateKey):
        return _replay(body, receive)  # the view words the refusal
    data = _known(decoded, documents)
    if data is None:
        return _replay(body, receive)

    state = scope["state"]
    principal = state.get("principal") or NOBODY
    prepared = Prepared(data)
    if view.front is not None:
        try:
            prepared = await view.front.prepare(state["upstreams"], headers, data, principal)
        except Refused as exc:
            await refusal(exc, media_type)(scope, receive, send)
            return None
        if prepared.cached is not None:
            hit = view.cached(headers, prepared, prepared.cached, media_type, principal)
            await hit(scope, receive, send)
            return None

    context = view.context_for(headers, state["upstreams"], principal)
    result = await view.schema.execute(
        data.query,
        variable_values=data.variables,
        context_value=context,
        operation_name=data.operation_name,
        allowed_operation_types=_ALLOWED,
        operation_extensions=data.extensions,
    )
    payload: dict[str, Any] = dict(process_result(result))  # what the view's process_result does
    status = 200
    answer = orjson.dumps(payload)
    if prepared.key is not None and view.front is not None:
        await view.front.store_answer(prepared, answer, payload)
    if media_type == GRAPHQL_RESPONSE and request_error(payload):
        del payload["data"]
        status = 400
        answer = orjson.dumps(payload)
    response_headers = [
        (b"content-length", str(len(answer)).encode()),
        (b"content-type", media_type.encode()),
        (b"x-request-id", context.request_id.encode()),
    ]
    if prepared.key is not None:
        response_headers.append((b"x-cache", b"MISS"))
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": answer})
    return None


def _known(body: object, documents: DocumentStore) -> GraphQLRequestData | None:
    """The request data of a query or mutation whose document passed validation before."""
    if type(body) is not dict or "documentId" in body:
        return None
    query = body.get("query")
    variables = body.get("variables")
    extensions = body.get("extensions")
    name = body.get("operationName")
    if (
        type(query) is not str
        or not (variables is None or type(variables) is dict)
        or not (
            extensions is None or (type(extensions) is dict and "persistedQuery" not in extensions)
        )
        or not (name is None or type(name) is str)
    ):
        return None
    entry = documents.entries.get(query)
    if entry is None or entry.errors is None or entry.errors:
        return None  # new, or refused: the view parses, validates and answers
    if name is None and entry.operations > 1:
        return None  # the view names the ambiguity
    operation = get_operation_ast(entry.document, name)
    if operation is None or operation.operation not in _RUNS:
        return None
    return GraphQLRequestData(
        query=query,
        variables=variables,
        operation_name=name,
        extensions=extensions,
        protocol="http",
    )


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (ClientDisconnect if the client hangs up first, as Starlette)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read given back first."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
