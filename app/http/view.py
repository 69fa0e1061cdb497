"""GatewayGraphQL: Strawberry's ASGI view with the gateway's context, front and lean path."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import strawberry
from cross_web import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from app.auth import Principal
from app.auth.principal import NOBODY
from app.core.echo import clip_echoes
from app.http import request_json
from app.http.auth import wants_ide
from app.http.front import RESOLVED, Front, Prepared, refusal
from app.http.graphiql import EXAMPLES, graphiql_html
from app.http.lean import LEAN, lean
from app.http.media import (
    GRAPHQL_RESPONSE,
    SUBSCRIPTION_OVER_HTTP,
    as_graphql_response,
    error_response,
    negotiate,
    shape_problem,
)
from app.http.sse import SseEndpoint, is_event_stream
from app.listing.cursor import CursorCodec
from app.observability.metrics import Metrics
from app.observability.tracing import Tracing
from app.state.persisted import NOT_KEPT, Refused
from app.upstream import accounting, request_deadline
from app.upstream.credentials import CALLER_HEADERS
from app.upstream.upstreams import Upstreams
from resolvers.engine.caching import DocumentStore
from resolvers.types.context import Context

log = logging.getLogger("session_gateway")
# The per-operation log line of resolvers/engine/request_log.py, also written for cache hits.
_requests_log = logging.getLogger("session_gateway.requests")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class GatewayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with the gateway's per-request context."""

    def __init__(
        self,
        schema: strawberry.Schema,
        cursors: CursorCodec,
        request_timeout: float,
        metrics: Metrics,
        tracing: Tracing,
        call_budget: int | None = None,
        front: Front | None = None,
        lean: bool = False,
    ) -> None:
        # graphql-transport-ws only; the socket authenticates at connection_init
        # (app/http/websocket.py).
        super().__init__(
            schema, graphql_ide="graphiql", subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,)
        )
        self.sse: SseEndpoint | None = None  # graphql-sse streams (app/http/sse.py)
        self._cursors = cursors
        self._request_timeout = request_timeout
        self._metrics = metrics
        self._tracing = tracing
        self._call_budget = call_budget
        self.front = front
        self.documents: DocumentStore | None = getattr(schema, "documents", None)
        # The lean path for known documents (app/http/lean.py), checked once here.
        self.lean = LEAN.usable(fast_path=lean)
        # Whether Strawberry may answer a POST as a stream (multipart subscriptions); unsure
        # (its class attribute gone) counts as yes, so such requests keep going to the view.
        transports = getattr(self, "stream_transport_classes_by_protocol", None)
        self.streams_over_http = transports is None or any(p in transports for p in self.protocols)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's ASGI entry; a client that hangs up mid-body ends the request quietly."""
        try:
            if self.sse is not None and is_event_stream(scope):
                response = await self.sse(Request(scope, receive))
                try:
                    await response(scope, receive, send)
                except asyncio.CancelledError:
                    # uvicorn cuts streams still open when its shutdown grace ends
                    # (app/http/serving.py): expected, not an application error to log.
                    log.info("An event stream was cut by the server's shutdown.")
                return
            if self.lean and scope["type"] == "http" and scope["method"] == "POST":
                handed = await lean(self, scope, receive, send)
                if handed is None:
                    return  # answered
                receive = handed
            await super().__call__(scope, receive, send)
        except ClientDisconnect:
            # Nobody is left to answer: a client that hangs up is not an application error.
            log.info("Client disconnected before sending its whole request body; not answered.")

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        principal: Principal | None = getattr(request.state, "principal", None)
        http_request = request if isinstance(request, Request) else None
        context = self.context_for(
            request.headers, request.state.upstreams, principal, http_request
        )
        if isinstance(response, Response):
            response.headers["X-Request-ID"] = context.request_id
        return context

    def context_for(
        self,
        headers: Mapping[str, str],
        upstreams: Upstreams,
        principal: Principal | None,
        http_request: Request | None = None,
    ) -> Context:
        """A request's context; starts its deadline and call budget (contextvars)."""
        # The deadline travels to every upstream call of this request via a contextvar.
        request_deadline.start(self._request_timeout)
        accounting.start(self._call_budget)
        # Forwarded upstream credentials are read from the caller's headers via a contextvar.
        CALLER_HEADERS.set(headers)
        return Context.create(
            upstreams,
            self._cursors,
            principal or NOBODY,
            http_request,
            request_id_of(headers),
            self._metrics,
            self._tracing,
        )

    async def parse_http_body(self, request: Any) -> Any:
        """The request data `run` already resolved (persisted documents), else Strawberry's."""
        resolved = RESOLVED.get()
        return resolved if resolved is not None else await super().parse_http_body(request)

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Strawberry's answer, saying so when its APQ document was not registered."""
        answer = await super().process_result(request, result)
        not_kept = NOT_KEPT.get()
        if not_kept is not None:
            answer["extensions"] = {**(answer.get("extensions") or {}), "persistedQuery": not_kept}
        return answer

    def decode_json(self, data: str | bytes) -> object:
        """Request bodies and WebSocket messages decoded with orjson, as `run` already does to
        check their shape; an object naming a key twice is invalid JSON here."""
        return request_json.loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        """`decode_json` for HTTP (GET's `variables` and `extensions` too): a 400 that says
        which key was given twice, where Strawberry would say only that it is not JSON."""
        try:
            return request_json.loads(data)
        except request_json.DuplicateKey as exc:
            raise HTTPException(400, str(exc)) from exc
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, "Unable to parse request body as JSON") from exc

    def encode_json(self, data: object) -> bytes:
        """Responses encoded with orjson: several times faster on large pages."""
        return orjson.dumps(data)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL from the gateway's own files, with docs/examples.md's queries as tabs."""
        return HTMLResponse(graphiql_html(EXAMPLES))

    async def run(
        self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET
    ) -> Any:
        """Strawberry's view, with its HTTP-level refusals as GraphQL-shaped JSON."""
        if isinstance(request, WebSocket) or _wants_ide(request):
            return await super().run(request, context, root_value)
        media_type = negotiate(request.headers.get("accept"))
        if media_type is None:
            return error_response(
                406,
                "NOT_ACCEPTABLE",
                "Accept must allow application/graphql-response+json or application/json.",
            )
        body: object = None
        if request.method == "POST" and "json" in request.headers.get("content-type", ""):
            try:
                body = request_json.loads(await request.body())
            except orjson.JSONDecodeError:
                body = {}  # Strawberry names the parse error itself
            except request_json.DuplicateKey as exc:
                return error_response(400, "BAD_REQUEST", str(exc))
            problem = shape_problem(body)
            if problem is not None:
                return error_response(400, "BAD_REQUEST", problem)
        prepared = await self._prepare(request, body, media_type)
        if isinstance(prepared, Response):
            return prepared  # refused, or answered from the response cache
        token = RESOLVED.set(prepared.data if prepared is not None else None)
        try:
            response = await super().run(request, context, root_value)
        except HTTPException as exc:
            refused_type = exc.__cause__
            if (
                isinstance(refused_type, InvalidOperationTypeError)
                and refused_type.operation_type is OperationType.SUBSCRIPTION
            ):
                return error_response(400, "BAD_REQUEST", SUBSCRIPTION_OVER_HTTP)
            if request.method == "GET" and isinstance(refused_type, InvalidOperationTypeError):
                # GraphQL over HTTP: a mutation over GET is a method the operation does not allow.
                refused = error_response(405, "METHOD_NOT_ALLOWED", f"{exc.reason}; use POST.")
                refused.headers["Allow"] = "POST"
                return refused
            return error_response(exc.status_code, "BAD_REQUEST", clip_echoes(exc.reason))
        finally:
            RESOLVED.reset(token)
        if prepared is not None and prepared.key is not None and isinstance(response, Response):
            assert self.front is not None
            await self.front.store(prepared, response)
            response.headers["X-Cache"] = "MISS"
        if media_type == GRAPHQL_RESPONSE and isinstance(response, Response):
            return as_graphql_response(response)
        return response

    async def _prepare(
        self, request: Request, body: object, media_type: str
    ) -> Prepared | Response | None:
        """The persisted document resolved, the cache asked (app/http/front.py), before running."""
        if self.front is None or request.method not in ("GET", "POST"):
            return None
        try:
            data = await super().parse_http_body(self.request_adapter_class(request))
        except (HTTPException, ValueError, KeyError):
            return None  # Strawberry answers the same failure in `run`, as it always does
        if not isinstance(data, GraphQLRequestData):
            return None  # a batch: refused by Strawberry
        principal = getattr(request.state, "principal", None) or NOBODY
        document_id = (
            body.get("documentId")
            if isinstance(body, dict)
            else request.query_params.get("documentId")
        )
        try:
            prepared = await self.front.prepare(
                request.state.upstreams, request.headers, data, principal, document_id
            )
        except Refused as exc:
            return refusal(exc, media_type)
        if prepared.cached is not None:
            return self.cached(request.headers, prepared, prepared.cached, media_type, principal)
        return prepared

    def cached(
        self,
        headers: Mapping[str, str],
        prepared: Prepared,
        body: bytes,
        media_type: str,
        principal: Principal = NOBODY,
    ) -> Response:
        """A stored complete answer (so a 200 whatever the media type), logged and counted as
        an answered operation like any other, with no upstream call."""
        request_id = request_id_of(headers)
        operation = prepared.data.operation_name
        self._metrics.request(operation, "ok", 0.0, principal.identity)
        _requests_log.info(
            "graphql request",
            extra={
                "requestId": request_id,
                "operation": operation,
                "durationMs": 0.0,
                "upstreamCalls": 0,
                "outcome": "ok",
                "errorCodes": [],
                "cache": "HIT",
            },
        )
        headers = {"X-Cache": "HIT", "X-Request-ID": request_id}
        return Response(body, media_type=media_type, headers=headers)


def request_id_of(headers: Mapping[str, str]) -> str:
    """The caller's X-Request-ID if it is a sane one, else a new id."""
    given = headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _wants_ide(request: Request) -> bool:
    return wants_ide(request.method, request.headers.get("accept", ""), request.query_params)
